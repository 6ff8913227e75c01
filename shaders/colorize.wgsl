// colorize: one task's raw output [pixels, c] → RGBA8 for display (one u32 per pixel, R in the
// low byte), the same rendering as imageio.Colorize (the CLI's PNGs), up to one grey level of
// float32 rounding. Modes: 0 argmax over the channels (first maximum) → palette colour;
// 1 depth: clamped at 0, min–max normalised by mm (from min_max.wgsl), turbo colormap
// rounded to 8 bits; 2 normals: L2-normalised, trunc((n + 1)/2·255); 3 grey
// trunc(255·sigmoid(channel 0)); 4 grey trunc(255·sigmoid(l1 − l0)) (softmax channel 1);
// 5 grey round(255·(x − min)/(max − min)). One invocation per pixel, 2-D grid.

struct Params {
    pixels: u32,
    c: u32,
    mode: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> palette: array<u32>;
@group(0) @binding(3) var<storage, read> mm: array<f32>;
@group(0) @binding(4) var<storage, read_write> rgba: array<u32>;

// trunc_u8 is numpy's astype(uint8) of v clamped to 0..255.
fn trunc_u8(v: f32) -> u32 {
    return u32(clamp(v, 0.0, 255.0));
}

fn round_u8(v: f32) -> u32 {
    return u32(floor(clamp(v, 0.0, 255.0) + 0.5));
}

fn rgb(r: u32, g: u32, b: u32) -> u32 {
    return r | (g << 8u) | (b << 16u) | (255u << 24u);
}

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// turbo_channel is one channel of Ruofei Du's polynomial approximation of the Turbo colormap.
fn turbo_channel(t: f32, k0: f32, k1: f32, k2: f32, k3: f32, k4: f32, k5: f32) -> u32 {
    let v = k0 + t * (k1 + t * (k2 + t * (k3 + t * (k4 + t * k5))));
    return round_u8(clamp(v, 0.0, 1.0) * 255.0);
}

fn turbo(t0: f32) -> u32 {
    let t = clamp(t0, 0.0, 1.0);
    return rgb(turbo_channel(t, 0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943),
        turbo_channel(t, 0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604),
        turbo_channel(t, 0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i >= p.pixels) {
        return;
    }
    let base = i * p.c;
    var out = 0u;
    switch p.mode {
        case 0u: {
            var best = 0u;
            for (var j = 1u; j < p.c; j++) {
                if (x[base + j] > x[base + best]) {
                    best = j;
                }
            }
            out = palette[best % 256u];
        }
        case 1u: {
            var t = 0.0;
            if (mm[1] > mm[0]) {
                t = (max(x[base], 0.0) - mm[0]) / (mm[1] - mm[0]);
            }
            out = turbo(t);
        }
        case 2u: {
            let n = vec3<f32>(x[base], x[base + 1u], x[base + 2u]);
            let u = (n / max(length(n), 1e-12) + 1.0) * 0.5 * 255.0;
            out = rgb(trunc_u8(u.x), trunc_u8(u.y), trunc_u8(u.z));
        }
        case 3u: {
            let g = trunc_u8(255.0 * sigmoid(x[base]));
            out = rgb(g, g, g);
        }
        case 4u: {
            let g = trunc_u8(255.0 * sigmoid(x[base + 1u] - x[base]));
            out = rgb(g, g, g);
        }
        default: {
            var g = 0u;
            if (mm[1] > mm[0]) {
                g = round_u8((x[base] - mm[0]) / (mm[1] - mm[0]) * 255.0);
            }
            out = rgb(g, g, g);
        }
    }
    rgba[i] = out;
}
