package cpu

import "math"

// windowAttention is a prepared OpWindowAttention, mmseg's ShiftWindowMSA on LN1'd tokens:
// zero pad to window multiples (pad tokens are not masked), cyclic shift by −s, −100 mask
// between the 9 regions of the padded grid, relative position bias, softmax, projection,
// reverse shift and crop. Windows run in parallel.
type windowAttention struct {
	x, y        []float32
	h, w, c     int
	win, shift  int
	heads       int
	hp, wp      int
	qkvW, projW *weightMatrix
	qkvB, projB []float32
	bias        []float32 // (heads, N, N): table gathered by the relative position index
	scratch     []windowScratch
}

type windowScratch struct {
	tok, qkv, attn, o, out []float32
	src                    []int // per window token: source pixel or −1 (padding)
	region                 []int
	gemm                   gemmScratch
}

func newWindowScratch(n, c int) windowScratch {
	return windowScratch{tok: make([]float32, n*c), qkv: make([]float32, n*3*c), attn: make([]float32, n*n),
		o: make([]float32, n*c), out: make([]float32, n*c), src: make([]int, n), region: make([]int, n),
		gemm: newGemmScratch(c)}
}

func (wa *windowAttention) run(p *pool) {
	nw := (wa.hp / wa.win) * (wa.wp / wa.win)
	p.run(nw, 1, wa)
}

func regionOf(v, size, win, shift int) int {
	switch {
	case v < size-win:
		return 0
	case v < size-shift:
		return 1
	}
	return 2
}

// attnRow writes the unnormalised attention weights exp(l − max l) of query token a of head g
// in the window held by s (its q already scaled) to row and returns their sum; the logits l are
// q·k + the relative position bias, −100 across shifted-window regions.
func (wa *windowAttention) attnRow(s *windowScratch, row []float32, a, g int) float32 {
	c, n := wa.c, wa.win*wa.win
	d := c / wa.heads
	q := s.qkv[a*3*c+g*d : a*3*c+(g+1)*d]
	bias := wa.bias[(g*n+a)*n : (g*n+a+1)*n]
	mx := float32(math.Inf(-1))
	for b := 0; b < n; b++ {
		v := dot(q, s.qkv[b*3*c+c+g*d:b*3*c+c+(g+1)*d]) + bias[b]
		if wa.shift > 0 && s.region[a] != s.region[b] {
			v += -100
		}
		row[b] = v
		mx = max(mx, v)
	}
	var sum float32
	for b, v := range row {
		row[b] = float32(math.Exp(float64(v - mx)))
		sum += row[b]
	}
	return sum
}

func (wa *windowAttention) chunk(worker, lo, hi int) {
	s := &wa.scratch[worker]
	c, win, n := wa.c, wa.win, wa.win*wa.win
	d := c / wa.heads
	scale := float32(1 / math.Sqrt(float64(d)))
	nwx := wa.wp / win
	for wi := lo; wi < hi; wi++ {
		wy, wx := wi/nwx, wi%nwx
		for t := 0; t < n; t++ {
			r, cc := wy*win+t/win, wx*win+t%win // position in the shifted, padded grid
			sy, sx := (r+wa.shift)%wa.hp, (cc+wa.shift)%wa.wp
			tok := s.tok[t*c : (t+1)*c]
			if sy < wa.h && sx < wa.w {
				s.src[t] = sy*wa.w + sx
				copy(tok, wa.x[s.src[t]*c:(s.src[t]+1)*c])
			} else {
				s.src[t] = -1
				clear(tok)
			}
			if wa.shift > 0 {
				s.region[t] = 3*regionOf(r, wa.hp, win, wa.shift) + regionOf(cc, wa.wp, win, wa.shift)
			}
		}
		wa.qkvW.gemm(s.tok, c, wa.qkvB, s.qkv, 3*c, n, &s.gemm)
		for g := 0; g < wa.heads; g++ {
			for a := 0; a < n; a++ {
				q := s.qkv[a*3*c+g*d : a*3*c+(g+1)*d]
				for j := range q {
					q[j] *= scale
				}
			}
			for a := 0; a < n; a++ {
				row := s.attn[a*n : (a+1)*n]
				sum := wa.attnRow(s, row, a, g)
				o := s.o[a*c+g*d : a*c+(g+1)*d]
				clear(o)
				for b, p := range row {
					axpy(p/sum, s.qkv[b*3*c+2*c+g*d:b*3*c+2*c+(g+1)*d], o)
				}
			}
		}
		wa.projW.gemm(s.o, c, wa.projB, s.out, c, n, &s.gemm)
		for t := 0; t < n; t++ {
			if s.src[t] >= 0 {
				copy(wa.y[s.src[t]*c:(s.src[t]+1)*c], s.out[t*c:(t+1)*c])
			}
		}
	}
}
