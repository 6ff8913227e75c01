// layer_norm: model.OpLayerNorm, per token y = (x − mean)/√(var + eps)·w + b (+ residual),
// biased variance over the c channels, two passes. One workgroup of 64 invocations per token
// (2-D grid of tokens), tree reductions in workgroup memory.

struct Params {
    rows: u32,
    c: u32,
    flags: u32, // bit 2 residual
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 64>;

fn reduce_sum(v: f32, li: u32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (li < s) {
            red[li] = red[li] + red[li + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    // The whole workgroup takes the same branch, so the barriers stay in uniform control flow.
    let valid = row < p.rows;
    let base = min(row, p.rows - 1u) * p.c;
    var s = 0.0;
    for (var j = li; j < p.c; j += 64u) {
        s = s + x[base + j];
    }
    let mean = reduce_sum(s, li) / f32(p.c);
    var ss = 0.0;
    for (var j = li; j < p.c; j += 64u) {
        let d = x[base + j] - mean;
        ss = ss + d * d;
    }
    let rstd = inverseSqrt(reduce_sum(ss, li) / f32(p.c) + p.eps);
    if (!valid) {
        return;
    }
    for (var j = li; j < p.c; j += 64u) {
        var v = (x[base + j] - mean) * rstd * w[j] + b[j];
        if ((p.flags & 4u) != 0u) {
            v = v + residual[base + j];
        }
        y[base + j] = v;
    }
}
