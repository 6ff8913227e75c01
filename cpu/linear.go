package cpu

// linear is a prepared OpLinear: y (n×m) = epilogue(x (n×k) · wᵀ + bias).
type linear struct {
	x, y    []float32
	w       *weightMatrix
	bias    []float32
	n, k, m int
	ep      epilogue
	scratch []gemmScratch // per worker
}

func (l *linear) run(p *pool) {
	p.run(l.n, 48, l)
}

func (l *linear) chunk(worker, lo, hi int) {
	l.w.gemm(l.x[lo*l.k:], l.k, l.bias, l.y[lo*l.m:], l.m, hi-lo, &l.scratch[worker])
	l.ep.apply(l.y, l.m, lo, hi)
}
