package cpu

// conv2d is a prepared OpConv2D on channels-last maps: each block of output pixels is
// gathered into patches (im2col, zero outside the input) and multiplied with the weight
// re-laid out as (Cout, KH, KW, Cin/G).
type conv2d struct {
	convGeom
	x, y        []float32
	w           []*weightMatrix // per group, re-laid out as (Cout/G, KH·KW·Cin/G)
	bias        []float32
	scratch     [][]float32 // per worker: convBlock patches
	gemmScratch []gemmScratch
	ep          epilogue
}

// convGeom is the geometry of a convolution, shared by its forward and backward kernels.
type convGeom struct {
	ih, iw, ic             int
	oh, ow, oc             int
	kh, kw, stride, pt, pl int
	groups                 int
	pointwise              bool // 1×1, stride 1, no padding: no im2col
}

// im2col writes the im2col row of output pixel pix in group g, (KH, KW, Cin/G) with zeros
// outside the input, to dst.
func (c *convGeom) im2col(dst, x []float32, pix, g int) {
	cing := c.ic / c.groups
	oy, ox := pix/c.ow, pix%c.ow
	for ky := 0; ky < c.kh; ky++ {
		iy := oy*c.stride - c.pt + ky
		for kx := 0; kx < c.kw; kx++ {
			ix := ox*c.stride - c.pl + kx
			d := dst[(ky*c.kw+kx)*cing : (ky*c.kw+kx+1)*cing]
			if iy < 0 || iy >= c.ih || ix < 0 || ix >= c.iw {
				clear(d)
				continue
			}
			src := (iy*c.iw+ix)*c.ic + g*cing
			copy(d, x[src:src+cing])
		}
	}
}

const convBlock = 24

func (c *conv2d) run(p *pool) {
	blocks := (c.oh*c.ow + convBlock - 1) / convBlock
	p.run(blocks, 1, c)
}

func (c *conv2d) chunk(worker, lo, hi int) {
	cing := c.ic / c.groups
	coutg := c.oc / c.groups
	kp := c.kh * c.kw * cing
	patch := c.scratch[worker]
	for blk := lo; blk < hi; blk++ {
		p0 := blk * convBlock
		p1 := min(p0+convBlock, c.oh*c.ow)
		for g := 0; g < c.groups; g++ {
			var bias []float32
			if c.bias != nil {
				bias = c.bias[g*coutg : (g+1)*coutg]
			}
			if c.pointwise {
				// A 1×1, stride-1, unpadded conv reads its input rows in place.
				c.w[g].gemm(c.x[p0*c.ic+g*cing:], c.ic, bias, c.y[p0*c.oc+g*coutg:], c.oc, p1-p0, &c.gemmScratch[worker])
				continue
			}
			for pix := p0; pix < p1; pix++ {
				c.im2col(patch[(pix-p0)*kp:(pix-p0+1)*kp], c.x, pix, g)
			}
			c.w[g].gemm(patch, kp, bias, c.y[p0*c.oc+g*coutg:], c.oc, p1-p0, &c.gemmScratch[worker])
		}
		c.ep.apply(c.y, c.oc, p0, p1)
	}
}
