package cpu

import "github.com/demt-web/demt/model"

// resize is a prepared OpResize: PyTorch bilinear interpolation with align_corners=False.
type resize struct {
	x, y      []float32
	ih, iw, c int
	oh, ow    int
	ry, rx    []model.ResizeTap // per output row / column
}

func (r *resize) run(p *pool) { p.run(r.oh, 4, r) }

func (r *resize) chunk(_, lo, hi int) {
	c := r.c
	for oy := lo; oy < hi; oy++ {
		ty := r.ry[oy]
		row0 := r.x[ty.I0*r.iw*c : (ty.I0+1)*r.iw*c]
		row1 := r.x[ty.I1*r.iw*c : (ty.I1+1)*r.iw*c]
		for ox, tx := range r.rx {
			out := r.y[(oy*r.ow+ox)*c : (oy*r.ow+ox+1)*c]
			a := row0[tx.I0*c : (tx.I0+1)*c]
			b := row0[tx.I1*c : (tx.I1+1)*c]
			d := row1[tx.I0*c : (tx.I0+1)*c]
			e := row1[tx.I1*c : (tx.I1+1)*c]
			for ch := range out {
				out[ch] = ty.L0*(tx.L0*a[ch]+tx.L1*b[ch]) + ty.L1*(tx.L0*d[ch]+tx.L1*e[ch])
			}
		}
	}
}
