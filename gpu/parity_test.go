package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/model"
)

// opCase is one entry of the parity table: an op on tensors of the given shapes. in[0] is the
// plan input; every other tensor is made from it by a prelude (resize if the size differs,
// then a random linear), so that both executors see identical inputs. op.Inputs and
// op.Residual index into in; consts name → shape (random values).
type opCase struct {
	name    string
	op      model.Op
	in      []model.Shape
	out     model.Shape
	consts  map[string][]int
	inScale float32   // std of the prelude's outputs (0 = 1)
	then    *model.Op // an op applied to op's output (to test fusions), with output shape thenOut
	thenOut model.Shape
	tol     float64 // max |gpu − cpu| ≤ tol·max(1, max|cpu|)
}

func sh(h, w, c int) model.Shape { return model.Shape{H: h, W: w, C: c} }

func epilogueCase(name string, kind model.OpKind, in, out model.Shape, mutate func(*model.Op, map[string][]int)) opCase {
	c := opCase{name: name, in: []model.Shape{in}, out: out, consts: map[string][]int{}, tol: 1e-4,
		op: model.Op{Kind: kind, Name: name, Inputs: []int{0}, Residual: model.NoTensor}}
	mutate(&c.op, c.consts)
	return c
}

// parityCases is the one table of op cases every GPU kernel is checked with against the
// CPU reference (odd sizes, channel counts not multiples of 4).
func parityCases() []opCase {
	full := func(o *model.Op, k map[string][]int, cout int) {
		o.Bias, o.Scale, o.Shift = "b", "scale", "shift"
		k["b"], k["scale"], k["shift"] = []int{cout}, []int{cout}, []int{cout}
	}
	cases := []opCase{
		epilogueCase("linear/bias", model.OpLinear, sh(17, 23, 13), sh(17, 23, 19), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias = "w", "b"
			k["w"], k["b"] = []int{19, 13}, []int{19}
		}),
		epilogueCase("linear/full-epilogue", model.OpLinear, sh(5, 7, 70), sh(5, 7, 67), func(o *model.Op, k map[string][]int) {
			o.Weight, o.OutScale, o.Act1, o.Act2 = "w", 0.37, model.ActGELU, model.ActReLU
			k["w"] = []int{67, 70}
			full(o, k, 67)
		}),
		epilogueCase("linear/one-channel", model.OpLinear, sh(9, 11, 7), sh(9, 11, 1), func(o *model.Op, k map[string][]int) {
			o.Weight = "w"
			k["w"] = []int{1, 7}
		}),
		epilogueCase("conv2d/3x3-bn-relu", model.OpConv2D, sh(17, 23, 5), sh(17, 23, 7), func(o *model.Op, k map[string][]int) {
			o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups, o.Act2 = "w", 3, 3, 1, 1, 1, 1, model.ActReLU
			k["w"] = []int{7, 5, 3, 3}
			full(o, k, 7)
		}),
		epilogueCase("conv2d/stride2", model.OpConv2D, sh(17, 23, 6), sh(9, 12, 10), func(o *model.Op, k map[string][]int) {
			o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups = "w", 3, 3, 2, 1, 1, 1
			k["w"] = []int{10, 6, 3, 3}
		}),
		epilogueCase("conv2d/grouped", model.OpConv2D, sh(9, 11, 18), sh(9, 11, 10), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups = "w", "b", 3, 3, 1, 1, 1, 2
			k["w"], k["b"] = []int{10, 9, 3, 3}, []int{10}
		}),
		epilogueCase("conv2d/patch-embed", model.OpConv2D, sh(17, 23, 3), sh(5, 6, 9), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.KH, o.KW, o.Stride, o.Groups = "w", "b", 4, 4, 4, 1
			k["w"], k["b"] = []int{9, 3, 4, 4}, []int{9}
		}),
		epilogueCase("layer_norm/13", model.OpLayerNorm, sh(17, 23, 13), sh(17, 23, 13), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.Eps = "w", "b", 1e-5
			k["w"], k["b"] = []int{13}, []int{13}
		}),
		epilogueCase("affine/gelu", model.OpAffine, sh(9, 11, 13), sh(9, 11, 13), func(o *model.Op, k map[string][]int) {
			o.Scale, o.Shift, o.Act1 = "scale", "shift", model.ActGELU
			k["scale"], k["shift"] = []int{13}, []int{13}
		}),
		epilogueCase("resize/up", model.OpResize, sh(9, 11, 3), sh(17, 23, 3), func(*model.Op, map[string][]int) {}),
		epilogueCase("resize/down", model.OpResize, sh(17, 23, 5), sh(5, 7, 5), func(*model.Op, map[string][]int) {}),
		epilogueCase("patch_merge", model.OpPatchMerge, sh(17, 23, 3), sh(9, 12, 12), func(*model.Op, map[string][]int) {}),
		epilogueCase("offset_coords", model.OpOffsetCoords, sh(9, 11, 18), sh(9, 11, 18), func(*model.Op, map[string][]int) {}),
	}
	// Ops with several inputs or a residual.
	ln := epilogueCase("layer_norm/70+residual", model.OpLayerNorm, sh(7, 9, 70), sh(7, 9, 70), func(o *model.Op, k map[string][]int) {
		o.Weight, o.Bias, o.Eps, o.Residual = "w", "b", 1e-5, 1
		k["w"], k["b"] = []int{70}, []int{70}
	})
	ln.in = append(ln.in, sh(7, 9, 70))
	af := epilogueCase("affine/residual-relu", model.OpAffine, sh(9, 11, 13), sh(9, 11, 13), func(o *model.Op, k map[string][]int) {
		o.Scale, o.Shift, o.Act1, o.Act2, o.Residual = "scale", "shift", model.ActGELU, model.ActReLU, 1
		k["scale"], k["shift"] = []int{13}, []int{13}
	})
	af.in = append(af.in, sh(9, 11, 13))
	cr := epilogueCase("conv2d/residual", model.OpConv2D, sh(9, 11, 6), sh(9, 11, 6), func(o *model.Op, k map[string][]int) {
		o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups, o.Residual, o.Act2 = "w", 3, 3, 1, 1, 1, 1, 1, model.ActReLU
		k["w"] = []int{6, 6, 3, 3}
		full(o, k, 6)
	})
	cr.in = append(cr.in, sh(9, 11, 6))
	lr := epilogueCase("linear/residual", model.OpLinear, sh(7, 9, 13), sh(7, 9, 21), func(o *model.Op, k map[string][]int) {
		o.Weight, o.Bias, o.Residual = "w", "b", 1
		k["w"], k["b"] = []int{21, 13}, []int{21}
	})
	lr.in = append(lr.in, sh(7, 9, 21))
	cases = append(cases, ln, af, cr, lr,
		opCase{name: "add/2", op: model.Op{Kind: model.OpAdd, Inputs: []int{0, 1}}, in: []model.Shape{sh(17, 23, 5), sh(17, 23, 5)}, out: sh(17, 23, 5), tol: 1e-5},
		opCase{name: "add/5-relu", op: model.Op{Kind: model.OpAdd, Inputs: []int{0, 1, 2, 3, 4}, Act2: model.ActReLU},
			in: []model.Shape{sh(9, 11, 7), sh(9, 11, 7), sh(9, 11, 7), sh(9, 11, 7), sh(9, 11, 7)}, out: sh(9, 11, 7), tol: 1e-5},
		opCase{name: "concat", op: model.Op{Kind: model.OpConcat, Inputs: []int{0, 1, 2}},
			in: []model.Shape{sh(9, 11, 3), sh(9, 11, 5), sh(9, 11, 2)}, out: sh(9, 11, 10), tol: 1e-6},
		opCase{name: "stack", op: model.Op{Kind: model.OpStack, Inputs: []int{0, 1, 2}},
			in: []model.Shape{sh(5, 7, 6), sh(5, 7, 6), sh(5, 7, 6)}, out: sh(15, 7, 6), tol: 1e-6},
		opCase{name: "deform_sample", op: model.Op{Kind: model.OpDeformSample, Inputs: []int{0, 1}},
			in: []model.Shape{sh(9, 11, 5), sh(9, 11, 10)}, out: sh(9, 11, 5), inScale: 3, tol: 1e-4},
		opCase{name: "deform_sample+linear", op: model.Op{Kind: model.OpDeformSample, Inputs: []int{0, 1}},
			in: []model.Shape{sh(9, 11, 5), sh(9, 11, 10)}, out: sh(9, 11, 5), inScale: 3, tol: 1e-4,
			then:    &model.Op{Kind: model.OpLinear, Name: "mix", Weight: "w", Bias: "b", Act1: model.ActGELU, Residual: model.NoTensor},
			thenOut: sh(9, 11, 7), consts: map[string][]int{"w": {7, 5}, "b": {7}}},
		opCase{name: "task_attention", op: model.Op{Kind: model.OpTaskAttention, Inputs: []int{0, 1, 2}, Heads: 2},
			in: []model.Shape{sh(5, 7, 10), sh(15, 7, 10), sh(15, 7, 10)}, out: sh(5, 7, 10), tol: 1e-4},
		opCase{name: "task_attention/shared-kv", op: model.Op{Kind: model.OpTaskAttention, Inputs: []int{0, 1, 1}, Heads: 3, SharedKV: true},
			in: []model.Shape{sh(5, 7, 39), sh(25, 7, 13)}, out: sh(5, 7, 39), tol: 1e-4},
		epilogueCase("conv2d/1x1-grouped", model.OpConv2D, sh(5, 7, 12), sh(5, 7, 39), func(o *model.Op, k map[string][]int) {
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
		cases = append(cases, opCase{name: wa.name, in: []model.Shape{sh(wa.h, wa.w, c)}, out: sh(wa.h, wa.w, c), tol: 1e-4,
			op: model.Op{Kind: model.OpWindowAttention, Inputs: []int{0}, Residual: model.NoTensor, QKVWeight: "qkv.w", QKVBias: "qkv.b",
				Weight: "proj.w", Bias: "proj.b", Table: "table", Heads: wa.heads, Window: wa.win, ShiftSize: wa.s},
			consts: map[string][]int{"qkv.w": {3 * c, c}, "qkv.b": {3 * c}, "proj.w": {c, c}, "proj.b": {c},
				"table": {(2*wa.win - 1) * (2*wa.win - 1), wa.heads}}})
	}
	for i := range cases {
		if cases[i].op.Residual == 0 && cases[i].op.Kind != model.OpLayerNorm && cases[i].op.Kind != model.OpAffine &&
			cases[i].op.Kind != model.OpLinear && cases[i].op.Kind != model.OpConv2D {
			cases[i].op.Residual = model.NoTensor
		}
		if cases[i].op.Name == "" {
			cases[i].op.Name = cases[i].name
		}
	}
	return cases
}

// plan builds the one-op plan of a case with its prelude, and its input; it returns the id
// of the op's output tensor.
func (c *opCase) plan(seed uint64) (*model.Plan, []float32, int) {
	r := rand.New(rand.NewPCG(seed, 7))
	normal := func(n int, std float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * std
		}
		return v
	}
	p := &model.Plan{InH: c.in[0].H, InW: c.in[0].W, Consts: map[string]*model.Const{}}
	tensor := func(name string, s model.Shape) int {
		p.Tensors = append(p.Tensors, model.TensorInfo{Name: name, Shape: s})
		return len(p.Tensors) - 1
	}
	scale := c.inScale
	if scale == 0 {
		scale = 1
	}
	ids := []int{tensor("input", c.in[0])}
	for i, s := range c.in[1:] {
		x := ids[0]
		if s.H != c.in[0].H || s.W != c.in[0].W {
			y := tensor(fmt.Sprintf("pre%d.resize", i), model.Shape{H: s.H, W: s.W, C: c.in[0].C})
			p.Ops = append(p.Ops, model.Op{Kind: model.OpResize, Name: p.Tensors[y].Name, Inputs: []int{x}, Output: y, Residual: model.NoTensor})
			x = y
		}
		wn := fmt.Sprintf("pre%d.w", i)
		p.Consts[wn] = &model.Const{Name: wn, Shape: []int{s.C, c.in[0].C}, Data: normal(s.C*c.in[0].C, scale/float32(math.Sqrt(float64(c.in[0].C))))}
		y := tensor(fmt.Sprintf("pre%d", i), s)
		p.Ops = append(p.Ops, model.Op{Kind: model.OpLinear, Name: p.Tensors[y].Name, Inputs: []int{x}, Output: y, Weight: wn, Residual: model.NoTensor})
		ids = append(ids, y)
	}
	for name, shape := range c.consts {
		n := model.Numel(shape)
		fan := 1
		if len(shape) > 1 {
			fan = n / shape[0]
		}
		data := normal(n, 1/float32(math.Sqrt(float64(fan))))
		if name == "scale" || len(shape) == 1 && name == "w" {
			for i := range data {
				data[i] = 1 + 0.2*data[i]
			}
		}
		p.Consts[name] = &model.Const{Name: name, Shape: shape, Data: data}
	}
	op := c.op
	op.Inputs = make([]int, len(c.op.Inputs))
	for i, j := range c.op.Inputs {
		op.Inputs[i] = ids[j]
	}
	if op.Residual != model.NoTensor {
		op.Residual = ids[op.Residual]
	}
	op.Output = tensor(c.name, c.out)
	p.Ops = append(p.Ops, op)
	p.Input = ids[0]
	if c.then != nil {
		next := *c.then
		next.Inputs = []int{op.Output}
		next.Output = tensor(c.name+".then", c.thenOut)
		p.Ops = append(p.Ops, next)
		return p, normal(c.in[0].Numel(), 1), next.Output
	}
	return p, normal(c.in[0].Numel(), 1), op.Output
}

// roundWeightsF16 returns a copy of p whose Linear/Conv2D/attention weights are rounded to
// f16, the values the F16Weights variant computes with.
func roundWeightsF16(p *model.Plan) *model.Plan {
	q := *p
	q.Consts = map[string]*model.Const{}
	for k, v := range p.Consts {
		q.Consts[k] = v
	}
	for _, op := range p.Ops {
		if op.Kind != model.OpLinear && op.Kind != model.OpConv2D && op.Kind != model.OpWindowAttention {
			continue
		}
		for _, name := range []string{op.Weight, op.QKVWeight} {
			c, ok := p.Consts[name]
			if !ok {
				continue
			}
			r := &model.Const{Name: c.Name, Shape: c.Shape, Data: make([]float32, len(c.Data))}
			for i, v := range c.Data {
				r.Data[i] = f16ToF32(f16Bits(v))
			}
			q.Consts[name] = r
		}
	}
	return &q
}

func f16ToF32(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	man := float32(h & 0x3ff)
	switch exp {
	case 0:
		return sign * man * float32(math.Pow(2, -24))
	case 31:
		if man != 0 {
			return float32(math.NaN())
		}
		return sign * float32(math.Inf(1))
	}
	return sign * (1 + man/1024) * float32(math.Pow(2, float64(exp-15)))
}

func runCPU(t testing.TB, p *model.Plan, in []float32, id int) []float32 {
	t.Helper()
	ex, err := cpu.New(p, cpu.Options{Keep: []int{id}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if err := ex.Run(in); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), ex.Tensor(id)...)
}

func runGPU(t testing.TB, d *Device, p *model.Plan, in []float32, id int, opt Options) []float32 {
	t.Helper()
	opt.Keep = append(opt.Keep, id)
	ex, err := New(d, p, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if err := ex.Run(in); err != nil {
		t.Fatal(err)
	}
	got, err := ex.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// maxDiff returns max |a − b| and max |b|.
func maxDiff(a, b []float32) (diff, ref float64) {
	for i := range b {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > diff || math.IsNaN(d) {
			diff = d
		}
		ref = max(ref, math.Abs(float64(b[i])))
	}
	return diff, ref
}

// TestParity runs the parity table on the GPU (f32 weights and f16-packed weights) against
// the CPU reference executor.
func TestParity(t *testing.T) {
	d := testDevice(t)
	for i, c := range parityCases() {
		for _, f16 := range []bool{false, true} {
			hasWeights := c.op.Kind == model.OpLinear || c.op.Kind == model.OpConv2D || c.op.Kind == model.OpWindowAttention || c.then != nil
			if f16 && !hasWeights {
				continue
			}
			name := c.name
			if f16 {
				name += "/f16"
			}
			t.Run(name, func(t *testing.T) {
				p, in, id := c.plan(uint64(i + 1))
				ref := p
				if f16 {
					ref = roundWeightsF16(p)
				}
				want := runCPU(t, ref, in, id)
				got := runGPU(t, d, p, in, id, Options{F16Weights: f16})
				if len(got) != len(want) {
					t.Fatalf("got %d values, want %d", len(got), len(want))
				}
				diff, mx := maxDiff(got, want)
				t.Logf("max|gpu−cpu| = %.3g (max|cpu| %.3g)", diff, mx)
				if diff > c.tol*max(1, mx) || math.IsNaN(diff) {
					t.Errorf("max|gpu−cpu| = %.3g (max|cpu| %.3g), tolerance %.3g", diff, mx, c.tol*max(1, mx))
				}
			})
		}
	}
}
