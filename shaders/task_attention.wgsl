// task_attention: model.OpTaskAttention. For pixel p and head g: a = softmax over the T ≤ 8
// tasks of q_g[p]·k_g[t·hw + p] (q pre-scaled), y_g[p] = Σ_t a_t·v_g[t·hw + p]. Plain: q, k,
// v and y are split into `heads` slices. Shared (kv_shared = 1): head g's q slice (cq/heads =
// ck channels) meets all of k and v, and y has heads·cv channels. One invocation per
// (pixel, head), 2-D grid.

struct Params {
    hw: u32,
    t: u32,
    heads: u32,
    kv_shared: u32,
    cq: u32,
    ck: u32,
    cv: u32,
    cy: u32,
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
    let dq = p.cq / p.heads;
    let dv = p.cy / p.heads;
    var kg = g * dq;
    var vg = g * dv;
    if (p.kv_shared != 0u) {
        kg = 0u;
        vg = 0u;
    }
    let qo = px * p.cq + g * dq;
    var logit: array<f32, 8>;
    var mx = -3.0e38;
    for (var t = 0u; t < p.t; t++) {
        let ko = (t * p.hw + px) * p.ck + kg;
        var s = 0.0;
        for (var j = 0u; j < dq; j++) {
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
    for (var t = 0u; t < p.t; t++) {
        logit[t] = logit[t] / sum;
    }
    let yo = px * p.cy + g * dv;
    for (var j = 0u; j < dv; j++) {
        var o = 0.0;
        for (var t = 0u; t < p.t; t++) {
            o = o + logit[t] * v[(t * p.hw + px) * p.cv + vg + j];
        }
        y[yo + j] = o;
    }
}
