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

// ---- shared epilogue (identical text in linear.wgsl, conv2d.wgsl, affine.wgsl; a test checks) ----
// erf_f32 is erf in float32 (abs error < 2e-7): Maclaurin series to x^19 for |x| < 0.8,
// 1 − erfc (Numerical Recipes' Chebyshev erfc, relative error < 1.2e-7) above.
fn erf_f32(a: f32) -> f32 {
    let z = abs(a);
    if (z < 0.8) {
        let x2 = a * a;
        var s = -1.0 / (362880.0 * 19.0);
        s = s * x2 + 1.0 / (40320.0 * 17.0);
        s = s * x2 - 1.0 / (5040.0 * 15.0);
        s = s * x2 + 1.0 / (720.0 * 13.0);
        s = s * x2 - 1.0 / (120.0 * 11.0);
        s = s * x2 + 1.0 / (24.0 * 9.0);
        s = s * x2 - 1.0 / (6.0 * 7.0);
        s = s * x2 + 1.0 / (2.0 * 5.0);
        s = s * x2 - 1.0 / 3.0;
        s = s * x2 + 1.0;
        return a * s * 1.1283791670955126;
    }
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    let e = 1.0 - r;
    return select(e, -e, a < 0.0);
}

// act applies activation code k: 0 none, 1 ReLU, 2 GELU (exact erf form), as model.Act.
fn act(v: f32, k: u32) -> f32 {
    if (k == 1u) {
        return max(v, 0.0);
    }
    if (k == 2u) {
        return 0.5 * v * (1.0 + erf_f32(v * 0.70710678118654752));
    }
    return v;
}
// ---- end of shared epilogue ----

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i >= p.total) {
        return;
    }
    let ch = i % p.c;
    var v = act(x[i], p.act1) * scale[ch] + shift[ch];
    if ((p.flags & 4u) != 0u) {
        v = v + residual[i];
    }
    y[i] = act(v, p.act2);
}
