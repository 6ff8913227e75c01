package cpu

import "math"

// taskAttentionBackward is the backward of OpTaskAttention: per pixel and head, with
// a = softmax(q·k_t) recomputed, dv_t += a_t·dout, dl = a ⊙ (dA − Σ a·dA) with dA_t = dout·v_t,
// dq += Σ_t dl_t·k_t, dk_t += dl_t·q. A pixel's keys and values (rows t·hw + p) belong to it
// alone, so pixels run in parallel without conflicts.
type taskAttentionBackward struct {
	fwd        *taskAttention
	dy         []float32
	dq, dk, dv []float32
}

func (b *taskAttentionBackward) run(p *pool) {
	p.run(b.fwd.hw, 64, b)
}

func (b *taskAttentionBackward) chunk(worker, lo, hi int) {
	a := b.fwd
	dq := a.cq / a.heads
	dv := a.cy / a.heads
	prob := a.scratch[worker][:a.t]
	da := a.scratch[worker][a.t : 2*a.t]
	for p := lo; p < hi; p++ {
		q := a.q[p*a.cq : (p+1)*a.cq]
		g := b.dy[p*a.cy : (p+1)*a.cy]
		for h := 0; h < a.heads; h++ {
			qg := q[h*dq : (h+1)*dq]
			gg := g[h*dv : (h+1)*dv]
			ko, vo := h*dq, h*dv
			if a.shared {
				ko, vo = 0, 0
			}
			mx := float32(math.Inf(-1))
			for t := range prob {
				k := a.k[(t*a.hw+p)*a.ck+ko : (t*a.hw+p)*a.ck+ko+dq]
				prob[t] = dot(qg, k)
				mx = max(mx, prob[t])
			}
			var sum float32
			for t, l := range prob {
				prob[t] = float32(math.Exp(float64(l - mx)))
				sum += prob[t]
			}
			var s float32
			for t := range prob {
				prob[t] /= sum
				da[t] = dot(gg, a.v[(t*a.hw+p)*a.cv+vo:(t*a.hw+p)*a.cv+vo+dv])
				s += prob[t] * da[t]
			}
			for t := range prob {
				row := t*a.hw + p
				if b.dv != nil {
					axpy(prob[t], gg, b.dv[row*a.cv+vo:row*a.cv+vo+dv])
				}
				dl := prob[t] * (da[t] - s)
				if b.dq != nil {
					axpy(dl, a.k[row*a.ck+ko:row*a.ck+ko+dq], b.dq[p*a.cq+h*dq:p*a.cq+(h+1)*dq])
				}
				if b.dk != nil {
					axpy(dl, qg, b.dk[row*a.ck+ko:row*a.ck+ko+dq])
				}
			}
		}
	}
}
