package cpu

import "math"

// taskAttention is a prepared OpTaskAttention: per pixel p and head g, softmax over the T
// tasks of q[p]·k[t·hw+p] (q pre-scaled) and the weighted sum of v[t·hw+p].
type taskAttention struct {
	q, k, v, y []float32
	hw, t, e   int
	heads      int
	scratch    [][]float32 // per worker: T logits
}

func (a *taskAttention) run(p *pool) { p.run(a.hw, 64, a) }

func (a *taskAttention) chunk(worker, lo, hi int) {
	e, d := a.e, a.e/a.heads
	logit := a.scratch[worker][:a.t]
	for p := lo; p < hi; p++ {
		q := a.q[p*e : (p+1)*e]
		out := a.y[p*e : (p+1)*e]
		for g := 0; g < a.heads; g++ {
			qg := q[g*d : (g+1)*d]
			mx := float32(math.Inf(-1))
			for t := range logit {
				k := a.k[(t*a.hw+p)*e+g*d : (t*a.hw+p)*e+(g+1)*d]
				logit[t] = dot(qg, k)
				mx = max(mx, logit[t])
			}
			var sum float32
			for t, l := range logit {
				logit[t] = float32(math.Exp(float64(l - mx)))
				sum += logit[t]
			}
			og := out[g*d : (g+1)*d]
			clear(og)
			for t, l := range logit {
				wt := l / sum
				v := a.v[(t*a.hw+p)*e+g*d : (t*a.hw+p)*e+(g+1)*d]
				for j := range og {
					og[j] += wt * v[j]
				}
			}
		}
	}
}
