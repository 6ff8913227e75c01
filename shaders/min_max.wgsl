// min_max: the minimum and maximum of channel 0 of a [pixels, c] map (clamped at 0 first
// when clamp0 is set, as the depth rendering does), for colorize.wgsl. One workgroup of 64 invocations (strided loop, tree reduction);
// writes mm[0] = min, mm[1] = max.

struct Params {
    pixels: u32,
    c: u32,
    clamp0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mm: array<f32>;

var<workgroup> lo: array<f32, 64>;
var<workgroup> hi: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32) {
    var a = 3.0e38;
    var b = -3.0e38;
    for (var i = li; i < p.pixels; i += 64u) {
        var v = x[i * p.c];
        if (p.clamp0 != 0u) {
            v = max(v, 0.0);
        }
        a = min(a, v);
        b = max(b, v);
    }
    lo[li] = a;
    hi[li] = b;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (li < s) {
            lo[li] = min(lo[li], lo[li + s]);
            hi[li] = max(hi[li], hi[li + s]);
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        mm[0] = lo[0];
        mm[1] = hi[0];
    }
}
