package model

import "math"

// FoldBatchNorm turns every eval-mode BatchNorm into an Affine with the folded per-channel
// scale = γ/√(var+ε) and shift = β − mean·scale (computed in float64).
func (p *Plan) FoldBatchNorm() {
	for i := range p.Ops {
		op := &p.Ops[i]
		if op.Kind != OpBatchNorm {
			continue
		}
		g, be, m, v := p.Consts[op.Weight].Data, p.Consts[op.Bias].Data, p.Consts[op.Mean].Data, p.Consts[op.Var].Data
		sc, sh := make([]float32, len(g)), make([]float32, len(g))
		for c := range sc {
			s := float64(g[c]) / math.Sqrt(float64(v[c])+float64(op.Eps))
			sc[c] = float32(s)
			sh[c] = float32(float64(be[c]) - float64(m[c])*s)
		}
		*op = Op{Kind: OpAffine, Name: op.Name, Inputs: op.Inputs, Output: op.Output,
			Scale: p.addConst(op.Name+"#scale", op.Name, []int{len(sc)}, sc),
			Shift: p.addConst(op.Name+"#shift", op.Name, []int{len(sh)}, sh)}
	}
}

// FuseEpilogue merges elementwise tails into the epilogue of the op that produces their
// input, when that op's output has no other reader: an Activation, an Affine (a folded
// BatchNorm, or a uniform scale that becomes the Linear's OutScale) and a two-input Add
// (the other input becomes the Residual) into a Conv2D or Linear, in the epilogue's order
// Act2(Act1(acc·OutScale)·Scale + Shift + Residual); a residual Add into a LayerNorm or an
// Affine; an Activation into an Add or an Affine. It repeats until nothing changes.
func (p *Plan) FuseEpilogue() {
	for changed := true; changed; {
		changed = false
		readers, prod := p.readers(), p.producer()
		for ni := range p.Ops {
			n := &p.Ops[ni]
			if n.Kind == opDead {
				continue
			}
			for k, in := range n.Inputs {
				pi := prod[in]
				if pi < 0 || readers[in] != 1 || p.Ops[pi].Kind == opDead {
					continue
				}
				if p.fuseInto(&p.Ops[pi], pi, n, k, prod) {
					p.Ops[pi].Output, p.Ops[pi].Name = n.Output, n.Name
					n.Kind = opDead
					changed = true
					break
				}
			}
		}
		p.removeDead()
	}
}

// fuseInto merges n, which reads the output of op (op #pi) as its input k, into op's
// epilogue if the epilogue can express it.
func (p *Plan) fuseInto(op *Op, pi int, n *Op, k int, prod []int) bool {
	_, res := op.Residual.Get()
	gemm := op.Kind == OpConv2D || op.Kind == OpLinear
	fresh := op.Act1 == ActNone && op.Scale == "" && op.OutScale == 0 && !res && op.Act2 == ActNone
	switch n.Kind {
	case OpActivation:
		switch {
		case gemm && fresh:
			op.Act1 = n.Act1
		case (gemm || op.Kind == OpAffine || op.Kind == OpAdd) && op.Act2 == ActNone:
			op.Act2 = n.Act1
		default:
			return false
		}
		return true
	case OpAffine:
		if !gemm || op.Scale != "" || res || op.Act2 != ActNone || n.Act1 != ActNone && op.Act1 != ActNone {
			return false
		}
		if r, ok := n.Residual.Get(); ok && prod[r] > pi {
			return false // the residual must exist when op runs
		}
		if op.Act1 == ActNone && op.OutScale == 0 && n.Act1 == ActNone && n.Act2 == ActNone && !isSet(n.Residual) {
			if v, ok := p.uniformValue(n.Scale); ok && p.isZero(n.Shift) {
				op.OutScale = v
				return true
			}
		}
		if n.Act1 != ActNone {
			op.Act1 = n.Act1
		}
		op.Scale, op.Shift, op.Residual, op.Act2 = n.Scale, n.Shift, n.Residual, n.Act2
		return true
	case OpAdd:
		if len(n.Inputs) != 2 || res || op.Act2 != ActNone || !(gemm || op.Kind == OpLayerNorm || op.Kind == OpAffine) {
			return false
		}
		other := n.Inputs[1-k]
		if other == n.Inputs[k] || prod[other] > pi {
			return false
		}
		op.Residual, op.Act2 = Ref(other), n.Act2
		return true
	}
	return false
}

func isSet(r TensorRef) bool { _, ok := r.Get(); return ok }

// uniformValue returns v when constant name is a derived vector of copies of v.
func (p *Plan) uniformValue(name string) (float32, bool) {
	c := p.Consts[name]
	if c == nil || !c.Derived || len(c.Data) == 0 {
		return 0, false
	}
	for _, x := range c.Data {
		if x != c.Data[0] {
			return 0, false
		}
	}
	return c.Data[0], true
}

// isZero reports whether constant name is a derived vector of zeros.
func (p *Plan) isZero(name string) bool {
	v, ok := p.uniformValue(name)
	return ok && v == 0
}

// FuseDeformLinear replaces a DeformSample whose map only the next op, a Linear, reads by one
// DeformLinear that samples inside the Linear (the map is never stored).
func (p *Plan) FuseDeformLinear() {
	readers := p.readers()
	for i := 0; i+1 < len(p.Ops); i++ {
		d, l := &p.Ops[i], &p.Ops[i+1]
		if d.Kind != OpDeformSample || l.Kind != OpLinear || readers[d.Output] != 1 || l.Inputs[0] != d.Output || l.Residual.Is(d.Output) {
			continue
		}
		l.Kind = OpDeformLinear
		l.Inputs = []int{d.Inputs[0], d.Inputs[1]}
		d.Kind = opDead
	}
	p.removeDead()
}
