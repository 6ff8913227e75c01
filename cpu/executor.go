// Package cpu is the reference executor of a model.Plan: float32 on all cores, in Go, with
// AVX2/FMA assembly for the inner loops (gemm, dot, axpy, GELU) where the CPU has them.
// It is the oracle every other executor and every plan rewrite is tested against, and it
// is tested against the official fixtures. Buffers are planned once per plan (tensors
// whose lifetimes do not overlap share memory) and every op is prepared once, so running
// the same plan again allocates nothing.
package cpu

import (
	"fmt"
	"sort"

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

// New prepares the plan: it plans the buffers, re-lays out weights and builds one kernel per op.
func New(p *model.Plan, opt Options) (*Executor, error) {
	e := &Executor{plan: p, pool: newPool(opt.Threads), progress: opt.Progress}
	keep := make([]bool, len(p.Tensors))
	for _, id := range opt.Keep {
		keep[id] = true
	}
	for _, o := range p.Outputs {
		keep[o.Tensor] = true
	}
	keep[p.Input] = true
	if opt.KeepAll {
		for i := range keep {
			keep[i] = true
		}
	}
	e.planBuffers(keep)
	for i := range p.Ops {
		k, err := e.prepare(&p.Ops[i])
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("op #%d %s %s: %w", i, p.Ops[i].Kind, p.Ops[i].Name, err)
		}
		e.kernels = append(e.kernels, k)
	}
	return e, nil
}

// planBuffers gives every tensor a buffer; a tensor's memory is reused by later tensors once
// its last reader has run (best fit among free slabs).
func (e *Executor) planBuffers(keep []bool) {
	p := e.plan
	last := make([]int, len(p.Tensors))
	for i := range last {
		last[i] = -1
	}
	for i, op := range p.Ops {
		for _, id := range op.Inputs {
			last[id] = i
		}
		if op.Residual != model.NoTensor {
			last[op.Residual] = i
		}
	}
	type slab struct{ data []float32 }
	var free []*slab
	owner := make([]*slab, len(p.Tensors))
	get := func(n int) *slab {
		best := -1
		for i, s := range free {
			if len(s.data) >= n && (best < 0 || len(s.data) < len(free[best].data)) {
				best = i
			}
		}
		if best >= 0 && len(free[best].data) <= 2*n+1024 {
			s := free[best]
			free = append(free[:best], free[best+1:]...)
			return s
		}
		e.bytes += int64(n) * 4
		return &slab{data: make([]float32, n)}
	}
	e.bufs = make([][]float32, len(p.Tensors))
	assign := func(id int) {
		if owner[id] != nil {
			return
		}
		n := p.Tensors[id].Shape.Numel()
		owner[id] = get(n)
		e.bufs[id] = owner[id].data[:n]
	}
	assign(p.Input)
	for i, op := range p.Ops {
		assign(op.Output)
		freed := map[int]bool{} // an op may read a tensor twice (shared keys and values)
		for _, id := range append(append([]int{}, op.Inputs...), op.Residual) {
			if id != model.NoTensor && last[id] == i && !keep[id] && owner[id] != nil && !freed[id] {
				freed[id] = true
				free = append(free, owner[id])
			}
		}
		if last[op.Output] < 0 && !keep[op.Output] {
			free = append(free, owner[op.Output])
		}
	}
	sort.Slice(free, func(i, j int) bool { return len(free[i].data) < len(free[j].data) })
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
	if op.Residual != model.NoTensor {
		ep.residual = e.bufs[op.Residual]
	}
	return ep, nil
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
		s := ins(0)
		w, err := e.constData(op.Weight, out.C*s.C)
		if err != nil {
			return nil, err
		}
		ep, err := e.epilogue(op, out.C)
		if err != nil {
			return nil, err
		}
		l := &linear{x: in(0), y: y, w: newWeightMatrix(w, out.C, s.C), bias: ep.bias, n: s.H * s.W, k: s.C, m: out.C, ep: ep}
		l.ep.bias = nil
		for i := 0; i < threads; i++ {
			l.scratch = append(l.scratch, newGemmScratch(s.C))
		}
		return l, nil
	case model.OpConv2D:
		s := ins(0)
		if op.Groups <= 0 || s.C%op.Groups != 0 || out.C%op.Groups != 0 {
			return nil, fmt.Errorf("bad groups %d for %d→%d channels", op.Groups, s.C, out.C)
		}
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
		c := &conv2d{x: in(0), y: y, w: wms, bias: ep.bias,
			ih: s.H, iw: s.W, ic: s.C, oh: out.H, ow: out.W, oc: out.C, kh: op.KH, kw: op.KW,
			stride: op.Stride, pt: op.PadT, pl: op.PadL, groups: op.Groups, ep: ep,
			pointwise: op.KH == 1 && op.KW == 1 && op.Stride == 1 && op.PadT == 0 && op.PadL == 0 && s.H == out.H && s.W == out.W}
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
		if op.Residual != model.NoTensor {
			l.res = e.bufs[op.Residual]
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
			if ins(i) != out {
				return nil, fmt.Errorf("input %d shape %s, output %s", i, ins(i), out)
			}
			a.xs = append(a.xs, in(i))
		}
		return a, nil
	case model.OpResize:
		s := ins(0)
		return &resize{x: in(0), y: y, ih: s.H, iw: s.W, c: s.C, oh: out.H, ow: out.W,
			ry: model.ResizeTaps(s.H, out.H), rx: model.ResizeTaps(s.W, out.W)}, nil
	case model.OpConcat:
		k := &concat{y: y, n: out.H * out.W, c: out.C}
		total := 0
		for i := range op.Inputs {
			if ins(i).H != out.H || ins(i).W != out.W {
				return nil, fmt.Errorf("input %d shape %s, output %s", i, ins(i), out)
			}
			k.xs = append(k.xs, in(i))
			k.cs = append(k.cs, ins(i).C)
			total += ins(i).C
		}
		if total != out.C {
			return nil, fmt.Errorf("inputs have %d channels, output %d", total, out.C)
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
		if out.C != 18 {
			return nil, fmt.Errorf("OffsetCoords wants 18 channels, got %d", out.C)
		}
		return &offsetCoords{x: in(0), y: y, h: out.H, w: out.W}, nil
	case model.OpDeformSample:
		if ins(1).C != 2*out.C {
			return nil, fmt.Errorf("offsets have %d channels, want %d", ins(1).C, 2*out.C)
		}
		return &deformSample{x: in(0), off: in(1), y: y, h: out.H, w: out.W, c: out.C}, nil
	case model.OpTaskAttention:
		q, k, v := ins(0), ins(1), ins(2)
		a := &taskAttention{q: in(0), k: in(1), v: in(2), y: y, hw: out.H * out.W, heads: op.Heads,
			cq: q.C, ck: k.C, cv: v.C, cy: out.C, shared: op.SharedKV}
		if op.Heads > 0 && q.H == out.H && k.H%out.H == 0 {
			a.t = k.H / out.H
		}
		switch {
		case a.t == 0 || q.C%op.Heads != 0 || out.C%op.Heads != 0 || v.H != k.H:
			return nil, fmt.Errorf("bad task attention shapes q=%s k=%s v=%s out=%s heads=%d", q, k, v, out, op.Heads)
		case op.SharedKV && (k.C != q.C/op.Heads || out.C != op.Heads*v.C):
			return nil, fmt.Errorf("shared task attention: k has %d channels, want %d; out %d, want %d", k.C, q.C/op.Heads, out.C, op.Heads*v.C)
		case !op.SharedKV && (k.C != q.C || v.C != out.C):
			return nil, fmt.Errorf("task attention: q %d, k %d, v %d, out %d channels", q.C, k.C, v.C, out.C)
		}
		for i := 0; i < threads; i++ {
			a.scratch = append(a.scratch, make([]float32, a.t))
		}
		return a, nil
	case model.OpWindowAttention:
		c, win := out.C, op.Window
		if op.Heads <= 0 || c%op.Heads != 0 || win <= 0 {
			return nil, fmt.Errorf("bad window attention: %d channels, %d heads, window %d", c, op.Heads, win)
		}
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
	}
	return nil, fmt.Errorf("unsupported op kind %s", op.Kind)
}
