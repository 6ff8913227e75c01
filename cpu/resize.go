package cpu

// resize is a prepared OpResize: PyTorch bilinear interpolation with align_corners=False.
type resize struct {
	x, y      []float32
	ih, iw, c int
	oh, ow    int
	ry, rx    []axisTap // per output row / column
}

// axisTap is the two source indices and weights of one output index on one axis.
type axisTap struct {
	i0, i1 int
	l0, l1 float32
}

// bilinearTaps computes PyTorch's source indices for one axis (notes §1.4), in float32 as
// PyTorch does: scale = in/out, src = max(scale·(d+0.5) − 0.5, 0).
func bilinearTaps(nIn, nOut int) []axisTap {
	taps := make([]axisTap, nOut)
	scale := float32(nIn) / float32(nOut)
	for d := range taps {
		src := scale*(float32(d)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		i1 := i0
		if i0 < nIn-1 {
			i1 = i0 + 1
		}
		l1 := src - float32(i0)
		taps[d] = axisTap{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return taps
}

func (r *resize) run(p *pool) { p.run(r.oh, 4, r) }

func (r *resize) chunk(_, lo, hi int) {
	c := r.c
	for oy := lo; oy < hi; oy++ {
		ty := r.ry[oy]
		row0 := r.x[ty.i0*r.iw*c : (ty.i0+1)*r.iw*c]
		row1 := r.x[ty.i1*r.iw*c : (ty.i1+1)*r.iw*c]
		for ox, tx := range r.rx {
			out := r.y[(oy*r.ow+ox)*c : (oy*r.ow+ox+1)*c]
			a := row0[tx.i0*c : (tx.i0+1)*c]
			b := row0[tx.i1*c : (tx.i1+1)*c]
			d := row1[tx.i0*c : (tx.i0+1)*c]
			e := row1[tx.i1*c : (tx.i1+1)*c]
			for ch := range out {
				out[ch] = ty.l0*(tx.l0*a[ch]+tx.l1*b[ch]) + ty.l1*(tx.l0*d[ch]+tx.l1*e[ch])
			}
		}
	}
}
