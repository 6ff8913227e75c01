// offset_coords: model.OpOffsetCoords, the DeMT Offset module's p = p_0 + p_n + p_conv on
// [h, w, 18]: channel k < 9 gets (y + 1) + [-1,-1,-1,0,0,0,1,1,1][k], channel 9 + k gets
// (x + 1) + [-1,0,1,-1,0,1,-1,0,1][k]. One invocation per element, 2-D grid.

struct Params {
    w: u32,
    total: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    let ch = i % 18u;
    let pix = i / 18u;
    let px = pix % p.w;
    let py = pix / p.w;
    let k = ch % 9u;
    var base: f32;
    var d: f32;
    if (ch < 9u) {
        base = f32(py + 1u);
        d = f32(k / 3u) - 1.0;
    } else {
        base = f32(px + 1u);
        d = f32(k % 3u) - 1.0;
    }
    y[i] = (base + d) + x[i];
}
