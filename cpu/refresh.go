package cpu

import "math"

// WeightRefresher re-derives the forward kernels' prepared weights (packed matrices,
// re-laid-out convolution weights, the gathered window-attention bias) from the plan's
// constants after an optimiser changed them in place. Biases, scales, shifts and norm
// weights are read in place by the kernels and need nothing.
type WeightRefresher struct {
	e    *Executor
	ohwi map[int][]float32 // per Conv2D op: (Cout, KH, KW, Cin/G) scratch
}

// NewWeightRefresher prepares the scratch space of Refresh for e.
func NewWeightRefresher(e *Executor) *WeightRefresher {
	r := &WeightRefresher{e: e, ohwi: map[int][]float32{}}
	for i := range e.plan.Ops {
		if c, ok := e.kernels[i].(*conv2d); ok {
			n := 0
			for _, wm := range c.w {
				n += wm.m * wm.k
			}
			r.ohwi[i] = make([]float32, n)
		}
	}
	return r
}

// Refresh re-packs every weight from the current constants; it allocates nothing.
func (r *WeightRefresher) Refresh() {
	e := r.e
	for i := range e.plan.Ops {
		op := &e.plan.Ops[i]
		switch k := e.kernels[i].(type) {
		case *linear:
			k.w.repack(e.plan.Consts[op.Weight].Data)
		case *deformLinear:
			k.lin.w.repack(e.plan.Consts[op.Weight].Data)
		case *batchNorm:
			g, v := e.plan.Consts[op.Weight].Data, e.plan.Consts[op.Var].Data
			for c := range k.scale {
				k.scale[c] = float32(float64(g[c]) / math.Sqrt(float64(v[c])+float64(op.Eps)))
			}
		case *conv2d:
			w := e.plan.Consts[op.Weight].Data
			rw := r.ohwi[i]
			cing := k.ic / k.groups
			for o := 0; o < k.oc; o++ {
				for ci := 0; ci < cing; ci++ {
					for y := 0; y < k.kh; y++ {
						for x := 0; x < k.kw; x++ {
							rw[((o*k.kh+y)*k.kw+x)*cing+ci] = w[((o*cing+ci)*k.kh+y)*k.kw+x]
						}
					}
				}
			}
			kp := k.kh * k.kw * cing
			coutg := k.oc / k.groups
			for g, wm := range k.w {
				wm.repack(rw[g*coutg*kp : (g+1)*coutg*kp])
			}
		case *windowAttention:
			k.qkvW.repack(e.plan.Consts[op.QKVWeight].Data)
			k.projW.repack(e.plan.Consts[op.Weight].Data)
			table := e.plan.Consts[op.Table].Data
			win, n := k.win, k.win*k.win
			for a := 0; a < n; a++ {
				for b := 0; b < n; b++ {
					ya, xa, yb, xb := a/win, a%win, b/win, b%win
					idx := (ya-yb+win-1)*(2*win-1) + (xa - xb + win - 1)
					for g := 0; g < k.heads; g++ {
						k.bias[(g*n+a)*n+b] = table[idx*k.heads+g]
					}
				}
			}
		}
	}
}
