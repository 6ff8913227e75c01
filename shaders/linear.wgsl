// linear: model.OpLinear. y[r, j] = epilogue(Σ_q x[r, q]·w[j, q] + bias[j]) for r < n tokens,
// j < m output channels, q < k input channels (w in PyTorch (m, k) layout). Each workgroup of
// 64 invocations computes a 64×64 output tile; each invocation an 8×8 block of it (rows ty+8i,
// columns tx+8j), from 64×16 tiles of x and w staged in workgroup memory (8 KiB).
// Variant F16: w holds f16 pairs packed in u32 (element i in half i%2 of word i/2).
// Variant DEFORM: the deformable sampling of deform_sample.wgsl fused into the loads of x:
// x is the map [n/width, width, k] being sampled and off its offsets [n, 2k]; the sampled
// map is never stored.

struct Params {
    n: u32,
    k: u32,
    m: u32,
    flags: u32, // bit 0 bias, bit 1 scale/shift, bit 2 residual
    act1: u32,
    act2: u32,
    out_scale: f32, // 0 means 1
    width: u32, // map width (DEFORM only)
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
//#if DEFORM
@group(0) @binding(7) var<storage, read> off: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;

fn at(iy: i32, ix: i32, ch: u32) -> f32 {
    if (iy < 0 || ix < 0 || iy >= i32(p.n / p.width) || ix >= i32(p.width)) {
        return 0.0;
    }
    return x[(u32(iy) * p.width + u32(ix)) * p.k + ch];
}

// load_x is deform_sample.wgsl's value of channel ch at pixel r.
fn load_x(r: u32, ch: u32) -> f32 {
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
//#else
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

fn load_x(r: u32, q: u32) -> f32 {
    return x[r * p.k + q];
}
//#endif

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

var<workgroup> xs: array<f32, 1024>; // [TK][TILE]
var<workgroup> ws: array<f32, 1024>; // [TK][TILE]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let tx = li % 8u;
    let ty = li / 8u;
    var acc: array<f32, 64>;
    for (var i = 0u; i < 64u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        for (var t = 0u; t < 16u; t++) {
            let e = li + t * 64u;
            let r = e / TK;
            let q = k0 + e % TK;
            var xv = 0.0;
            if (row0 + r < p.n && q < p.k) {
                xv = load_x(row0 + r, q);
            }
            xs[(e % TK) * TILE + r] = xv;
            var wv = 0.0;
            if (col0 + r < p.m && q < p.k) {
                wv = load_w((col0 + r) * p.k + q);
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
        if (r >= p.n) {
            break;
        }
        for (var j = 0u; j < 8u; j++) {
            let c = col0 + tx + 8u * j;
            if (c < p.m) {
                y[r * p.m + c] = epilogue(acc[i * 8u + j], r * p.m + c, c);
            }
        }
    }
}
