// linear: model.OpLinear. y[r, j] = epilogue(Σ_q x[r, q]·w[j, q] + bias[j]) for r < n tokens,
// j < m output channels, q < k input channels (w in PyTorch (m, k) layout), tiled as in
// gemm_tile.wgsli. Variant F16: w holds f16 pairs packed in u32.

struct Params {
    n: u32,
    k: u32,
    m: u32,
    flags: u32, // bit 0 bias, bit 1 scale/shift, bit 2 residual
    act1: u32,
    act2: u32,
    out_scale: f32, // 0 means 1
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
//#include gemm_weights
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

fn load_a(r: u32, q: u32) -> f32 {
    return x[r * p.k + q];
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
