package cpu

import (
	"fmt"
	"math"

	"github.com/demt-web/demt/model"
)

// opGrads names the gradient buffers of one op's backward. Every gradient is accumulated;
// nil means "not wanted".
type opGrads struct {
	dy     []float32            // gradient of the op's output
	dx     [][]float32          // per input
	dres   []float32            // of the residual
	consts map[string][]float32 // by constant name (weight, bias, scale, shift, table, …)
	z, dz  []float32            // scratch of the output's size (Conv2D, Linear)
}

// prepareBackward builds the backward kernel of op, reading the forward's inputs and output
// from the executor's buffers (they must still hold the values of the forward run).
func (e *Executor) prepareBackward(op *model.Op, g opGrads) (kernel, error) {
	p := e.plan
	out := p.Tensors[op.Output].Shape
	y := e.bufs[op.Output]
	in := func(i int) []float32 { return e.bufs[op.Inputs[i]] }
	ins := func(i int) model.Shape { return p.Tensors[op.Inputs[i]].Shape }
	dx := func(i int) []float32 {
		if i < len(g.dx) {
			return g.dx[i]
		}
		return nil
	}
	cg := func(name string) []float32 {
		if name == "" {
			return nil
		}
		return g.consts[name]
	}
	threads := e.pool.n
	if len(g.dy) != out.Numel() {
		return nil, fmt.Errorf("output gradient has %d values, want %d", len(g.dy), out.Numel())
	}
	epGrad := func(cout int) (epilogueGrad, error) {
		ep, err := e.epilogue(op, cout)
		if err != nil {
			return epilogueGrad{}, err
		}
		return epilogueGrad{ep: ep, y: y, dy: g.dy, dres: g.dres, dbias: cg(op.Bias), dscale: cg(op.Scale), dshift: cg(op.Shift), m: cout}, nil
	}
	switch op.Kind {
	case model.OpLinear:
		s := ins(0)
		w, err := e.constData(op.Weight, out.C*s.C)
		if err != nil {
			return nil, err
		}
		eg, err := epGrad(out.C)
		if err != nil {
			return nil, err
		}
		return newLinearBackward(in(0), w, s.H*s.W, s.C, out.C, eg, dx(0), cg(op.Weight), g.z, g.dz, threads), nil
	case model.OpConv2D:
		k, err := e.prepare(op)
		if err != nil {
			return nil, err
		}
		c := k.(*conv2d)
		w, _ := e.constData(op.Weight, -1)
		eg, err := epGrad(out.C)
		if err != nil {
			return nil, err
		}
		return newConv2DBackward(c, in(0), w, eg, dx(0), cg(op.Weight), g.z, g.dz, threads), nil
	case model.OpLayerNorm:
		w, err := e.constData(op.Weight, out.C)
		if err != nil {
			return nil, err
		}
		return newLayerNormBackward(in(0), w, g.dy, dx(0), cg(op.Weight), cg(op.Bias), g.dres, out.H*out.W, out.C, float64(op.Eps), threads), nil
	case model.OpAffine:
		ep, err := e.epilogue(op, out.C)
		if err != nil {
			return nil, err
		}
		a := &affineBackward{x: in(0), y: y, res: ep.residual, scale: ep.scale, shift: ep.shift, act1: op.Act1, act2: op.Act2,
			dy: g.dy, dx: dx(0), dres: g.dres, dscale: cg(op.Scale), dshift: cg(op.Shift), n: out.H * out.W, c: out.C}
		if a.dscale != nil || a.dshift != nil {
			a.scratch, a.a1 = make([]float32, out.Numel()), make([]float32, out.Numel())
		}
		return a, nil
	case model.OpAdd:
		a := &addBackward{y: y, dy: g.dy, act: op.Act2, n: out.Numel()}
		for i := range op.Inputs {
			a.xs = append(a.xs, in(i))
			a.dxs = append(a.dxs, dx(i))
		}
		return a, nil
	case model.OpResize:
		s := ins(0)
		return newResizeBackward(g.dy, dx(0), s.H, s.W, s.C, out.H, out.W), nil
	case model.OpConcat:
		k := &concatBackward{dy: g.dy, n: out.H * out.W, c: out.C}
		for i := range op.Inputs {
			k.dxs = append(k.dxs, dx(i))
			k.cs = append(k.cs, ins(i).C)
		}
		return k, nil
	case model.OpStack:
		k := &stackBackward{dy: g.dy}
		for i := range op.Inputs {
			k.dxs = append(k.dxs, dx(i))
			k.ns = append(k.ns, ins(i).Numel())
		}
		return k, nil
	case model.OpPatchMerge:
		s := ins(0)
		return &patchMergeBackward{dy: g.dy, dx: dx(0), ih: s.H, iw: s.W, c: s.C, oh: out.H, ow: out.W}, nil
	case model.OpOffsetCoords:
		return &offsetCoordsBackward{dy: g.dy, dx: dx(0)}, nil
	case model.OpDeformSample:
		return &deformSampleBackward{x: in(0), off: in(1), dy: g.dy, dx: dx(0), doff: dx(1), h: out.H, w: out.W, c: out.C}, nil
	case model.OpTaskAttention:
		k, err := e.prepare(op)
		if err != nil {
			return nil, err
		}
		a := k.(*taskAttention)
		for i := range a.scratch {
			a.scratch[i] = make([]float32, 2*a.t) // probabilities and dA
		}
		b := &taskAttentionBackward{fwd: a, dy: g.dy, dq: dx(0), dk: dx(1), dv: dx(2)}
		if len(op.Inputs) > 2 && op.Inputs[2] == op.Inputs[1] {
			b.dv = dx(1) // shared keys and values: one tensor, one gradient
		}
		return b, nil
	case model.OpWindowAttention:
		k, err := e.prepare(op)
		if err != nil {
			return nil, err
		}
		wa := k.(*windowAttention)
		qkvW, _ := e.constData(op.QKVWeight, -1)
		projW, _ := e.constData(op.Weight, -1)
		table, _ := e.constData(op.Table, -1)
		return newWindowAttentionBackward(wa, qkvW, projW, table, g.dy, dx(0), cg(op.QKVWeight), cg(op.QKVBias),
			cg(op.Weight), cg(op.Bias), cg(op.Table), threads), nil
	case model.OpActivation:
		return &affineBackward{x: in(0), y: y, act1: op.Act1, dy: g.dy, dx: dx(0), n: out.H * out.W, c: out.C}, nil
	case model.OpBatchNorm:
		k, err := e.prepare(op)
		if err != nil {
			return nil, err
		}
		bn := k.(*batchNorm)
		gamma, _ := e.constData(op.Weight, out.C)
		v, _ := e.constData(op.Var, out.C)
		b := &batchNormEvalBackward{fwd: bn, gamma: gamma, invStd: make([]float32, out.C), dy: g.dy, dx: dx(0),
			dgamma: cg(op.Weight), dbeta: cg(op.Bias)}
		for i := range b.invStd {
			b.invStd[i] = float32(1 / math.Sqrt(float64(v[i])+float64(op.Eps)))
		}
		return b, nil
	case model.OpDeformLinear:
		s := ins(0)
		w, err := e.constData(op.Weight, out.C*s.C)
		if err != nil {
			return nil, err
		}
		eg, err := epGrad(out.C)
		if err != nil {
			return nil, err
		}
		sampled, ds := make([]float32, s.Numel()), make([]float32, s.Numel())
		return &deformLinearBackward{
			sample:  &deformSample{x: in(0), off: in(1), y: sampled, h: s.H, w: s.W, c: s.C},
			lin:     newLinearBackward(sampled, w, s.H*s.W, s.C, out.C, eg, ds, cg(op.Weight), g.z, g.dz, threads),
			dsample: &deformSampleBackward{x: in(0), off: in(1), dy: ds, dx: dx(0), doff: dx(1), h: s.H, w: s.W, c: s.C},
			ds:      ds,
		}, nil
	}
	return nil, fmt.Errorf("no backward for op kind %s", op.Kind)
}
