// add: model.OpAdd, y = Act(x0 + x1 + … ) summed in input order. One dispatch adds up to 4
// inputs; with accumulate set it adds them to y (longer sums are chained), and the activation
// is applied only by the last dispatch (apply_act). One invocation per element, 2-D grid.

struct Params {
    total: u32,
    count: u32, // inputs used in this dispatch, 1..4
    accumulate: u32,
    act: u32, // model.Act code; applied when nonzero
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> x2: array<f32>;
@group(0) @binding(4) var<storage, read> x3: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

//#include elementwise_main
    var v = x0[i];
    if (p.accumulate != 0u) {
        v = y[i] + v;
    }
    if (p.count > 1u) {
        v = v + x1[i];
    }
    if (p.count > 2u) {
        v = v + x2[i];
    }
    if (p.count > 3u) {
        v = v + x3[i];
    }
    if (p.act == 1u) {
        v = max(v, 0.0);
    }
    y[i] = v;
}
