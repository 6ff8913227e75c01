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

//#include bilinear_tv

// load_a is deform_sample.wgsl's value of channel ch at pixel r.
fn load_a(r: u32, ch: u32) -> f32 {
    return sample_tv(r, ch, p.n / p.width, p.width, p.k);
}

//#include linear_out

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
