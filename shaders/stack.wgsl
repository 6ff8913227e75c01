// stack: model.OpStack, one dispatch per input: copies x (all of it) to y starting at
// element offset (inputs follow one another along the outermost axis). 2-D grid.

struct Params {
    total: u32,
    offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    y[p.offset + i] = x[i];
}
