package cpu

// patchMerge is a prepared OpPatchMerge: nn.Unfold(2, stride 2) with zero padding of odd
// sides; output channel c·4 + kh·2 + kw.
type patchMerge struct {
	x, y      []float32
	ih, iw, c int
	oh, ow    int
}

func (m *patchMerge) run(p *pool) { p.run(m.oh, 4, m) }

func (m *patchMerge) chunk(_, lo, hi int) {
	c := m.c
	for oy := lo; oy < hi; oy++ {
		for ox := 0; ox < m.ow; ox++ {
			out := m.y[(oy*m.ow+ox)*4*c : (oy*m.ow+ox+1)*4*c]
			for k := 0; k < 4; k++ {
				iy, ix := 2*oy+k/2, 2*ox+k%2
				if iy >= m.ih || ix >= m.iw {
					for ch := 0; ch < c; ch++ {
						out[ch*4+k] = 0
					}
					continue
				}
				src := m.x[(iy*m.iw+ix)*c : (iy*m.iw+ix+1)*c]
				for ch, v := range src {
					out[ch*4+k] = v
				}
			}
		}
	}
}
