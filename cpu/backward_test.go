package cpu

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
)

// gradCheck is one case of the parity table set up for a gradient check: the executor (every
// tensor kept), the ops under test (the case's op and its Then op, after the prelude), and
// the random linear functional L = Σ r·y on the last output.
type gradCheck struct {
	t      *testing.T
	c      optest.Case
	plan   *model.Plan
	input  []float32
	exec   *Executor
	ops    []int // indices of the ops under test
	out    int
	r      []float32
	tgrads [][]float32          // per tensor
	cgrads map[string][]float32 // per constant of the ops under test
}

const gradThreads = 3 // more workers than cores: the per-chunk accumulators see several chunks

func newGradCheck(t *testing.T, c optest.Case) *gradCheck {
	p, input, out := c.Plan(11)
	e, err := New(p, Options{Threads: gradThreads, KeepAll: true})
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	g := &gradCheck{t: t, c: c, plan: p, input: input, exec: e, out: out, cgrads: map[string][]float32{}}
	g.ops = []int{len(p.Ops) - 1}
	if c.Then != nil {
		g.ops = []int{len(p.Ops) - 2, len(p.Ops) - 1}
	}
	rng := rand.New(rand.NewPCG(5, 9))
	g.r = make([]float32, p.Tensors[out].Shape.Numel())
	for i := range g.r {
		g.r[i] = float32(rng.NormFloat64())
	}
	return g
}

// loss runs the ops under test (the prelude's outputs are in place) and returns Σ r·y in float64.
func (g *gradCheck) loss(e *Executor) float64 {
	for _, i := range g.ops {
		e.kernels[i].run(e.pool)
	}
	var s float64
	for i, v := range e.bufs[g.out] {
		s += float64(g.r[i]) * float64(v)
	}
	return s
}

// backward computes every gradient of L with the backward kernels.
func (g *gradCheck) backward() {
	p, e := g.plan, g.exec
	if err := e.Run(g.input); err != nil {
		g.t.Fatal(err)
	}
	g.tgrads = make([][]float32, len(p.Tensors))
	for i, ti := range p.Tensors {
		g.tgrads[i] = make([]float32, ti.Shape.Numel())
	}
	copy(g.tgrads[g.out], g.r)
	for _, oi := range g.ops {
		op := &p.Ops[oi]
		for _, name := range []string{op.Weight, op.Bias, op.Scale, op.Shift, op.Table, op.QKVWeight, op.QKVBias} {
			if name != "" {
				g.cgrads[name] = make([]float32, len(p.Consts[name].Data))
			}
		}
	}
	for k := len(g.ops) - 1; k >= 0; k-- {
		op := &p.Ops[g.ops[k]]
		og := opGrads{dy: g.tgrads[op.Output], consts: g.cgrads}
		for _, id := range op.Inputs {
			og.dx = append(og.dx, g.tgrads[id])
		}
		if r, ok := op.Residual.Get(); ok {
			og.dres = g.tgrads[r]
		}
		n := p.Tensors[op.Output].Shape.Numel()
		og.z, og.dz = make([]float32, n), make([]float32, n)
		bk, err := e.prepareBackward(op, og)
		if err != nil {
			g.t.Fatalf("%s: backward of %s: %v", g.c.Name, op.Kind, err)
		}
		bk.run(e.pool)
		// Running it twice must add the same amount again (accumulation, no hidden state).
		if k == 0 && g.c.Then == nil {
			before := snapshot(g.tgrads, g.cgrads, g.out)
			bk.run(e.pool)
			after := snapshot(g.tgrads, g.cgrads, g.out)
			for i := range after {
				if d := float64(after[i]) - 2*float64(before[i]); math.Abs(d) > 1e-5*math.Max(1, math.Abs(float64(after[i]))) {
					g.t.Errorf("%s: a second backward run does not add the same gradient (entry %d: %v then %v)", g.c.Name, i, before[i], after[i])
					break
				}
			}
			// Undo the second run: halve.
			halve(g.tgrads, g.cgrads, g.out)
		}
	}
}

// allocs checks that running each backward kernel of the case allocates nothing.
func (g *gradCheck) allocs() {
	p, e := g.plan, g.exec
	for _, oi := range g.ops {
		op := &p.Ops[oi]
		og := opGrads{dy: make([]float32, p.Tensors[op.Output].Shape.Numel()), consts: map[string][]float32{}}
		for _, id := range op.Inputs {
			og.dx = append(og.dx, make([]float32, p.Tensors[id].Shape.Numel()))
		}
		if r, ok := op.Residual.Get(); ok {
			og.dres = make([]float32, p.Tensors[r].Shape.Numel())
		}
		for name := range g.cgrads {
			og.consts[name] = make([]float32, len(g.cgrads[name]))
		}
		n := p.Tensors[op.Output].Shape.Numel()
		og.z, og.dz = make([]float32, n), make([]float32, n)
		bk, err := e.prepareBackward(op, og)
		if err != nil {
			g.t.Fatal(err)
		}
		if a := testing.AllocsPerRun(3, func() { bk.run(e.pool) }); a != 0 {
			g.t.Errorf("%s: backward of %s allocates %v times per run", g.c.Name, op.Kind, a)
		}
	}
}

func snapshot(t [][]float32, c map[string][]float32, skip int) []float32 {
	var s []float32
	for i, v := range t {
		if i != skip {
			s = append(s, v...)
		}
	}
	for _, k := range sortedKeys(c) {
		s = append(s, c[k]...)
	}
	return s
}

func halve(t [][]float32, c map[string][]float32, keep int) {
	for i, v := range t {
		if i == keep {
			continue
		}
		for j := range v {
			v[j] /= 2
		}
	}
	for _, v := range c {
		for j := range v {
			v[j] /= 2
		}
	}
}

func sortedKeys(m map[string][]float32) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestBackwardFiniteDifferences checks every op kind of the parity table against central
// differences of the float64 reference (reference64_test.go), which is itself first checked
// against the float32 kernels. For each input tensor and each constant of the ops under test:
// two random directions v, comparing Σ grad·v with (L(x+hv) − L(x−hv))/2h, and single
// entries (the first, the last and two random ones). h = 1e-6·rms(x): float64 rounding adds
// ~1e-10 relative, and no kink (ReLU at 0, a bilinear cell edge) lies that close to a
// random point. What remains is the float32 error of the analytic gradient, ~1e-6 of
// Σ|grad·v|; the tolerance is 2e-5 of that (a single wrong entry among n moves the sum by
// ~1/n ≥ 1e-4 of it on these shapes) plus 1e-4 relative.
func TestBackwardFiniteDifferences(t *testing.T) {
	kinds := map[model.OpKind]bool{}
	worstDir, worstEntry := 0.0, 0.0
	for _, c := range append(optest.Cases(), extraGradCases()...) {
		g := newGradCheck(t, c)
		g.backward()
		first64 := snapshot(g.tgrads, g.cgrads, -1)
		g.backward()
		for i, v := range snapshot(g.tgrads, g.cgrads, -1) {
			if v != first64[i] {
				t.Errorf("%s: two backward runs differ at entry %d (%v, %v): not deterministic", c.Name, i, first64[i], v)
				break
			}
		}
		g.allocs()
		ref := ref64{plan: g.plan}
		vals := map[int][]float64{}
		consts := map[string][]float64{}
		first := &g.plan.Ops[g.ops[0]]
		var leaves []int
		ids := append([]int{}, first.Inputs...)
		if r, ok := first.Residual.Get(); ok {
			ids = append(ids, r)
		}
		for _, id := range ids {
			if _, ok := vals[id]; ok {
				continue
			}
			leaves = append(leaves, id)
			vals[id] = to64(g.exec.bufs[id])
		}
		names := sortedKeys(g.cgrads)
		for _, name := range names {
			consts[name] = to64(g.plan.Consts[name].Data)
		}
		for _, oi := range g.ops { // BatchNorm's running statistics: constants without gradients
			for _, name := range []string{g.plan.Ops[oi].Mean, g.plan.Ops[oi].Var} {
				if name != "" {
					consts[name] = to64(g.plan.Consts[name].Data)
				}
			}
		}
		loss := func() float64 {
			for _, oi := range g.ops {
				op := &g.plan.Ops[oi]
				var ins [][]float64
				for _, id := range op.Inputs {
					ins = append(ins, vals[id])
				}
				if r, ok := op.Residual.Get(); ok {
					ins = append(ins, vals[r])
				}
				vals[op.Output] = ref.op(op, ins, consts)
			}
			var s float64
			for i, v := range vals[g.out] {
				s += float64(g.r[i]) * v
			}
			return s
		}
		loss()
		var maxY, maxD float64
		for i, v := range g.exec.bufs[g.out] {
			maxY = math.Max(maxY, math.Abs(float64(v)))
			maxD = math.Max(maxD, math.Abs(float64(v)-vals[g.out][i]))
		}
		if maxD > 1e-4*math.Max(1, maxY) {
			t.Errorf("%s: the float64 reference differs from the kernel by %.2g (max |y| %.2g)", c.Name, maxD, maxY)
			continue
		}
		rng := rand.New(rand.NewPCG(21, 3))
		check := func(what string, x []float64, grad []float32) {
			d, e := checkGrad(t, c.Name+" "+what, x, grad, loss, rng)
			worstDir, worstEntry = math.Max(worstDir, d), math.Max(worstEntry, e)
		}
		for _, id := range leaves {
			check(g.plan.Tensors[id].Name, vals[id], g.tgrads[id])
		}
		for _, name := range names {
			check("const "+name, consts[name], g.cgrads[name])
		}
		g.exec.Close()
		kinds[c.Op.Kind] = true
	}
	t.Logf("worst error: directions %.2g of Σ|grad·v|, entries %.2g of max|grad|", worstDir, worstEntry)
	for k := model.OpKind(0); k < model.OpKind(len(opNames())); k++ {
		if !kinds[k] {
			t.Errorf("op kind %s has no case in the parity table", k)
		}
	}
}

// extraGradCases are epilogue variants the backward handles by separate paths that the
// parity table does not reach (it stays what every GPU kernel supports): ReLU read off the
// output, an activation-only Affine (the training graph's Activation), GELU after the sum.
func extraGradCases() []optest.Case {
	sh := optest.Sh
	cases := []optest.Case{
		optest.EpilogueCase("conv2d/bias-relu", model.OpConv2D, sh(9, 11, 5), sh(9, 11, 6), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups, o.Act2 = "w", "b", 3, 3, 1, 1, 1, 1, model.ActReLU
			k["w"], k["b"] = []int{6, 5, 3, 3}, []int{6}
		}),
		optest.EpilogueCase("linear/act2-gelu", model.OpLinear, sh(5, 7, 13), sh(5, 7, 9), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.Act2 = "w", "b", model.ActGELU
			k["w"], k["b"] = []int{9, 13}, []int{9}
		}),
		optest.EpilogueCase("affine/relu-only", model.OpAffine, sh(9, 11, 13), sh(9, 11, 13), func(o *model.Op, _ map[string][]int) {
			o.Act1 = model.ActReLU
		}),
		optest.EpilogueCase("affine/gelu-only", model.OpAffine, sh(9, 11, 13), sh(9, 11, 13), func(o *model.Op, _ map[string][]int) {
			o.Act2 = model.ActGELU
		}),
	}
	cases = append(cases, optest.Case{Name: "add/3-gelu", Op: model.Op{Kind: model.OpAdd, Inputs: []int{0, 1, 1}, Act2: model.ActGELU},
		In: []model.Shape{sh(9, 11, 7), sh(9, 11, 7)}, Out: sh(9, 11, 7)})
	return cases
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func opNames() []string {
	var names []string
	for k := model.OpKind(0); ; k++ {
		s := k.String()
		if len(s) > 7 && s[:7] == "OpKind(" {
			return names
		}
		names = append(names, s)
	}
}

// checkGrad compares grad with central differences of loss w.r.t. x (float64, changed in
// place and restored): two random directions and four entries (see
// TestBackwardFiniteDifferences for the step and the tolerance). It returns the worst
// errors relative to Σ|grad·v| and to max|grad|.
func checkGrad(t *testing.T, what string, x []float64, grad []float32, loss func() float64, rng *rand.Rand) (worstDir, worstEntry float64) {
	t.Helper()
	var ss, gmax float64
	for i, v := range x {
		ss += v * v
		gmax = math.Max(gmax, math.Abs(float64(grad[i])))
	}
	h := 1e-6 * math.Max(math.Sqrt(ss/float64(len(x))), 1e-3)
	orig := append([]float64(nil), x...)
	v := make([]float64, len(x))
	for k := 0; k < 2; k++ {
		var an, mag float64
		for i := range v {
			v[i] = rng.NormFloat64()
			an += float64(grad[i]) * v[i]
			mag += math.Abs(float64(grad[i]) * v[i])
		}
		for i := range x {
			x[i] = orig[i] + h*v[i]
		}
		lp := loss()
		for i := range x {
			x[i] = orig[i] - h*v[i]
		}
		lm := loss()
		copy(x, orig)
		fd := (lp - lm) / (2 * h)
		e := math.Abs(fd-an) / math.Max(mag, 1e-30)
		worstDir = math.Max(worstDir, e)
		if math.Abs(fd-an) > 2e-5*mag+1e-4*math.Abs(fd) {
			t.Errorf("%s: Σ grad·v = %.9g, finite difference %.9g (relative to Σ|grad·v| %.2g)", what, an, fd, e)
		}
	}
	for _, i := range []int{0, len(x) - 1, rng.IntN(len(x)), rng.IntN(len(x))} {
		x[i] = orig[i] + h
		lp := loss()
		x[i] = orig[i] - h
		lm := loss()
		x[i] = orig[i]
		fd := (lp - lm) / (2 * h)
		e := math.Abs(fd-float64(grad[i])) / math.Max(gmax, 1e-30)
		worstEntry = math.Max(worstEntry, e)
		if math.Abs(fd-float64(grad[i])) > 1e-4*gmax+1e-3*math.Abs(fd) {
			t.Errorf("%s[%d]: gradient %.9g, finite difference %.9g", what, i, grad[i], fd)
		}
	}
	return worstDir, worstEntry
}

// TestDeformSampleBackwardQuirk pins torchvision's rule at the border: exactly at py = −1 the
// forward sample is 0 and the input gradient is 0, but the offset gradient is not
// (get_coordinate_weight has no range test); just below −1 both are 0.
func TestDeformSampleBackwardQuirk(t *testing.T) {
	const h, w = 3, 4
	x := make([]float32, h*w)
	for i := range x {
		x[i] = float32(i + 1)
	}
	run := func(oy, ox float32) (dx []float32, doff []float32) {
		off := make([]float32, h*w*2)
		off[2*(1*w+1)], off[2*(1*w+1)+1] = oy, ox // pixel (1, 1) samples at (1+oy, 1+ox)
		dy := make([]float32, h*w)
		dy[1*w+1] = 1
		d := &deformSampleBackward{x: x, off: off, dy: dy, dx: make([]float32, h*w), doff: make([]float32, h*w*2), h: h, w: w, c: 1}
		d.chunk(0, 0, 1)
		return d.dx, d.doff[2*(1*w+1) : 2*(1*w+1)+2]
	}
	dx, doff := run(-2, 0.5) // py = −1 exactly, px = 1.5
	for i, v := range dx {
		if v != 0 {
			t.Errorf("py = −1: input gradient [%d] = %v, want 0", i, v)
		}
	}
	// Corners (−1, 1), (−1, 2) are out of range, (0, 1), (0, 2) in: d/dpy = 0.5·x[0,1] + 0.5·x[0,2].
	if want := 0.5*x[1] + 0.5*x[2]; doff[0] != want {
		t.Errorf("py = −1: offset gradient (y) = %v, want %v (torchvision)", doff[0], want)
	}
	_, doff = run(-2.25, 0.5)
	if doff[0] != 0 || doff[1] != 0 {
		t.Errorf("py = −1.25: offset gradient %v, want 0", doff)
	}
}

// TestExp32 checks the float32 exp against math.Exp over [−87, 88].
func TestExp32(t *testing.T) {
	worst := 0.0
	for i := -870000; i <= 880000; i++ {
		x := float32(i) * 1e-4
		want := math.Exp(float64(x))
		e := math.Abs(float64(exp32(x))-want) / want
		worst = math.Max(worst, e)
	}
	if worst > 2.5e-7 {
		t.Fatalf("max relative error of exp32 %.3g", worst)
	}
	if exp32(-90) != 0 {
		t.Errorf("exp32(−90) = %v, want 0", exp32(-90))
	}
	t.Logf("max relative error of exp32 %.3g", worst)
}

// TestGELUGrad checks d/dx GELU against the float64 formula Φ(x) + x·φ(x).
func TestGELUGrad(t *testing.T) {
	worst := 0.0
	for i := -100000; i <= 100000; i++ {
		x := float64(i) * 1e-4
		want := 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		worst = math.Max(worst, math.Abs(float64(geluGrad(float32(x)))-want))
	}
	if worst > 1e-6 {
		t.Fatalf("max |geluGrad − exact| = %.3g", worst)
	}
	t.Logf("max |geluGrad − exact| = %.3g", worst)
}

// TestGELUGradSIMD checks the vectorised GELU derivative against the scalar one.
func TestGELUGradSIMD(t *testing.T) {
	var z []float32
	for i := -20000; i <= 20013; i++ {
		z = append(z, float32(i)*7e-4)
	}
	z = append(z, -40, 40, 0, -13.3, 13.3)
	d := make([]float32, len(z))
	for i := range d {
		d[i] = 1.5
	}
	actGrad(d, z, model.ActGELU)
	worst := 0.0
	for i, v := range z {
		want := 1.5 * float64(geluGrad(v))
		worst = math.Max(worst, math.Abs(float64(d[i])-want))
	}
	if worst > 1e-6 {
		t.Fatalf("max |SIMD − scalar| GELU' = %.3g", worst)
	}
	t.Logf("max |SIMD − scalar| GELU' = %.3g", worst)
}
