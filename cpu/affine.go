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
