// task_attention: model.OpTaskAttention. For pixel p and head g: a = softmax over the T ≤ 8
// tasks of q[p, g]·k[t·hw + p, g] (q pre-scaled), y[p, g] = Σ_t a_t·v[t·hw + p, g], head
// slices of e/heads channels. One invocation per (pixel, head), 2-D grid.

struct Params {
    hw: u32,
    t: u32,
    e: u32,
    heads: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i >= p.hw * p.heads) {
        return;
    }
    let g = i % p.heads;
    let px = i / p.heads;
    let d = p.e / p.heads;
    let qo = px * p.e + g * d;
    var logit: array<f32, 8>;
    var mx = -3.0e38;
    for (var t = 0u; t < p.t; t++) {
        let ko = (t * p.hw + px) * p.e + g * d;
        var s = 0.0;
        for (var j = 0u; j < d; j++) {
            s = s + q[qo + j] * k[ko + j];
        }
        logit[t] = s;
        mx = max(mx, s);
    }
    var sum = 0.0;
    for (var t = 0u; t < p.t; t++) {
        logit[t] = exp(logit[t] - mx);
        sum = sum + logit[t];
    }
    for (var j = 0u; j < d; j++) {
        var o = 0.0;
        for (var t = 0u; t < p.t; t++) {
            o = o + (logit[t] / sum) * v[(t * p.hw + px) * p.e + g * d + j];
        }
        y[qo + j] = o;
    }
}
