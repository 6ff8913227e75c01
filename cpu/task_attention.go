package cpu

import "math"

// taskAttention is a prepared OpTaskAttention: per pixel p and head g, softmax over the T
// tasks of q_g[p]·k_g[t·hw+p] (q pre-scaled) and the weighted sum of v_g[t·hw+p]. With
// shared keys and values every head reads all of k and v.
type taskAttention struct {
	q, k, v, y     []float32
	hw, t, heads   int
	cq, ck, cv, cy int
	shared         bool
	scratch        [][]float32 // per worker: T logits
}

func (a *taskAttention) run(p *pool) { p.run(a.hw, 64, a) }

func (a *taskAttention) chunk(worker, lo, hi int) {
	dq := a.cq / a.heads
	dv := a.cy / a.heads
	logit := a.scratch[worker][:a.t]
	for p := lo; p < hi; p++ {
		q := a.q[p*a.cq : (p+1)*a.cq]
		out := a.y[p*a.cy : (p+1)*a.cy]
		for g := 0; g < a.heads; g++ {
			qg := q[g*dq : (g+1)*dq]
			ko, vo := g*dq, g*dv
			if a.shared {
				ko, vo = 0, 0
			}
			mx := float32(math.Inf(-1))
			for t := range logit {
				k := a.k[(t*a.hw+p)*a.ck+ko : (t*a.hw+p)*a.ck+ko+dq]
				logit[t] = dot(qg, k)
				mx = max(mx, logit[t])
			}
			var sum float32
			for t, l := range logit {
				logit[t] = float32(math.Exp(float64(l - mx)))
				sum += logit[t]
			}
			og := out[g*dv : (g+1)*dv]
			clear(og)
			for t, l := range logit {
				axpy(l/sum, a.v[(t*a.hw+p)*a.cv+vo:(t*a.hw+p)*a.cv+vo+dv], og)
			}
		}
	}
}
