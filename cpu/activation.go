package cpu

import "github.com/demt-web/demt/model"

// activation is a prepared OpActivation: y = act(x) elementwise.
type activation struct {
	x, y []float32
	act  model.Act
	n    int
}

func (a *activation) run(p *pool) { p.run(a.n, 4096, a) }

func (a *activation) chunk(_, lo, hi int) {
	y := a.y[lo:hi]
	copy(y, a.x[lo:hi])
	activate(y, a.act)
}
