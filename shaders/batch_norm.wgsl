// batch_norm: model.OpBatchNorm in eval mode, elementwise
// y = (x − mean[c]) / √(var[c] + eps) · gamma[c] + beta[c], one invocation per element,
// 64 per workgroup on a 2-D grid (index = (wy·nx + wx)·64 + lane).

struct Params {
    total: u32,
    c: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    let ch = i % p.c;
    y[i] = (x[i] - mean[ch]) / sqrt(variance[ch] + p.eps) * gamma[ch] + beta[ch];
}
