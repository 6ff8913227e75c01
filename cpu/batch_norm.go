package cpu

// batchNorm is a prepared eval-mode OpBatchNorm: y = (x − mean)·invStd·γ + β per channel,
// with invStd = 1/√(var + ε) computed once in float64.
type batchNorm struct {
	x, y             []float32
	mean, scale, bia []float32 // scale = invStd·γ
	n, c             int
}

func (b *batchNorm) run(p *pool) { p.run(b.n, 64, b) }

func (b *batchNorm) chunk(_, lo, hi int) {
	for t := lo; t < hi; t++ {
		x, y := b.x[t*b.c:(t+1)*b.c], b.y[t*b.c:(t+1)*b.c]
		for ch, v := range x {
			y[ch] = (v-b.mean[ch])*b.scale[ch] + b.bia[ch]
		}
	}
}
