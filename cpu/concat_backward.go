package cpu

// concatBackward is the backward of OpConcat: each input receives its channel slice of dy.
type concatBackward struct {
	dy  []float32
	dxs [][]float32
	cs  []int
	n   int // pixels
	c   int // output channels
}

func (k *concatBackward) run(p *pool) { p.run(k.n, 256, k) }

func (k *concatBackward) chunk(_, lo, hi int) {
	for r := lo; r < hi; r++ {
		off := r * k.c
		for i, dx := range k.dxs {
			c := k.cs[i]
			if dx != nil {
				d, g := dx[r*c:(r+1)*c], k.dy[off:off+c]
				for j, v := range g {
					d[j] += v
				}
			}
			off += c
		}
	}
}

// stackBackward is the backward of OpStack: each input receives its block of tokens of dy.
type stackBackward struct {
	dy  []float32
	dxs [][]float32
	ns  []int
}

func (k *stackBackward) run(p *pool) { p.run(len(k.dxs), 1, k) }

func (k *stackBackward) chunk(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		if k.dxs[i] == nil {
			continue
		}
		n := k.ns[i]
		d, g := k.dxs[i][:n], k.dy[i*n:(i+1)*n]
		for j, v := range g {
			d[j] += v
		}
	}
}

// patchMergeBackward is the backward of OpPatchMerge: output channel c·4 + kh·2 + kw of
// pixel (oy, ox) goes back to channel c of input pixel (2oy + kh, 2ox + kw); padding drops.
type patchMergeBackward struct {
	dy, dx    []float32
	ih, iw, c int
	oh, ow    int
}

func (m *patchMergeBackward) run(p *pool) {
	if m.dx != nil {
		p.run(m.oh, 4, m)
	}
}

func (m *patchMergeBackward) chunk(_, lo, hi int) {
	c := m.c
	for oy := lo; oy < hi; oy++ {
		for ox := 0; ox < m.ow; ox++ {
			g := m.dy[(oy*m.ow+ox)*4*c : (oy*m.ow+ox+1)*4*c]
			for k := 0; k < 4; k++ {
				iy, ix := 2*oy+k/2, 2*ox+k%2
				if iy >= m.ih || ix >= m.iw {
					continue
				}
				d := m.dx[(iy*m.iw+ix)*c : (iy*m.iw+ix+1)*c]
				for ch := range d {
					d[ch] += g[ch*4+k]
				}
			}
		}
	}
}
