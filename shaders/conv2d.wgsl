// conv2d: model.OpConv2D on channels-last maps as an implicit GEMM. For group g = workgroup z,
// y[pix, g·Cout/G + j] = epilogue(Σ_{ky,kx,ci} x[iy, ix, g·Cin/G + ci]·w[g·Cout/G + j, ky, kx, ci]),
// iy = oy·stride − pad_t + ky, ix = ox·stride − pad_l + kx, zero outside the input. The weight is
// re-laid out to (Cout, KH, KW, Cin/G). Tiled as in gemm_tile.wgsli: 64 pixels × 64 output
// channels of group g per workgroup. Variant F16: w holds f16 pairs packed in u32.

struct Params {
    ih: u32,
    iw: u32,
    ic: u32,
    oh: u32,
    ow: u32,
    oc: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_t: i32,
    pad_l: i32,
    groups: u32,
    flags: u32, // bit 0 bias, bit 1 scale/shift, bit 2 residual
    act1: u32,
    act2: u32,
    out_scale: f32, // 0 means 1
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
//#include gemm_weights
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

// The group of this workgroup, its input and output channels, and the im2col row length.
var<private> g: u32;
var<private> cing: u32;
var<private> coutg: u32;
var<private> kp: u32;

// load_a is element q of the im2col row of output pixel pix in group g (0 outside the input).
fn load_a(pix: u32, q: u32) -> f32 {
    let ci = q % cing;
    let t = q / cing;
    let kx = t % p.kw;
    let ky = t / p.kw;
    let oy = pix / p.ow;
    let ox = pix % p.ow;
    let iy = i32(oy * p.stride + ky) - p.pad_t;
    let ix = i32(ox * p.stride + kx) - p.pad_l;
    if (iy < 0 || ix < 0 || iy >= i32(p.ih) || ix >= i32(p.iw)) {
        return 0.0;
    }
    return x[(u32(iy) * p.iw + u32(ix)) * p.ic + g * cing + ci];
}

fn load_b(c: u32, q: u32) -> f32 {
    return load_w((g * coutg + c) * kp + q);
}

fn store(r: u32, c: u32, v: f32) {
    let ch = g * coutg + c;
    y[r * p.oc + ch] = epilogue(v, r * p.oc + ch, ch);
}

//#include gemm_tile

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    g = wg.z;
    cing = p.ic / p.groups;
    coutg = p.oc / p.groups;
    kp = p.kh * p.kw * cing;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let n = p.oh * p.ow;
    let m = p.oc / p.groups; // coutg and kp again, from the uniform Params: the loop bounds
    let kd = p.kh * p.kw * (p.ic / p.groups); // must be uniform for workgroupBarrier
//#include gemm_main
}
