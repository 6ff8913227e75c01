// deform_sample: model.OpDeformSample. S[y, x, c] = bilinear_tv(x[:, :, c], y + O[y, x, 2c],
// x + O[y, x, 2c + 1]) with torchvision's rule (zero outside (-1, h) × (-1, w), corners outside
// the map count zero). One invocation per output element, 2-D grid.

struct Params {
    h: u32,
    w: u32,
    c: u32,
    total: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> off: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

//#include bilinear_tv

//#include elementwise_main
    y[i] = sample_tv(i / p.c, i % p.c, p.h, p.w, p.c);
}
