package cpu

// concat is a prepared OpConcat: channel concatenation of maps of the same H×W.
type concat struct {
	xs [][]float32
	cs []int
	y  []float32
	n  int // pixels
	c  int // output channels
}

func (k *concat) run(p *pool) { p.run(k.n, 256, k) }

func (k *concat) chunk(_, lo, hi int) {
	for r := lo; r < hi; r++ {
		off := r * k.c
		for i, x := range k.xs {
			c := k.cs[i]
			copy(k.y[off:off+c], x[r*c:(r+1)*c])
			off += c
		}
	}
}
