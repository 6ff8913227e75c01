// preprocess: an RGBA8 image (one u32 per pixel, R in the low byte) of sh × sw pixels →
// the normalised channels-last [oh, ow, 3] model input, as imageio.ResizeRGB +
// imageio.Normalize do on the CPU: bilinear resize with half-pixel centres (taps from the
// host: i0, i1, 1 − f, f per output row, then column; identity when the sizes match) rounded
// to the nearest 8-bit level, then ((v / 255) − mean) / std per channel in float32. One
// invocation per output element, 2-D grid.

struct Params {
    sh: u32,
    sw: u32,
    oh: u32,
    ow: u32,
    total: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    mean: vec4<f32>,
    stdev: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> img: array<u32>;
@group(0) @binding(2) var<storage, read> taps: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn texel(iy: u32, ix: u32, ch: u32) -> f32 {
    return f32((img[iy * p.sw + ix] >> (8u * ch)) & 0xffu);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i >= p.total) {
        return;
    }
    let ch = i % 3u;
    let pix = i / 3u;
    let ox = pix % p.ow;
    let oy = pix / p.ow;
    let ty = 4u * oy;
    let tx = 4u * (p.oh + ox);
    let y0 = u32(taps[ty]);
    let y1 = u32(taps[ty + 1u]);
    let x0 = u32(taps[tx]);
    let x1 = u32(taps[tx + 1u]);
    let v = taps[ty + 2u] * (taps[tx + 2u] * texel(y0, x0, ch) + taps[tx + 3u] * texel(y0, x1, ch)) +
        taps[ty + 3u] * (taps[tx + 2u] * texel(y1, x0, ch) + taps[tx + 3u] * texel(y1, x1, ch));
    let level = floor(clamp(v, 0.0, 255.0) + 0.5);
    y[i] = (level / 255.0 - p.mean[ch]) / p.stdev[ch];
}
