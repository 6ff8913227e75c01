package cpu

// offsetCoords is a prepared OpOffsetCoords: the Offset module's p = p_0 + p_n + p_conv(x),
// with 1-based absolute row coordinates in channels 0..8 and column coordinates in 9..17.
type offsetCoords struct {
	x, y []float32
	h, w int
}

var (
	pnRow = [9]float32{-1, -1, -1, 0, 0, 0, 1, 1, 1}
	pnCol = [9]float32{-1, 0, 1, -1, 0, 1, -1, 0, 1}
)

func (o *offsetCoords) run(p *pool) { p.run(o.h, 8, o) }

func (o *offsetCoords) chunk(_, lo, hi int) {
	for y := lo; y < hi; y++ {
		for x := 0; x < o.w; x++ {
			in := o.x[(y*o.w+x)*18 : (y*o.w+x+1)*18]
			out := o.y[(y*o.w+x)*18 : (y*o.w+x+1)*18]
			for k := 0; k < 9; k++ {
				out[k] = (float32(y+1) + pnRow[k]) + in[k]
				out[9+k] = (float32(x+1) + pnCol[k]) + in[9+k]
			}
		}
	}
}
