// Package cpu is the reference executor of a model.Plan: float32 on all cores, in Go, with
// AVX2/FMA assembly for the inner loops (gemm, dot, axpy, GELU) where the CPU has them.
// It is the oracle every other executor and every plan rewrite is tested against, and it
// is tested against the official fixtures. Buffers are planned once per plan (tensors
// whose lifetimes do not overlap share memory) and every op is prepared once, so running
// the same plan again allocates nothing.
package cpu

import (
	"fmt"
	"math"

	"github.com/demt-web/demt/model"
)

// Options tune an Executor.
type Options struct {
	// Threads is the number of worker goroutines (0 = GOMAXPROCS).
	Threads int
	// Keep lists tensors (besides the outputs) that must stay readable after Run.
	Keep []int
	// KeepAll keeps every tensor (for verifying intermediates; uses more memory).
	KeepAll bool
	// Progress, if set, is called after each op with the ops done and the total.
	Progress func(done, total int)
}

// Executor runs one plan.
type Executor struct {
	plan     *model.Plan
	progress func(done, total int)
	bufs     [][]float32 // per tensor (views into slabs)
	kernels  []kernel
	pool     *pool
	bytes    int64
}

type kernel interface{ run(p *pool) }

// New prepares the plan: it validates it, plans the buffers, re-lays out weights and builds
// one kernel per op.
func New(p *model.Plan, opt Options) (*Executor, error) {
	pl := newPool(opt.Threads)
	e, err := newExecutor(p, opt, pl)
	if err != nil {
		pl.stop()
		return nil, err
	}
	return e, nil
}

// newExecutor is New on an existing worker pool (shared by the images of a Trainer).
func newExecutor(p *model.Plan, opt Options, pl *pool) (*Executor, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	keep := make([]bool, len(p.Tensors))
	for _, id := range opt.Keep {
		if id < 0 || id >= len(p.Tensors) {
			return nil, fmt.Errorf("keep tensor %d out of range", id)
		}
		keep[id] = true
	}
	mem, err := model.PlanMemory(p, model.MemoryOptions{Keep: keep, KeepAll: opt.KeepAll})
	if err != nil {
		return nil, err
	}
	e := &Executor{plan: p, pool: pl, progress: opt.Progress}
	e.bytes = mem.Bytes()
	slabs := make([][]float32, len(mem.SlotElems))
	for i, n := range mem.SlotElems {
		slabs[i] = make([]float32, n)
	}
	e.bufs = make([][]float32, len(p.Tensors))
	for id, s := range mem.Slot {
		if s != model.NoSlot {
			e.bufs[id] = slabs[s][:p.Tensors[id].Shape.Numel()]
		}
	}
	for i := range p.Ops {
		k, err := e.prepare(&p.Ops[i])
		if err != nil {
			return nil, fmt.Errorf("op #%d %s %s: %w", i, p.Ops[i].Kind, p.Ops[i].Name, err)
		}
		e.kernels = append(e.kernels, k)
	}
	return e, nil
}

// Bytes returns the activation memory the executor allocated.
func (e *Executor) Bytes() int64 { return e.bytes }

// Close stops the worker goroutines.
func (e *Executor) Close() { e.pool.stop() }

// Plan returns the plan the executor runs.
func (e *Executor) Plan() *model.Plan { return e.plan }

// Run computes the forward pass of input, a normalised [H, W, 3] channels-last image.
func (e *Executor) Run(input []float32) error {
	in := e.bufs[e.plan.Input]
	if len(input) != len(in) {
		return fmt.Errorf("input has %d values, the plan wants %d (%s)", len(input), len(in), e.plan.Tensors[e.plan.Input].Shape)
	}
	copy(in, input)
	for i, k := range e.kernels {
		k.run(e.pool)
		if e.progress != nil {
			e.progress(i+1, len(e.kernels))
		}
	}
	return nil
}

// Tensor returns the current contents of tensor id ([H, W, C]); valid for outputs, kept
// tensors and the input after Run.
func (e *Executor) Tensor(id int) []float32 { return e.bufs[id] }

func (e *Executor) constData(name string, want int) ([]float32, error) {
	if name == "" {
		return nil, nil
	}
	c, ok := e.plan.Consts[name]
	if !ok {
		return nil, fmt.Errorf("missing constant %s", name)
	}
	if want >= 0 && len(c.Data) != want {
		return nil, fmt.Errorf("constant %s has %d values, want %d", name, len(c.Data), want)
	}
	return c.Data, nil
}

func (e *Executor) epilogue(op *model.Op, cout int) (epilogue, error) {
	ep := epilogue{outScale: op.OutScale, act1: op.Act1, act2: op.Act2}
	var err error
	if ep.bias, err = e.constData(op.Bias, cout); err != nil {
		return ep, err
	}
	if ep.scale, err = e.constData(op.Scale, cout); err != nil {
		return ep, err
	}
	if ep.shift, err = e.constData(op.Shift, cout); err != nil {
		return ep, err
	}
	if r, ok := op.Residual.Get(); ok {
		ep.residual = e.bufs[r]
	}
	return ep, nil
}

// prepareLinear prepares the Linear (weight, bias and epilogue) of op from x (of shape s) to y.
func (e *Executor) prepareLinear(op *model.Op, x []float32, s model.Shape, y []float32, out model.Shape) (*linear, error) {
	w, err := e.constData(op.Weight, out.C*s.C)
	if err != nil {
		return nil, err
	}
	ep, err := e.epilogue(op, out.C)
	if err != nil {
		return nil, err
	}
	l := &linear{x: x, y: y, w: newWeightMatrix(w, out.C, s.C), bias: ep.bias, n: s.H * s.W, k: s.C, m: out.C, ep: ep}
	l.ep.bias = nil
	for i := 0; i < e.pool.n; i++ {
		l.scratch = append(l.scratch, newGemmScratch(s.C))
	}
	return l, nil
}

func (e *Executor) prepare(op *model.Op) (kernel, error) {
	p := e.plan
	out := p.Tensors[op.Output].Shape
	y := e.bufs[op.Output]
	in := func(i int) []float32 { return e.bufs[op.Inputs[i]] }
	ins := func(i int) model.Shape { return p.Tensors[op.Inputs[i]].Shape }
	threads := e.pool.n
	switch op.Kind {
	case model.OpLinear:
		return e.prepareLinear(op, in(0), ins(0), y, out)
	case model.OpConv2D:
		s := ins(0)
		cing := s.C / op.Groups
		w, err := e.constData(op.Weight, out.C*cing*op.KH*op.KW)
		if err != nil {
			return nil, err
		}
		ep, err := e.epilogue(op, out.C)
		if err != nil {
			return nil, err
		}
		coutg, kp := out.C/op.Groups, cing*op.KH*op.KW
		rw := model.ConvWeightOHWI(w, out.C, cing, op.KH, op.KW)
		var wms []*weightMatrix
		for g := 0; g < op.Groups; g++ {
			wms = append(wms, newWeightMatrix(rw[g*coutg*kp:(g+1)*coutg*kp], coutg, kp))
		}
		c := &conv2d{x: in(0), y: y, w: wms, bias: ep.bias, ep: ep, convGeom: convGeom{
			ih: s.H, iw: s.W, ic: s.C, oh: out.H, ow: out.W, oc: out.C, kh: op.KH, kw: op.KW,
			stride: op.Stride, pt: op.PadT, pl: op.PadL, groups: op.Groups,
			pointwise: op.KH == 1 && op.KW == 1 && op.Stride == 1 && op.PadT == 0 && op.PadL == 0 && s.H == out.H && s.W == out.W}}
		c.ep.bias = nil
		for i := 0; i < threads; i++ {
			c.scratch = append(c.scratch, make([]float32, convBlock*kp))
			c.gemmScratch = append(c.gemmScratch, newGemmScratch(kp))
		}
		return c, nil
	case model.OpLayerNorm:
		w, err := e.constData(op.Weight, out.C)
		if err != nil {
			return nil, err
		}
		b, err := e.constData(op.Bias, out.C)
		if err != nil {
			return nil, err
		}
		l := &layerNorm{x: in(0), y: y, w: w, b: b, n: out.H * out.W, c: out.C, eps: float64(op.Eps)}
		if r, ok := op.Residual.Get(); ok {
			l.res = e.bufs[r]
		}
		return l, nil
	case model.OpAffine:
		ep, err := e.epilogue(op, out.C)
		if err != nil {
			return nil, err
		}
		return &affine{x: in(0), y: y, res: ep.residual, scale: ep.scale, shift: ep.shift, act1: op.Act1,
			act2: op.Act2, n: out.H * out.W, c: out.C}, nil
	case model.OpAdd:
		a := &add{y: y, act: op.Act2, n: out.Numel()}
		for i := range op.Inputs {
			a.xs = append(a.xs, in(i))
		}
		return a, nil
	case model.OpResize:
		s := ins(0)
		return &resize{x: in(0), y: y, ih: s.H, iw: s.W, c: s.C, oh: out.H, ow: out.W,
			ry: model.ResizeTaps(s.H, out.H), rx: model.ResizeTaps(s.W, out.W)}, nil
	case model.OpConcat:
		k := &concat{y: y, n: out.H * out.W, c: out.C}
		for i := range op.Inputs {
			k.xs = append(k.xs, in(i))
			k.cs = append(k.cs, ins(i).C)
		}
		return k, nil
	case model.OpStack:
		k := &stack{y: y}
		for i := range op.Inputs {
			k.xs = append(k.xs, in(i))
		}
		return k, nil
	case model.OpPatchMerge:
		s := ins(0)
		return &patchMerge{x: in(0), y: y, ih: s.H, iw: s.W, c: s.C, oh: out.H, ow: out.W}, nil
	case model.OpOffsetCoords:
		return &offsetCoords{x: in(0), y: y, h: out.H, w: out.W}, nil
	case model.OpDeformSample:
		return &deformSample{x: in(0), off: in(1), y: y, h: out.H, w: out.W, c: out.C}, nil
	case model.OpTaskAttention:
		q, k, v := ins(0), ins(1), ins(2)
		a := &taskAttention{q: in(0), k: in(1), v: in(2), y: y, hw: out.H * out.W, heads: op.Heads,
			cq: q.C, ck: k.C, cv: v.C, cy: out.C, shared: op.SharedKV, t: k.H / out.H}
		for i := 0; i < threads; i++ {
			a.scratch = append(a.scratch, make([]float32, a.t))
		}
		return a, nil
	case model.OpWindowAttention:
		c, win := out.C, op.Window
		qkvW, err := e.constData(op.QKVWeight, 3*c*c)
		if err != nil {
			return nil, err
		}
		qkvB, err := e.constData(op.QKVBias, 3*c)
		if err != nil {
			return nil, err
		}
		projW, err := e.constData(op.Weight, c*c)
		if err != nil {
			return nil, err
		}
		projB, err := e.constData(op.Bias, c)
		if err != nil {
			return nil, err
		}
		table, err := e.constData(op.Table, (2*win-1)*(2*win-1)*op.Heads)
		if err != nil {
			return nil, err
		}
		wa := &windowAttention{x: in(0), y: y, h: out.H, w: out.W, c: c, win: win, shift: op.ShiftSize, heads: op.Heads,
			hp: (out.H + win - 1) / win * win, wp: (out.W + win - 1) / win * win,
			qkvW: newWeightMatrix(qkvW, 3*c, c), qkvB: qkvB, projW: newWeightMatrix(projW, c, c), projB: projB,
			bias: model.WindowBias(table, op.Heads, win)}
		for i := 0; i < threads; i++ {
			wa.scratch = append(wa.scratch, newWindowScratch(win*win, c))
		}
		return wa, nil
	case model.OpDeformLinear:
		s := ins(0)
		l, err := e.prepareLinear(op, nil, s, y, out)
		if err != nil {
			return nil, err
		}
		d := &deformLinear{lin: l, x: in(0), off: in(1), h: s.H, w: s.W, c: s.C}
		for i := 0; i < threads; i++ {
			d.sampled = append(d.sampled, make([]float32, deformLinearBlock*s.C))
		}
		return d, nil
	case model.OpBatchNorm:
		g, _ := e.constData(op.Weight, out.C)
		b, _ := e.constData(op.Bias, out.C)
		m, _ := e.constData(op.Mean, out.C)
		v, _ := e.constData(op.Var, out.C)
		bn := &batchNorm{x: in(0), y: y, mean: m, bia: b, scale: make([]float32, out.C), n: out.H * out.W, c: out.C}
		for i := range bn.scale {
			bn.scale[i] = float32(float64(g[i]) / math.Sqrt(float64(v[i])+float64(op.Eps)))
		}
		return bn, nil
	case model.OpActivation:
		return &activation{x: in(0), y: y, act: op.Act1, n: out.Numel()}, nil
	}
	return nil, fmt.Errorf("unsupported op kind %s", op.Kind)
}
