// conv2d: model.OpConv2D on channels-last maps as an implicit GEMM. For group g = workgroup z,
// y[pix, g·Cout/G + j] = epilogue(Σ_{ky,kx,ci} x[iy, ix, g·Cin/G + ci]·w[g·Cout/G + j, ky, kx, ci]),
// iy = oy·stride − pad_t + ky, ix = ox·stride − pad_l + kx, zero outside the input. The weight is
// re-laid out to (Cout, KH, KW, Cin/G). Tiling as in linear.wgsl: 64 invocations per workgroup,
// 64 pixels × 64 output channels per tile, 8×8 per invocation.
// Variant F16: w holds f16 pairs packed in u32.

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
//#if F16
@group(0) @binding(2) var<storage, read> w: array<u32>;
fn load_w(i: u32) -> f32 {
    let v = unpack2x16float(w[i >> 1u]);
    return select(v.x, v.y, (i & 1u) == 1u);
}
//#else
@group(0) @binding(2) var<storage, read> w: array<f32>;
fn load_w(i: u32) -> f32 {
    return w[i];
}
//#endif
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<storage, read> shift: array<f32>;
@group(0) @binding(6) var<storage, read> residual: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

//#include epilogue

// epilogue is model.Op's Act2(Act1((acc + bias)·outScale)·scale + shift + residual) for
// output element idx of channel ch.
fn epilogue(acc: f32, idx: u32, ch: u32) -> f32 {
    var v = acc;
    if ((p.flags & 1u) != 0u) {
        v = v + bias[ch];
    }
    if (p.out_scale != 0.0) {
        v = v * p.out_scale;
    }
    v = act(v, p.act1);
    if ((p.flags & 2u) != 0u) {
        v = v * scale[ch] + shift[ch];
    }
    if ((p.flags & 4u) != 0u) {
        v = v + residual[idx];
    }
    return act(v, p.act2);
}

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> xs: array<f32, 1024>; // [TK][TILE] patches
var<workgroup> ws: array<f32, 1024>; // [TK][TILE]

// im2col returns element q of the im2col row of output pixel pix in group g (0 outside the input).
fn im2col(pix: u32, q: u32, g: u32, cing: u32) -> f32 {
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

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = wg.z;
    let cing = p.ic / p.groups;
    let coutg = p.oc / p.groups;
    let kp = p.kh * p.kw * cing;
    let n = p.oh * p.ow;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let tx = li % 8u;
    let ty = li / 8u;
    var acc: array<f32, 64>;
    for (var i = 0u; i < 64u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < kp; k0 += TK) {
        for (var t = 0u; t < 16u; t++) {
            let e = li + t * 64u;
            let r = e / TK;
            let q = k0 + e % TK;
            var xv = 0.0;
            if (row0 + r < n && q < kp) {
                xv = im2col(row0 + r, q, g, cing);
            }
            xs[(e % TK) * TILE + r] = xv;
            var wv = 0.0;
            if (col0 + r < coutg && q < kp) {
                wv = load_w((g * coutg + col0 + r) * kp + q);
            }
            ws[(e % TK) * TILE + r] = wv;
        }
        workgroupBarrier();
        for (var q = 0u; q < TK; q++) {
            var a: array<f32, 8>;
            var b: array<f32, 8>;
            for (var i = 0u; i < 8u; i++) {
                a[i] = xs[q * TILE + ty + 8u * i];
                b[i] = ws[q * TILE + tx + 8u * i];
            }
            for (var i = 0u; i < 8u; i++) {
                for (var j = 0u; j < 8u; j++) {
                    acc[i * 8u + j] = acc[i * 8u + j] + a[i] * b[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let r = row0 + ty + 8u * i;
        if (r >= n) {
            break;
        }
        for (var j = 0u; j < 8u; j++) {
            let c = col0 + tx + 8u * j;
            if (c < coutg) {
                let ch = g * coutg + c;
                y[r * p.oc + ch] = epilogue(acc[i * 8u + j], r * p.oc + ch, ch);
            }
        }
    }
}
