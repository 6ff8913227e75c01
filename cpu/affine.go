package cpu

import "github.com/demt-web/demt/model"

// affine is a prepared OpAffine: y = act2(act1(x)·scale + shift + residual) per channel.
type affine struct {
	x, y, res    []float32
	scale, shift []float32
	act1, act2   model.Act
	n, c         int
}

func (a *affine) run(p *pool) { p.run(a.n, 64, a) }

func (a *affine) chunk(_, lo, hi int) {
	copy(a.y[lo*a.c:hi*a.c], a.x[lo*a.c:hi*a.c])
	ep := epilogue{act1: a.act1, act2: a.act2, scale: a.scale, shift: a.shift, residual: a.res}
	ep.apply(a.y, a.c, lo, hi)
}

// add is a prepared OpAdd: y = act(Σ inputs), summed in input order.
type add struct {
	xs  [][]float32
	y   []float32
	act model.Act
	n   int
}

func (a *add) run(p *pool) { p.run(a.n, 4096, a) }

func (a *add) chunk(_, lo, hi int) {
	y := a.y[lo:hi]
	copy(y, a.xs[0][lo:hi])
	for _, x := range a.xs[1:] {
		x = x[lo:hi]
		for i := range y {
			y[i] += x[i]
		}
	}
	activate(y, a.act)
}
