package cpu

import "github.com/demt-web/demt/model"

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
