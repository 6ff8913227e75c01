package model

import "fmt"

// Validate checks every op of the plan once: tensor ids, input and output shapes, attributes
// and the sizes of the constants it reads. Executors call it instead of re-checking; an error
// names the op.
func (p *Plan) Validate() error {
	if p.Input < 0 || p.Input >= len(p.Tensors) {
		return fmt.Errorf("plan: input tensor %d of %d", p.Input, len(p.Tensors))
	}
	for i := range p.Ops {
		if err := p.validateOp(&p.Ops[i]); err != nil {
			return fmt.Errorf("op #%d %s %s: %w", i, p.Ops[i].Kind, p.Ops[i].Name, err)
		}
	}
	for _, o := range p.Outputs {
		if o.Tensor < 0 || o.Tensor >= len(p.Tensors) {
			return fmt.Errorf("output %s: tensor %d of %d", o.Task, o.Tensor, len(p.Tensors))
		}
	}
	return nil
}

// wantInputs is the number of inputs of each kind (-1: one or more).
var wantInputs = [numOpKinds]int{
	OpConv2D: 1, OpLinear: 1, OpLayerNorm: 1, OpAffine: 1, OpAdd: -1, OpResize: 1, OpConcat: -1, OpStack: -1,
	OpWindowAttention: 1, OpPatchMerge: 1, OpOffsetCoords: 1, OpDeformSample: 2, OpTaskAttention: 3,
	OpBatchNorm: 1, OpActivation: 1, OpDeformLinear: 2,
}

func (p *Plan) validateOp(op *Op) error {
	if op.Kind >= numOpKinds {
		return fmt.Errorf("unknown op kind")
	}
	n := wantInputs[op.Kind]
	if n >= 0 && len(op.Inputs) != n || n < 0 && len(op.Inputs) == 0 {
		return fmt.Errorf("%d inputs", len(op.Inputs))
	}
	for _, id := range append([]int{op.Output}, op.Inputs...) {
		if id < 0 || id >= len(p.Tensors) {
			return fmt.Errorf("tensor %d of %d", id, len(p.Tensors))
		}
	}
	out := p.Tensors[op.Output].Shape
	if out.H <= 0 || out.W <= 0 || out.C <= 0 {
		return fmt.Errorf("output shape %s", out)
	}
	if r, ok := op.Residual.Get(); ok {
		if r < 0 || r >= len(p.Tensors) {
			return fmt.Errorf("residual tensor %d of %d", r, len(p.Tensors))
		}
		if s := p.Tensors[r].Shape; s != out {
			return fmt.Errorf("residual shape %s, output %s", s, out)
		}
	}
	if (op.Scale == "") != (op.Shift == "") {
		return fmt.Errorf("scale %q without shift %q (or the reverse)", op.Scale, op.Shift)
	}
	in := func(i int) Shape { return p.Tensors[op.Inputs[i]].Shape }
	same := func() error {
		if in(0) != out {
			return fmt.Errorf("input shape %s, output %s", in(0), out)
		}
		return nil
	}
	switch op.Kind {
	case OpConv2D:
		s := in(0)
		if op.Groups <= 0 || s.C%op.Groups != 0 || out.C%op.Groups != 0 {
			return fmt.Errorf("bad groups %d for %d→%d channels", op.Groups, s.C, out.C)
		}
		if op.KH <= 0 || op.KW <= 0 || op.Stride <= 0 || op.PadT < 0 || op.PadL < 0 || op.PadT >= op.KH || op.PadL >= op.KW {
			return fmt.Errorf("bad kernel %dx%d stride %d pad %d,%d", op.KH, op.KW, op.Stride, op.PadT, op.PadL)
		}
		if (out.H-1)*op.Stride-op.PadT >= s.H || (out.W-1)*op.Stride-op.PadL >= s.W {
			return fmt.Errorf("output %s reads outside input %s", out, s)
		}
		return p.checkConsts(op, out.C*(s.C/op.Groups)*op.KH*op.KW, out.C)
	case OpLinear:
		s := in(0)
		if s.H != out.H || s.W != out.W {
			return fmt.Errorf("input shape %s, output %s", s, out)
		}
		return p.checkConsts(op, out.C*s.C, out.C)
	case OpDeformLinear:
		s, o := in(0), in(1)
		if o.H != s.H || o.W != s.W || o.C != 2*s.C || s.H != out.H || s.W != out.W {
			return fmt.Errorf("input %s, offsets %s (want %d channels), output %s", s, o, 2*s.C, out)
		}
		return p.checkConsts(op, out.C*s.C, out.C)
	case OpLayerNorm:
		if err := same(); err != nil {
			return err
		}
		return p.need(out.C, op.Weight, op.Bias)
	case OpAffine:
		if err := same(); err != nil {
			return err
		}
		return p.opt(out.C, op.Scale, op.Shift)
	case OpBatchNorm:
		if err := same(); err != nil {
			return err
		}
		return p.need(out.C, op.Weight, op.Bias, op.Mean, op.Var)
	case OpActivation:
		if op.Act1 == ActNone {
			return fmt.Errorf("no activation")
		}
		return same()
	case OpAdd:
		for i := range op.Inputs {
			if in(i) != out {
				return fmt.Errorf("input %d shape %s, output %s", i, in(i), out)
			}
		}
	case OpResize:
		if in(0).C != out.C {
			return fmt.Errorf("input %s, output %s", in(0), out)
		}
	case OpConcat:
		total := 0
		for i := range op.Inputs {
			if in(i).H != out.H || in(i).W != out.W {
				return fmt.Errorf("input %d shape %s, output %s", i, in(i), out)
			}
			total += in(i).C
		}
		if total != out.C {
			return fmt.Errorf("inputs have %d channels, output %d", total, out.C)
		}
	case OpStack:
		for i := range op.Inputs {
			if in(i) != in(0) {
				return fmt.Errorf("input %d shape %s, input 0 %s", i, in(i), in(0))
			}
		}
		if want := (Shape{len(op.Inputs) * in(0).H, in(0).W, in(0).C}); out != want {
			return fmt.Errorf("output %s, want %s", out, want)
		}
	case OpWindowAttention:
		c, win := out.C, op.Window
		if op.Heads <= 0 || c%op.Heads != 0 || win <= 0 || op.ShiftSize < 0 || op.ShiftSize >= win {
			return fmt.Errorf("bad window attention: %d channels, %d heads, window %d, shift %d", c, op.Heads, win, op.ShiftSize)
		}
		if err := same(); err != nil {
			return err
		}
		if err := p.need(3*c*c, op.QKVWeight); err != nil {
			return err
		}
		if err := p.need(3*c, op.QKVBias); err != nil {
			return err
		}
		if err := p.need(c*c, op.Weight); err != nil {
			return err
		}
		if err := p.need(c, op.Bias); err != nil {
			return err
		}
		return p.need((2*win-1)*(2*win-1)*op.Heads, op.Table)
	case OpPatchMerge:
		s := in(0)
		if want := (Shape{(s.H + 1) / 2, (s.W + 1) / 2, 4 * s.C}); out != want {
			return fmt.Errorf("output %s, want %s", out, want)
		}
	case OpOffsetCoords:
		if out.C != 18 {
			return fmt.Errorf("OffsetCoords wants 18 channels, got %d", out.C)
		}
		return same()
	case OpDeformSample:
		if err := same(); err != nil {
			return err
		}
		if o := in(1); o.C != 2*out.C || o.H != out.H || o.W != out.W {
			return fmt.Errorf("offsets %s, want [%d,%d,%d]", o, out.H, out.W, 2*out.C)
		}
	case OpTaskAttention:
		q, k, v := in(0), in(1), in(2)
		switch {
		case op.Heads <= 0 || q.H != out.H || q.W != out.W || k.W != out.W || k.H%out.H != 0 || k.H == 0 || v.H != k.H || v.W != k.W ||
			q.C%op.Heads != 0 || out.C%op.Heads != 0:
			return fmt.Errorf("bad task attention shapes q=%s k=%s v=%s out=%s heads=%d", q, k, v, out, op.Heads)
		case op.SharedKV && (k.C != q.C/op.Heads || out.C != op.Heads*v.C):
			return fmt.Errorf("shared task attention: k has %d channels, want %d; out %d, want %d", k.C, q.C/op.Heads, out.C, op.Heads*v.C)
		case !op.SharedKV && (k.C != q.C || v.C != out.C):
			return fmt.Errorf("task attention: q %d, k %d, v %d, out %d channels", q.C, k.C, v.C, out.C)
		}
	}
	return nil
}

// checkConsts checks a Conv2D/Linear weight of nw values and its epilogue vectors of c.
func (p *Plan) checkConsts(op *Op, nw, c int) error {
	if err := p.need(nw, op.Weight); err != nil {
		return err
	}
	return p.opt(c, op.Bias, op.Scale, op.Shift)
}

// need checks that every named constant exists with n values.
func (p *Plan) need(n int, names ...string) error {
	for _, name := range names {
		if name == "" {
			return fmt.Errorf("missing constant")
		}
	}
	return p.opt(n, names...)
}

// opt checks that every named constant that is set exists with n values.
func (p *Plan) opt(n int, names ...string) error {
	for _, name := range names {
		if name == "" {
			continue
		}
		c, ok := p.Consts[name]
		if !ok {
			return fmt.Errorf("missing constant %s", name)
		}
		if len(c.Data) != n {
			return fmt.Errorf("constant %s has %d values, want %d", name, len(c.Data), n)
		}
	}
	return nil
}
