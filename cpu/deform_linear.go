package cpu

// deformLinear is a prepared OpDeformLinear: blocks of tokens are deformably sampled into a
// per-worker scratch (never the whole map) and multiplied by the Linear's weight there.
type deformLinear struct {
	x, off, y []float32
	h, w, c   int // input map
	m         int // output channels
	wm        *weightMatrix
	bias      []float32
	ep        epilogue
	sampled   [][]float32 // per worker: deformLinearBlock tokens × c
	scratch   []gemmScratch
}

// deformLinearBlock is the number of tokens sampled and multiplied at a time.
const deformLinearBlock = 48

func (d *deformLinear) run(p *pool) { p.run(d.h*d.w, deformLinearBlock, d) }

func (d *deformLinear) chunk(worker, lo, hi int) {
	c, buf := d.c, d.sampled[worker]
	for t0 := lo; t0 < hi; t0 += deformLinearBlock {
		t1 := min(hi, t0+deformLinearBlock)
		for t := t0; t < t1; t++ {
			sampleToken(d.x, d.off[t*2*c:(t+1)*2*c], buf[(t-t0)*c:(t-t0+1)*c], t/d.w, t%d.w, d.h, d.w, c)
		}
		d.wm.gemm(buf, c, d.bias, d.y[t0*d.m:], d.m, t1-t0, &d.scratch[worker])
		d.ep.apply(d.y, d.m, t0, t1)
	}
}
