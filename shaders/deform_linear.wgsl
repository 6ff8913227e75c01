// deform_linear: model.OpDeformLinear, linear.wgsl with the deformable sampling of
// deform_sample.wgsl fused into the loads of x: x is the map [n/width, width, k] being sampled
// and off its offsets [n, 2k]; the sampled map is never stored. Variant F16 as linear.wgsl.

struct Params {
    n: u32,
    k: u32,
    m: u32,
    flags: u32, // bit 0 bias, bit 1 scale/shift, bit 2 residual
    act1: u32,
    act2: u32,
    out_scale: f32, // 0 means 1
    width: u32, // map width
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
//#include gemm_weights
@group(0) @binding(7) var<storage, read> off: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;

fn at(iy: i32, ix: i32, ch: u32) -> f32 {
    if (iy < 0 || ix < 0 || iy >= i32(p.n / p.width) || ix >= i32(p.width)) {
        return 0.0;
    }
    return x[(u32(iy) * p.width + u32(ix)) * p.k + ch];
}

// load_a is deform_sample.wgsl's value of channel ch at pixel r.
fn load_a(r: u32, ch: u32) -> f32 {
    let px = f32(r % p.width) + off[r * 2u * p.k + 2u * ch + 1u];
    let py = f32(r / p.width) + off[r * 2u * p.k + 2u * ch];
    if (py <= -1.0 || f32(p.n / p.width) <= py || px <= -1.0 || f32(p.width) <= px) {
        return 0.0;
    }
    let fy = floor(py);
    let fx = floor(px);
    let y0 = i32(fy);
    let x0 = i32(fx);
    let ly = py - fy;
    let lx = px - fx;
    let hy = 1.0 - ly;
    let hx = 1.0 - lx;
    return hy * hx * at(y0, x0, ch) + hy * lx * at(y0, x0 + 1, ch) + ly * hx * at(y0 + 1, x0, ch) +
        ly * lx * at(y0 + 1, x0 + 1, ch);
}

fn load_b(c: u32, q: u32) -> f32 {
    return load_w(c * p.k + q);
}

fn store(r: u32, c: u32, v: f32) {
    y[r * p.m + c] = epilogue(v, r * p.m + c, c);
}

//#include gemm_tile

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let n = p.n;
    let m = p.m;
    let kd = p.k;
//#include gemm_main
}
