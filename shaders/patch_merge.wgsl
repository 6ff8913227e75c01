// patch_merge: model.OpPatchMerge, nn.Unfold(2, stride 2) on [ih, iw, c] with zero padding of
// odd sides → [oh, ow, 4c], output channel ch·4 + kh·2 + kw. One invocation per output
// element, 2-D grid.

struct Params {
    ih: u32,
    iw: u32,
    c: u32,
    ow: u32,
    total: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    let oc = 4u * p.c;
    let j = i % oc;
    let pix = i / oc;
    let ox = pix % p.ow;
    let oy = pix / p.ow;
    let k = j % 4u;
    let ch = j / 4u;
    let iy = 2u * oy + k / 2u;
    let ix = 2u * ox + k % 2u;
    var v = 0.0;
    if (iy < p.ih && ix < p.iw) {
        v = x[(iy * p.iw + ix) * p.c + ch];
    }
    y[i] = v;
}
