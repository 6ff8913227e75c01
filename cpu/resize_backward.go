package cpu

import "github.com/demt-web/demt/model"

// resizeBackward is the adjoint of OpResize (bilinear, align_corners=False): each input pixel
// gathers dy·w_y·w_x from the output pixels whose taps read it, so input rows are
// independent (parallel, no conflicts) and the taps are the forward's.
type resizeBackward struct {
	dy, dx    []float32
	ih, iw, c int
	oh, ow    int
	rows      [][]resizeUse // per input row: (output row, weight)
	cols      [][]resizeUse // per input column
}

// resizeUse is one output index reading an input index with a weight.
type resizeUse struct {
	out int
	w   float32
}

// resizeUses inverts the taps of one axis.
func resizeUses(nIn, nOut int) [][]resizeUse {
	u := make([][]resizeUse, nIn)
	for d, t := range model.ResizeTaps(nIn, nOut) {
		u[t.I0] = append(u[t.I0], resizeUse{d, t.L0})
		u[t.I1] = append(u[t.I1], resizeUse{d, t.L1})
	}
	return u
}

func newResizeBackward(dy, dx []float32, ih, iw, c, oh, ow int) *resizeBackward {
	return &resizeBackward{dy: dy, dx: dx, ih: ih, iw: iw, c: c, oh: oh, ow: ow,
		rows: resizeUses(ih, oh), cols: resizeUses(iw, ow)}
}

func (r *resizeBackward) run(p *pool) {
	if r.dx != nil {
		p.run(r.ih, 4, r)
	}
}

func (r *resizeBackward) chunk(_, lo, hi int) {
	c := r.c
	for iy := lo; iy < hi; iy++ {
		for _, uy := range r.rows[iy] {
			for ix := 0; ix < r.iw; ix++ {
				d := r.dx[(iy*r.iw+ix)*c : (iy*r.iw+ix+1)*c]
				for _, ux := range r.cols[ix] {
					axpy(uy.w*ux.w, r.dy[(uy.out*r.ow+ux.out)*c:(uy.out*r.ow+ux.out+1)*c], d)
				}
			}
		}
	}
}
