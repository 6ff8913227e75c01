// Package optest is the one parity table of plan ops (CONVENTIONS: "one parity table for all
// backends"): op cases on odd shapes with their tolerances, each turned into a one-op plan with a
// deterministic input (seeded by the case name), and the runner: a backend runs the whole table
// against the CPU reference executor with Run(t, backend); a new op is added here once.
package optest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/demt-web/demt/model"
)

// Case is one entry of the parity table: an op on tensors of the given shapes. in[0] is the
// plan input; every other tensor is made from it by a prelude (resize if the size differs,
// then a random linear), so that both executors see identical inputs. op.Inputs and
// op.Residual index into in; consts name → shape (random values).
type Case struct {
	Name    string
	Op      model.Op
	In      []model.Shape
	Out     model.Shape
	Consts  map[string][]int
	InScale float32   // std of the prelude's outputs (0 = 1)
	Then    *model.Op // an op applied to op's output (to test fusions), with output shape thenOut
	ThenOut model.Shape
	Tol     float64 // max |gpu − cpu| ≤ tol·max(1, max|cpu|)
}

// Sh is a Shape literal.
func Sh(h, w, c int) model.Shape { return model.Shape{H: h, W: w, C: c} }

// EpilogueCase is a one-input case of an op with weights set by mutate.
func EpilogueCase(name string, kind model.OpKind, in, out model.Shape, mutate func(*model.Op, map[string][]int)) Case {
	c := Case{Name: name, In: []model.Shape{in}, Out: out, Consts: map[string][]int{}, Tol: 1e-4,
		Op: model.Op{Kind: kind, Name: name, Inputs: []int{0}}}
	mutate(&c.Op, c.Consts)
	return c
}

// Cases is the one table of op cases every backend is checked with against the CPU
// reference executor (odd sizes, channel counts not multiples of 4).
func Cases() []Case {
	full := func(o *model.Op, k map[string][]int, cout int) {
		o.Bias, o.Scale, o.Shift = "b", "scale", "shift"
		k["b"], k["scale"], k["shift"] = []int{cout}, []int{cout}, []int{cout}
	}
	cases := []Case{
		EpilogueCase("linear/bias", model.OpLinear, Sh(17, 23, 13), Sh(17, 23, 19), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias = "w", "b"
			k["w"], k["b"] = []int{19, 13}, []int{19}
		}),
		EpilogueCase("linear/full-epilogue", model.OpLinear, Sh(5, 7, 70), Sh(5, 7, 67), func(o *model.Op, k map[string][]int) {
			o.Weight, o.OutScale, o.Act1, o.Act2 = "w", 0.37, model.ActGELU, model.ActReLU
			k["w"] = []int{67, 70}
			full(o, k, 67)
		}),
		EpilogueCase("linear/one-channel", model.OpLinear, Sh(9, 11, 7), Sh(9, 11, 1), func(o *model.Op, k map[string][]int) {
			o.Weight = "w"
			k["w"] = []int{1, 7}
		}),
		EpilogueCase("conv2d/3x3-bn-relu", model.OpConv2D, Sh(17, 23, 5), Sh(17, 23, 7), func(o *model.Op, k map[string][]int) {
			o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups, o.Act2 = "w", 3, 3, 1, 1, 1, 1, model.ActReLU
			k["w"] = []int{7, 5, 3, 3}
			full(o, k, 7)
		}),
		EpilogueCase("conv2d/stride2", model.OpConv2D, Sh(17, 23, 6), Sh(9, 12, 10), func(o *model.Op, k map[string][]int) {
			o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups = "w", 3, 3, 2, 1, 1, 1
			k["w"] = []int{10, 6, 3, 3}
		}),
		EpilogueCase("conv2d/grouped", model.OpConv2D, Sh(9, 11, 18), Sh(9, 11, 10), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups = "w", "b", 3, 3, 1, 1, 1, 2
			k["w"], k["b"] = []int{10, 9, 3, 3}, []int{10}
		}),
		EpilogueCase("conv2d/patch-embed", model.OpConv2D, Sh(17, 23, 3), Sh(5, 6, 9), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.KH, o.KW, o.Stride, o.Groups = "w", "b", 4, 4, 4, 1
			k["w"], k["b"] = []int{9, 3, 4, 4}, []int{9}
		}),
		EpilogueCase("layer_norm/13", model.OpLayerNorm, Sh(17, 23, 13), Sh(17, 23, 13), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.Eps = "w", "b", 1e-5
			k["w"], k["b"] = []int{13}, []int{13}
		}),
		EpilogueCase("affine/gelu", model.OpAffine, Sh(9, 11, 13), Sh(9, 11, 13), func(o *model.Op, k map[string][]int) {
			o.Scale, o.Shift, o.Act1 = "scale", "shift", model.ActGELU
			k["scale"], k["shift"] = []int{13}, []int{13}
		}),
		EpilogueCase("batch_norm/13", model.OpBatchNorm, Sh(9, 11, 13), Sh(9, 11, 13), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.Mean, o.Var, o.Eps = "scale", "shift", "mean", "var", 1e-5
			k["scale"], k["shift"], k["mean"], k["var"] = []int{13}, []int{13}, []int{13}, []int{13}
		}),
		EpilogueCase("activation/relu", model.OpActivation, Sh(17, 23, 5), Sh(17, 23, 5), func(o *model.Op, _ map[string][]int) {
			o.Act1 = model.ActReLU
		}),
		EpilogueCase("activation/gelu", model.OpActivation, Sh(9, 11, 13), Sh(9, 11, 13), func(o *model.Op, _ map[string][]int) {
			o.Act1 = model.ActGELU
		}),
		EpilogueCase("resize/up", model.OpResize, Sh(9, 11, 3), Sh(17, 23, 3), func(*model.Op, map[string][]int) {}),
		EpilogueCase("resize/down", model.OpResize, Sh(17, 23, 5), Sh(5, 7, 5), func(*model.Op, map[string][]int) {}),
		EpilogueCase("patch_merge", model.OpPatchMerge, Sh(17, 23, 3), Sh(9, 12, 12), func(*model.Op, map[string][]int) {}),
		EpilogueCase("offset_coords", model.OpOffsetCoords, Sh(9, 11, 18), Sh(9, 11, 18), func(*model.Op, map[string][]int) {}),
	}
	// Ops with several inputs or a residual.
	ln := EpilogueCase("layer_norm/70+residual", model.OpLayerNorm, Sh(7, 9, 70), Sh(7, 9, 70), func(o *model.Op, k map[string][]int) {
		o.Weight, o.Bias, o.Eps, o.Residual = "w", "b", 1e-5, model.Ref(1)
		k["w"], k["b"] = []int{70}, []int{70}
	})
	ln.In = append(ln.In, Sh(7, 9, 70))
	af := EpilogueCase("affine/residual-relu", model.OpAffine, Sh(9, 11, 13), Sh(9, 11, 13), func(o *model.Op, k map[string][]int) {
		o.Scale, o.Shift, o.Act1, o.Act2, o.Residual = "scale", "shift", model.ActGELU, model.ActReLU, model.Ref(1)
		k["scale"], k["shift"] = []int{13}, []int{13}
	})
	af.In = append(af.In, Sh(9, 11, 13))
	cr := EpilogueCase("conv2d/residual", model.OpConv2D, Sh(9, 11, 6), Sh(9, 11, 6), func(o *model.Op, k map[string][]int) {
		o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups, o.Residual, o.Act2 = "w", 3, 3, 1, 1, 1, 1, model.Ref(1), model.ActReLU
		k["w"] = []int{6, 6, 3, 3}
		full(o, k, 6)
	})
	cr.In = append(cr.In, Sh(9, 11, 6))
	lr := EpilogueCase("linear/residual", model.OpLinear, Sh(7, 9, 13), Sh(7, 9, 21), func(o *model.Op, k map[string][]int) {
		o.Weight, o.Bias, o.Residual = "w", "b", model.Ref(1)
		k["w"], k["b"] = []int{21, 13}, []int{21}
	})
	lr.In = append(lr.In, Sh(7, 9, 21))
	cases = append(cases, ln, af, cr, lr,
		Case{Name: "add/2", Op: model.Op{Kind: model.OpAdd, Inputs: []int{0, 1}}, In: []model.Shape{Sh(17, 23, 5), Sh(17, 23, 5)}, Out: Sh(17, 23, 5), Tol: 1e-5},
		Case{Name: "add/5-relu", Op: model.Op{Kind: model.OpAdd, Inputs: []int{0, 1, 2, 3, 4}, Act2: model.ActReLU},
			In: []model.Shape{Sh(9, 11, 7), Sh(9, 11, 7), Sh(9, 11, 7), Sh(9, 11, 7), Sh(9, 11, 7)}, Out: Sh(9, 11, 7), Tol: 1e-5},
		Case{Name: "concat", Op: model.Op{Kind: model.OpConcat, Inputs: []int{0, 1, 2}},
			In: []model.Shape{Sh(9, 11, 3), Sh(9, 11, 5), Sh(9, 11, 2)}, Out: Sh(9, 11, 10), Tol: 1e-6},
		Case{Name: "stack", Op: model.Op{Kind: model.OpStack, Inputs: []int{0, 1, 2}},
			In: []model.Shape{Sh(5, 7, 6), Sh(5, 7, 6), Sh(5, 7, 6)}, Out: Sh(15, 7, 6), Tol: 1e-6},
		Case{Name: "deform_sample", Op: model.Op{Kind: model.OpDeformSample, Inputs: []int{0, 1}},
			In: []model.Shape{Sh(9, 11, 5), Sh(9, 11, 10)}, Out: Sh(9, 11, 5), InScale: 3, Tol: 1e-4},
		Case{Name: "deform_linear", Op: model.Op{Kind: model.OpDeformLinear, Inputs: []int{0, 1}, Weight: "w", Bias: "b", Act1: model.ActGELU},
			In: []model.Shape{Sh(9, 11, 5), Sh(9, 11, 10)}, Out: Sh(9, 11, 7), InScale: 3, Tol: 1e-4,
			Consts: map[string][]int{"w": {7, 5}, "b": {7}}},
		Case{Name: "deform_linear/residual", Op: model.Op{Kind: model.OpDeformLinear, Inputs: []int{0, 1}, Weight: "w", Bias: "b",
			Act1: model.ActGELU, Scale: "scale", Shift: "shift", Residual: model.Ref(2)},
			In: []model.Shape{Sh(7, 13, 6), Sh(7, 13, 12), Sh(7, 13, 9)}, Out: Sh(7, 13, 9), InScale: 3, Tol: 1e-4,
			Consts: map[string][]int{"w": {9, 6}, "b": {9}, "scale": {9}, "shift": {9}}},
		Case{Name: "task_attention", Op: model.Op{Kind: model.OpTaskAttention, Inputs: []int{0, 1, 2}, Heads: 2},
			In: []model.Shape{Sh(5, 7, 10), Sh(15, 7, 10), Sh(15, 7, 10)}, Out: Sh(5, 7, 10), Tol: 1e-4},
		Case{Name: "task_attention/shared-kv", Op: model.Op{Kind: model.OpTaskAttention, Inputs: []int{0, 1, 1}, Heads: 3, SharedKV: true},
			In: []model.Shape{Sh(5, 7, 39), Sh(25, 7, 13)}, Out: Sh(5, 7, 39), Tol: 1e-4},
		EpilogueCase("conv2d/1x1-grouped", model.OpConv2D, Sh(5, 7, 12), Sh(5, 7, 39), func(o *model.Op, k map[string][]int) {
			o.Weight, o.KH, o.KW, o.Stride, o.Groups = "w", 1, 1, 1, 3
			k["w"] = []int{39, 4, 1, 1}
		}),
	)
	for _, wa := range []struct {
		name                   string
		h, w, c, heads, win, s int
	}{{"window_attention/w4", 9, 11, 12, 3, 4, 0}, {"window_attention/w4-shift2", 9, 11, 12, 3, 4, 2},
		{"window_attention/w7-shift3", 17, 23, 10, 2, 7, 3}} {
		c := wa.c
		cases = append(cases, Case{Name: wa.name, In: []model.Shape{Sh(wa.h, wa.w, c)}, Out: Sh(wa.h, wa.w, c), Tol: 1e-4,
			Op: model.Op{Kind: model.OpWindowAttention, Inputs: []int{0}, QKVWeight: "qkv.w", QKVBias: "qkv.b",
				Weight: "proj.w", Bias: "proj.b", Table: "table", Heads: wa.heads, Window: wa.win, ShiftSize: wa.s},
			Consts: map[string][]int{"qkv.w": {3 * c, c}, "qkv.b": {3 * c}, "proj.w": {c, c}, "proj.b": {c},
				"table": {(2*wa.win - 1) * (2*wa.win - 1), wa.heads}}})
	}
	for i := range cases {
		if cases[i].Op.Name == "" {
			cases[i].Op.Name = cases[i].Name
		}
	}
	return cases
}

// Plan builds the one-op plan of a case with its prelude, and its input; it returns the id
// of the op's output tensor.
func (c *Case) Plan(seed uint64) (*model.Plan, []float32, int) {
	r := rand.New(rand.NewPCG(seed, 7))
	normal := func(n int, std float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * std
		}
		return v
	}
	p := &model.Plan{InH: c.In[0].H, InW: c.In[0].W, Consts: map[string]*model.Const{}}
	tensor := func(name string, s model.Shape) int {
		p.Tensors = append(p.Tensors, model.TensorInfo{Name: name, Shape: s})
		return len(p.Tensors) - 1
	}
	scale := c.InScale
	if scale == 0 {
		scale = 1
	}
	ids := []int{tensor("input", c.In[0])}
	for i, s := range c.In[1:] {
		x := ids[0]
		if s.H != c.In[0].H || s.W != c.In[0].W {
			y := tensor(fmt.Sprintf("pre%d.resize", i), model.Shape{H: s.H, W: s.W, C: c.In[0].C})
			p.Ops = append(p.Ops, model.Op{Kind: model.OpResize, Name: p.Tensors[y].Name, Inputs: []int{x}, Output: y})
			x = y
		}
		wn := fmt.Sprintf("pre%d.w", i)
		p.Consts[wn] = &model.Const{Name: wn, Shape: []int{s.C, c.In[0].C}, Data: normal(s.C*c.In[0].C, scale/float32(math.Sqrt(float64(c.In[0].C))))}
		y := tensor(fmt.Sprintf("pre%d", i), s)
		p.Ops = append(p.Ops, model.Op{Kind: model.OpLinear, Name: p.Tensors[y].Name, Inputs: []int{x}, Output: y, Weight: wn})
		ids = append(ids, y)
	}
	for name, shape := range c.Consts {
		n := model.Numel(shape)
		fan := 1
		if len(shape) > 1 {
			fan = n / shape[0]
		}
		data := normal(n, 1/float32(math.Sqrt(float64(fan))))
		if name == "scale" || name == "var" || len(shape) == 1 && name == "w" {
			for i := range data {
				data[i] = 1 + 0.2*data[i]
			}
		}
		p.Consts[name] = &model.Const{Name: name, Shape: shape, Data: data}
	}
	op := c.Op
	op.Inputs = make([]int, len(c.Op.Inputs))
	for i, j := range c.Op.Inputs {
		op.Inputs[i] = ids[j]
	}
	if r, ok := op.Residual.Get(); ok {
		op.Residual = model.Ref(ids[r])
	}
	op.Output = tensor(c.Name, c.Out)
	p.Ops = append(p.Ops, op)
	p.Input = ids[0]
	if c.Then != nil {
		next := *c.Then
		next.Inputs = []int{op.Output}
		next.Output = tensor(c.Name+".then", c.ThenOut)
		p.Ops = append(p.Ops, next)
		return p, normal(c.In[0].Numel(), 1), next.Output
	}
	return p, normal(c.In[0].Numel(), 1), op.Output
}
