// resize: model.OpResize, PyTorch bilinear interpolation (align_corners=False) of a
// channels-last map. The per-axis taps (i0, i1, λ0, λ1) are computed on the host in float32
// exactly as PyTorch does and passed in taps: output rows first, then output columns.
// One invocation per output element, 2-D grid.

struct Params {
    ih: u32,
    iw: u32,
    c: u32,
    oh: u32,
    ow: u32,
    total: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> taps: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    let ch = i % p.c;
    let pix = i / p.c;
    let ox = pix % p.ow;
    let oy = pix / p.ow;
    let ty = 4u * oy;
    let tx = 4u * (p.oh + ox);
    let y0 = u32(taps[ty]);
    let y1 = u32(taps[ty + 1u]);
    let x0 = u32(taps[tx]);
    let x1 = u32(taps[tx + 1u]);
    let a = x[(y0 * p.iw + x0) * p.c + ch];
    let b = x[(y0 * p.iw + x1) * p.c + ch];
    let d = x[(y1 * p.iw + x0) * p.c + ch];
    let e = x[(y1 * p.iw + x1) * p.c + ch];
    y[i] = taps[ty + 2u] * (taps[tx + 2u] * a + taps[tx + 3u] * b) +
        taps[ty + 3u] * (taps[tx + 2u] * d + taps[tx + 3u] * e);
}
