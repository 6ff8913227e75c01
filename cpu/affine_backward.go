package cpu

import "github.com/demt-web/demt/model"

// affineBackward is the backward of OpAffine y = act2(act1(x)·scale + shift + res): the
// activations' inputs are recomputed from x and res. Scale and shift gradients are summed
// serially after the parallel pass (O(n·c)).
type affineBackward struct {
	x, y, res      []float32
	scale, shift   []float32
	act1, act2     model.Act
	dy, dx, dres   []float32
	dscale, dshift []float32
	n, c           int
	scratch        []float32 // n·c: dy·act2'(z2), for the scale/shift sums (nil when not wanted)
	a1             []float32 // n·c: act1(x), for the scale sum
}

func (a *affineBackward) run(p *pool) {
	p.run(a.n, 64, a)
	if a.dshift != nil {
		colSum(a.dshift, a.scratch, a.n, a.c)
	}
	if a.dscale != nil {
		for r := 0; r < a.n; r++ {
			g2, a1 := a.scratch[r*a.c:(r+1)*a.c], a.a1[r*a.c:(r+1)*a.c]
			for j := range g2 {
				a.dscale[j] += g2[j] * a1[j]
			}
		}
	}
}

func (a *affineBackward) chunk(_, lo, hi int) {
	c := a.c
	var buf [2][64]float32
	for r := lo; r < hi; r++ {
		for j0 := 0; j0 < c; j0 += 64 {
			j1 := min(j0+64, c)
			x := a.x[r*c+j0 : r*c+j1]
			a1, g := buf[0][:j1-j0], buf[1][:j1-j0]
			copy(a1, x)
			activate(a1, a.act1)
			// g starts as z2 = a1·scale + shift + res, then becomes dy·act2'(z2).
			copy(g, a1)
			if a.scale != nil {
				for j := range g {
					g[j] = g[j]*a.scale[j0+j] + a.shift[j0+j]
				}
			}
			if a.res != nil {
				for j := range g {
					g[j] += a.res[r*c+j0+j]
				}
			}
			dy := a.dy[r*c+j0 : r*c+j1]
			switch a.act2 {
			case model.ActNone:
				copy(g, dy)
			case model.ActReLU:
				for j, v := range g {
					if v > 0 {
						g[j] = dy[j]
					} else {
						g[j] = 0
					}
				}
			case model.ActGELU:
				for j, v := range g {
					g[j] = dy[j] * geluGrad(v)
				}
			}
			if a.scratch != nil {
				copy(a.scratch[r*c+j0:r*c+j1], g)
				copy(a.a1[r*c+j0:r*c+j1], a1)
			}
			if a.dres != nil {
				d := a.dres[r*c+j0 : r*c+j1]
				for j, v := range g {
					d[j] += v
				}
			}
			if a.dx == nil {
				continue
			}
			if a.scale != nil {
				for j := range g {
					g[j] *= a.scale[j0+j]
				}
			}
			actGrad(g, x, a.act1)
			d := a.dx[r*c+j0 : r*c+j1]
			for j, v := range g {
				d[j] += v
			}
		}
	}
}

// addBackward is the backward of OpAdd y = act(Σ inputs): every input receives dy·act'(Σ).
type addBackward struct {
	xs, dxs [][]float32
	y, dy   []float32
	act     model.Act
	n       int
}

func (a *addBackward) run(p *pool) { p.run(a.n, 4096, a) }

func (a *addBackward) chunk(_, lo, hi int) {
	var buf [256]float32
	for i0 := lo; i0 < hi; i0 += len(buf) {
		i1 := min(i0+len(buf), hi)
		g := buf[:i1-i0]
		copy(g, a.dy[i0:i1])
		switch a.act {
		case model.ActReLU:
			actGrad(g, a.y[i0:i1], model.ActReLU)
		case model.ActGELU:
			var z [256]float32
			s := z[:i1-i0]
			copy(s, a.xs[0][i0:i1])
			for _, x := range a.xs[1:] {
				for j := range s {
					s[j] += x[i0+j]
				}
			}
			actGrad(g, s, model.ActGELU)
		}
		for _, dx := range a.dxs {
			if dx == nil {
				continue
			}
			d := dx[i0:i1]
			for j, v := range g {
				d[j] += v
			}
		}
	}
}
