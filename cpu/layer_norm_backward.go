package cpu

import "math"

// layerNormBackward is the backward of OpLayerNorm (llm.c's layernorm_backward): per token,
// with x̂ = (x − μ)·rstd and g = dy·w,
// dx += rstd·(g − mean(g) − x̂·mean(g·x̂)), dw += dy·x̂, db += dy, dres += dy.
// The weight and bias gradients go through per-chunk accumulators (deterministic).
type layerNormBackward struct {
	x, w         []float32
	dy, dx       []float32
	dw, db       []float32
	dres         []float32
	n, c         int
	eps          float64
	wPart, bPart partials
	tmp          [][]float32 // per worker: x̂ and g
}

func newLayerNormBackward(x, w, dy, dx, dw, db, dres []float32, n, c int, eps float64, threads int) *layerNormBackward {
	l := &layerNormBackward{x: x, w: w, dy: dy, dx: dx, dw: dw, db: db, dres: dres, n: n, c: c, eps: eps}
	l.wPart, l.bPart = newPartials(threads, c), newPartials(threads, c)
	for i := 0; i < threads; i++ {
		l.tmp = append(l.tmp, make([]float32, 2*c))
	}
	return l
}

func (l *layerNormBackward) run(p *pool) {
	l.wPart.reset()
	l.bPart.reset()
	p.run(len(l.wPart.bufs), 1, l)
	if l.dw != nil {
		l.wPart.addTo(l.dw)
	}
	if l.db != nil {
		l.bPart.addTo(l.db)
	}
}

func (l *layerNormBackward) chunk(worker, lo, hi int) {
	c := l.c
	parts := len(l.wPart.bufs)
	xh, g := l.tmp[worker][:c], l.tmp[worker][c:2*c]
	w := l.w[:c]
	for part := lo; part < hi; part++ {
		dw, db := l.wPart.bufs[part], l.bPart.bufs[part]
		for r := part * l.n / parts; r < (part+1)*l.n/parts; r++ {
			x := l.x[r*c : (r+1)*c]
			dy := l.dy[r*c : (r+1)*c]
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			mean := s / float64(c)
			var ss float64
			for _, v := range x {
				d := float64(v) - mean
				ss += d * d
			}
			rstd := 1 / math.Sqrt(ss/float64(c)+l.eps)
			var sg, sgx float64
			for j, v := range x {
				xh[j] = float32((float64(v) - mean) * rstd)
				g[j] = dy[j] * w[j]
				sg += float64(g[j])
				sgx += float64(g[j]) * float64(xh[j])
				dw[j] += dy[j] * xh[j]
				db[j] += dy[j]
			}
			if l.dx != nil {
				mg, mgx := float32(sg/float64(c)), float32(sgx/float64(c))
				r32 := float32(rstd)
				dx := l.dx[r*c : (r+1)*c]
				for j := range dx {
					dx[j] += r32 * (g[j] - mg - xh[j]*mgx)
				}
			}
			if l.dres != nil {
				d := l.dres[r*c : (r+1)*c]
				for j, v := range dy {
					d[j] += v
				}
			}
		}
	}
}
