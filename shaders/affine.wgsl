// affine: model.OpAffine, elementwise y = Act2(Act1(x)·scale[c] + shift[c] + residual), one
// invocation per element, 64 per workgroup on a 2-D grid (index = (wy·nx + wx)·64 + lane).

struct Params {
    total: u32,
    c: u32,
    flags: u32, // bit 2 residual
    act1: u32,
    act2: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

//#include epilogue

//#include elementwise_main
    let ch = i % p.c;
    var v = act(x[i], p.act1) * scale[ch] + shift[ch];
    if ((p.flags & 4u) != 0u) {
        v = v + residual[i];
    }
    y[i] = act(v, p.act2);
}
