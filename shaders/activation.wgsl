// activation: model.OpActivation, elementwise y = act(x) (ReLU or exact GELU), one invocation
// per element, 64 per workgroup on a 2-D grid (index = (wy·nx + wx)·64 + lane).

struct Params {
    total: u32,
    act: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include epilogue

//#include elementwise_main
    y[i] = act(x[i], p.act);
}
