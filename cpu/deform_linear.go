package cpu

// deformLinear is a prepared OpDeformLinear: blocks of tokens are deformably sampled into a
// per-worker scratch (never the whole map) and multiplied there by the Linear lin (whose x is
// unused).
type deformLinear struct {
	lin     *linear
	x, off  []float32
	h, w, c int         // input map
	sampled [][]float32 // per worker: deformLinearBlock tokens × c
}

// deformLinearBlock is the number of tokens sampled and multiplied at a time.
const deformLinearBlock = 48

func (d *deformLinear) run(p *pool) { p.run(d.h*d.w, deformLinearBlock, d) }

func (d *deformLinear) chunk(worker, lo, hi int) {
	c, buf, l := d.c, d.sampled[worker], d.lin
	for t0 := lo; t0 < hi; t0 += deformLinearBlock {
		t1 := min(hi, t0+deformLinearBlock)
		for t := t0; t < t1; t++ {
			sampleToken(d.x, d.off[t*2*c:(t+1)*2*c], buf[(t-t0)*c:(t-t0+1)*c], t/d.w, t%d.w, d.h, d.w, c)
		}
		l.w.gemm(buf, c, l.bias, l.y[t0*l.m:], l.m, t1-t0, &l.scratch[worker])
		l.ep.apply(l.y, l.m, t0, t1)
	}
}
