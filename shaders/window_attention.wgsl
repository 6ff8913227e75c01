// window_attention: the attention core of model.OpWindowAttention (mmseg ShiftWindowMSA); the
// qkv and output projections run as linear.wgsl before and after it. Input qkv [h·w, 3c] is
// the qkv projection of every real token; the zero-padded tokens of the padded grid
// (hp × wp, window multiples) have k, v = the qkv bias (their input is zero) and are not
// masked. For a real query token at (sy, sx), its place in the shifted grid is
// ((sy − shift) mod hp, (sx − shift) mod wp); keys are the win² tokens of its window.
// Score = (q·scale)·k + bias[g, a, b] − 100 where the regions of a and b differ (shift > 0),
// softmax in two passes (max, then exp-sum and weighted v). One invocation per
// (real token, head), head dim ≤ 64, 2-D grid. Output o [h·w, c] before the projection.

struct Params {
    h: u32,
    w: u32,
    c: u32,
    heads: u32,
    win: u32,
    shift: u32,
    hp: u32,
    wp: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> qkv_bias: array<f32>;
@group(0) @binding(3) var<storage, read> rel_bias: array<f32>; // (heads, N, N) gathered
@group(0) @binding(4) var<storage, read_write> o: array<f32>;

fn region(v: u32, size: u32) -> u32 {
    if (v < size - p.win) {
        return 0u;
    }
    if (v < size - p.shift) {
        return 1u;
    }
    return 2u;
}

// key_base returns the qkv offset of token (r, cc) of the shifted padded grid, or −1 for padding.
fn key_base(r: u32, cc: u32) -> i32 {
    let sy = (r + p.shift) % p.hp;
    let sx = (cc + p.shift) % p.wp;
    if (sy < p.h && sx < p.w) {
        return i32((sy * p.w + sx) * 3u * p.c);
    }
    return -1;
}

fn qk(qo: u32, kb: i32, ko: u32, d: u32) -> f32 {
    var s = 0.0;
    if (kb >= 0) {
        for (var j = 0u; j < d; j++) {
            s = s + (qkv[qo + j] * p.scale) * qkv[u32(kb) + ko + j];
        }
    } else {
        for (var j = 0u; j < d; j++) {
            s = s + (qkv[qo + j] * p.scale) * qkv_bias[ko + j];
        }
    }
    return s;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i >= p.h * p.w * p.heads) {
        return;
    }
    let g = i % p.heads;
    let tok = i / p.heads;
    let sy = tok / p.w;
    let sx = tok % p.w;
    let r = (sy + p.hp - p.shift) % p.hp;
    let cc = (sx + p.wp - p.shift) % p.wp;
    let n = p.win * p.win;
    let a = (r % p.win) * p.win + cc % p.win;
    let r0 = r - r % p.win;
    let c0 = cc - cc % p.win;
    let d = p.c / p.heads;
    let qo = tok * 3u * p.c + g * d;
    let ko = p.c + g * d;
    let vo = 2u * p.c + g * d;
    let ra = 3u * region(r, p.hp) + region(cc, p.wp);
    let bo = (g * n + a) * n;

    var mx = -3.0e38;
    for (var b = 0u; b < n; b++) {
        let rb = r0 + b / p.win;
        let cb = c0 + b % p.win;
        var s = qk(qo, key_base(rb, cb), ko, d) + rel_bias[bo + b];
        if (p.shift > 0u && ra != 3u * region(rb, p.hp) + region(cb, p.wp)) {
            s = s - 100.0;
        }
        mx = max(mx, s);
    }
    var acc: array<f32, 64>;
    for (var j = 0u; j < d; j++) {
        acc[j] = 0.0;
    }
    var sum = 0.0;
    for (var b = 0u; b < n; b++) {
        let rb = r0 + b / p.win;
        let cb = c0 + b % p.win;
        let kb = key_base(rb, cb);
        var s = qk(qo, kb, ko, d) + rel_bias[bo + b];
        if (p.shift > 0u && ra != 3u * region(rb, p.hp) + region(cb, p.wp)) {
            s = s - 100.0;
        }
        let e = exp(s - mx);
        sum = sum + e;
        if (kb >= 0) {
            for (var j = 0u; j < d; j++) {
                acc[j] = acc[j] + e * qkv[u32(kb) + vo + j];
            }
        } else {
            for (var j = 0u; j < d; j++) {
                acc[j] = acc[j] + e * qkv_bias[vo + j];
            }
        }
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j < d; j++) {
        o[tok * p.c + g * d + j] = acc[j] * inv;
    }
}
