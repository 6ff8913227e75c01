package model

import "fmt"

// Optimize applies every rewrite that cuts work without changing results (within float
// rounding) to the canonical plan Build makes: folding eval-mode BatchNorm into per-channel
// affines, fusing elementwise tails (activation, affine, residual add) into the epilogue of
// the op that produces their input, absorbing the task-query key/value projections, folding
// chains of linear maps (task fusion's v_proj∘out_proj∘smlp, out_proj∘smlp2), sampling the
// deformable map inside the 1×1 conv that reads it, and dropping ops nobody reads.
// Intermediates of the canonical plan may disappear; outputs keep their tensors.
func Optimize(p *Plan) (*Plan, error) {
	q := p.clone()
	q.FoldBatchNorm()
	q.FuseEpilogue()
	if err := q.AbsorbTaskQuery(); err != nil {
		return nil, err
	}
	q.FoldLinearChains()
	q.FuseDeformLinear()
	q.DropDeadOps()
	return q, nil
}

// Clone returns a copy of p that rewrites can change without touching p (constants and
// their data are shared).
func (p *Plan) Clone() *Plan { return p.clone() }

func (p *Plan) clone() *Plan {
	q := *p
	q.Tensors = append([]TensorInfo(nil), p.Tensors...)
	q.Ops = make([]Op, len(p.Ops))
	for i, op := range p.Ops {
		op.Inputs = append([]int(nil), op.Inputs...)
		q.Ops[i] = op
	}
	q.Consts = make(map[string]*Const, len(p.Consts))
	for k, v := range p.Consts {
		q.Consts[k] = v
	}
	q.Outputs = append([]Output(nil), p.Outputs...)
	return &q
}

// readers counts, per tensor, the ops that read it (inputs and residuals) plus plan outputs.
func (p *Plan) readers() []int {
	n := make([]int, len(p.Tensors))
	for _, op := range p.Ops {
		for _, id := range op.Inputs {
			n[id]++
		}
		if r, ok := op.Residual.Get(); ok {
			n[r]++
		}
	}
	for _, o := range p.Outputs {
		n[o.Tensor]++
	}
	return n
}

func (p *Plan) producer() []int {
	pr := make([]int, len(p.Tensors))
	for i := range pr {
		pr[i] = -1
	}
	for i, op := range p.Ops {
		pr[op.Output] = i
	}
	return pr
}

// addConst registers a constant derived from module's parameters.
func (p *Plan) addConst(name, module string, shape []int, data []float32) string {
	p.Consts[name] = &Const{Name: name, Shape: shape, Data: data, Param: module, Derived: true}
	return name
}

// plainLinear reports whether op is a Linear whose epilogue is only bias and OutScale.
func plainLinear(op *Op) bool {
	_, res := op.Residual.Get()
	return op.Kind == OpLinear && op.Act1 == ActNone && op.Act2 == ActNone && op.Scale == "" && !res
}

// FoldLinearChains replaces Linear A → Linear B, where B is A's only reader and A has no
// activation, by one Linear with W = W_B·s_A·W_A and b = W_B·s_A·b_A + b_B (in float64).
// It folds only when the folded weight is no larger than the two it replaces.
func (p *Plan) FoldLinearChains() {
	for changed := true; changed; {
		changed = false
		readers, prod := p.readers(), p.producer()
		for bi := range p.Ops {
			b := &p.Ops[bi]
			if b.Kind != OpLinear {
				continue
			}
			ai := prod[b.Inputs[0]]
			if ai < 0 || !plainLinear(&p.Ops[ai]) || readers[b.Inputs[0]] != 1 || b.Residual.Is(b.Inputs[0]) {
				continue
			}
			a := &p.Ops[ai]
			k := p.Tensors[a.Inputs[0]].Shape.C
			mid := p.Tensors[a.Output].Shape.C
			m := p.Tensors[b.Output].Shape.C
			if m*k > m*mid+mid*k {
				continue
			}
			wa, wb := p.Consts[a.Weight].Data, p.Consts[b.Weight].Data
			sa := float64(1)
			if a.OutScale != 0 {
				sa = float64(a.OutScale)
			}
			w := make([]float32, m*k)
			bias := make([]float32, m)
			acc := make([]float64, k)
			for i := 0; i < m; i++ {
				clear(acc)
				var bv float64
				if b.Bias != "" {
					bv = float64(p.Consts[b.Bias].Data[i])
				}
				for j := 0; j < mid; j++ {
					c := float64(wb[i*mid+j]) * sa
					row := wa[j*k : (j+1)*k]
					for q, v := range row {
						acc[q] += c * float64(v)
					}
					if a.Bias != "" {
						bv += c * float64(p.Consts[a.Bias].Data[j])
					}
				}
				for q := range acc {
					w[i*k+q] = float32(acc[q])
				}
				bias[i] = float32(bv)
			}
			name := b.Name + "#folded"
			b.Weight = p.addConst(name+".weight", b.Name, []int{m, k}, w)
			b.Bias = p.addConst(name+".bias", b.Name, []int{m}, bias)
			b.Inputs[0] = a.Inputs[0]
			a.Kind, a.Inputs = opDead, nil
			changed = true
			break
		}
		p.removeDead()
	}
}

// opDead marks an op a rewrite removed; removeDead drops it.
const opDead = numOpKinds

func (p *Plan) removeDead() {
	ops := p.Ops[:0]
	for _, op := range p.Ops {
		if op.Kind != opDead {
			ops = append(ops, op)
		}
	}
	p.Ops = ops
}

// DropDeadOps removes ops whose outputs nobody reads (repeatedly).
func (p *Plan) DropDeadOps() {
	for {
		readers := p.readers()
		n := len(p.Ops)
		for i := range p.Ops {
			if readers[p.Ops[i].Output] == 0 {
				p.Ops[i].Kind = opDead
			}
		}
		p.removeDead()
		if len(p.Ops) == n {
			return
		}
	}
}

// AbsorbTaskQuery rewrites every plain TaskAttention whose q, k and v come from Linears:
// the key projection moves onto the query (q·(W_k f + b_k) = (W_kᵀq)·f + const, and the
// constant cancels in the softmax), the value projection moves after the attention
// (Σ a_t (W_v f_t + b_v) = W_v Σ a_t f_t + b_v, as Σ a_t = 1), so the per-task K and V
// projections of all T·hw tokens disappear. Both become 1×1 convolutions grouped by head.
func (p *Plan) AbsorbTaskQuery() error {
	prod := p.producer()
	var out []Op
	for _, op := range p.Ops {
		if op.Kind != OpTaskAttention || op.SharedKV {
			out = append(out, op)
			continue
		}
		ki, vi := prod[op.Inputs[1]], prod[op.Inputs[2]]
		if ki < 0 || vi < 0 || !plainLinear(&p.Ops[ki]) || !plainLinear(&p.Ops[vi]) ||
			p.Ops[ki].Inputs[0] != p.Ops[vi].Inputs[0] || p.Ops[ki].OutScale != 0 || p.Ops[vi].OutScale != 0 {
			out = append(out, op)
			continue
		}
		kop, vop := p.Ops[ki], p.Ops[vi]
		f := kop.Inputs[0]
		fs := p.Tensors[f].Shape
		qs := p.Tensors[op.Inputs[0]].Shape
		h := op.Heads
		dq := qs.C / h
		e := p.Tensors[op.Output].Shape.C
		if qs.C%h != 0 || e%h != 0 || p.Tensors[kop.Output].Shape.C != qs.C {
			return fmt.Errorf("absorb %s: unexpected shapes", op.Name)
		}
		// q' = blockdiag(W_k,gᵀ) q: grouped 1×1 conv, group g maps dq → fs.C.
		wk := p.Consts[kop.Weight].Data // (qs.C, fs.C)
		wqk := make([]float32, h*fs.C*dq)
		for g := 0; g < h; g++ {
			for c := 0; c < fs.C; c++ {
				for j := 0; j < dq; j++ {
					wqk[(g*fs.C+c)*dq+j] = wk[(g*dq+j)*fs.C+c]
				}
			}
		}
		qk := p.addConst(op.Name+"#wk_t", kop.Name, []int{h * fs.C, dq, 1, 1}, wqk)
		qid := len(p.Tensors)
		p.Tensors = append(p.Tensors, TensorInfo{Name: op.Name + ".q_k", Shape: Shape{qs.H, qs.W, h * fs.C}})
		out = append(out, Op{Kind: OpConv2D, Name: op.Name + ".q_k", Inputs: []int{op.Inputs[0]}, Output: qid,
			Weight: qk, KH: 1, KW: 1, Stride: 1, Groups: h})
		mid := len(p.Tensors)
		p.Tensors = append(p.Tensors, TensorInfo{Name: op.Name + ".mix", Shape: Shape{qs.H, qs.W, h * fs.C}})
		out = append(out, Op{Kind: OpTaskAttention, Name: op.Name + ".mix", Inputs: []int{qid, f, f}, Output: mid,
			Heads: h, SharedKV: true})
		// o = blockdiag(W_v,g) m + b_v: W_v (e, fs.C) is already (Cout, Cin/G) for G = h.
		wv := p.Consts[vop.Weight]
		vw := p.addConst(op.Name+"#wv", vop.Name, []int{e, fs.C, 1, 1}, wv.Data)
		out = append(out, Op{Kind: OpConv2D, Name: op.Name, Inputs: []int{mid}, Output: op.Output, Weight: vw,
			Bias: vop.Bias, KH: 1, KW: 1, Stride: 1, Groups: h})
	}
	p.Ops = out
	p.DropDeadOps()
	return nil
}
