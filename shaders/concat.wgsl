// concat: model.OpConcat, one dispatch per input: copies x [pixels, c_in] into channels
// [offset, offset + c_in) of y [pixels, c_out]. One invocation per input element, 2-D grid.

struct Params {
    total: u32, // pixels · c_in
    c_in: u32,
    c_out: u32,
    offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    y[(i / p.c_in) * p.c_out + p.offset + i % p.c_in] = x[i];
}
