// deform_sample: model.OpDeformSample. S[y, x, c] = bilinear_tv(x[:, :, c], y + O[y, x, 2c],
// x + O[y, x, 2c + 1]) with torchvision's rule (zero outside (-1, h) × (-1, w), corners outside
// the map count zero). One invocation per output element, 2-D grid.

struct Params {
    h: u32,
    w: u32,
    c: u32,
    total: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> off: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn at(iy: i32, ix: i32, ch: u32) -> f32 {
    if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
        return 0.0;
    }
    return x[(u32(iy) * p.w + u32(ix)) * p.c + ch];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i >= p.total) {
        return;
    }
    let ch = i % p.c;
    let pix = i / p.c;
    let px = f32(pix % p.w) + off[pix * 2u * p.c + 2u * ch + 1u];
    let py = f32(pix / p.w) + off[pix * 2u * p.c + 2u * ch];
    if (py <= -1.0 || f32(p.h) <= py || px <= -1.0 || f32(p.w) <= px) {
        y[i] = 0.0;
        return;
    }
    let fy = floor(py);
    let fx = floor(px);
    let y0 = i32(fy);
    let x0 = i32(fx);
    let ly = py - fy;
    let lx = px - fx;
    let hy = 1.0 - ly;
    let hx = 1.0 - lx;
    y[i] = hy * hx * at(y0, x0, ch) + hy * lx * at(y0, x0 + 1, ch) + ly * hx * at(y0 + 1, x0, ch) +
        ly * lx * at(y0 + 1, x0 + 1, ch);
}
