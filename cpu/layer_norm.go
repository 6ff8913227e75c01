package cpu

import "math"

// layerNorm is a prepared OpLayerNorm: per token, (x − mean)/√(var + eps)·w + b (biased
// variance over the channels), plus an optional residual.
type layerNorm struct {
	x, y, res []float32
	w, b      []float32
	n, c      int
	eps       float64
}

func (l *layerNorm) run(p *pool) { p.run(l.n, 64, l) }

func (l *layerNorm) chunk(_, lo, hi int) {
	c := l.c
	w, b := l.w[:c], l.b[:c]
	for r := lo; r < hi; r++ {
		x := l.x[r*c : (r+1)*c]
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
		y := l.y[r*c : (r+1)*c]
		m32, r32 := float32(mean), float32(rstd)
		for j, v := range x {
			y[j] = (v-m32)*r32*w[j] + b[j]
		}
		if l.res != nil {
			res := l.res[r*c : (r+1)*c]
			for j := range y {
				y[j] += res[j]
			}
		}
	}
}
