package cpu

import "math"

// windowAttentionBackward is the backward of OpWindowAttention. Per window it recomputes the
// forward (tokens, qkv, softmax) and then: dproj += dOutᵀ·o, dO = dOut·proj; per head
// dS = P ⊙ (dP − Σ P·dP) with dP = dO·vᵀ, dv += Pᵀ·dO, dq += dS·k (times the query scale,
// which applies after the bias, so it scales the q weight and bias gradients), dk += dSᵀ·q;
// the relative-position table receives dS scatter-added through the index (the −100 mask is
// a constant); dqkv += dQKVᵀ·tokens, dx = dQKV·qkv at the tokens' source pixels (windows
// partition the shifted grid, so windows write disjoint pixels). Weight gradients go through
// per-chunk accumulators (deterministic).
type windowAttentionBackward struct {
	wa                 *windowAttention
	qkvW, projW, table []float32
	qkvWT, projWT      *weightMatrix
	relIdx             []int // a·N + b → table row
	dy, dx             []float32
	dqkvW, dqkvB       []float32
	dprojW, dprojB     []float32
	dtable             []float32
	part               partials // per chunk: dqkvW | dqkvB | dprojW | dprojB | dtable
	scratch            []windowGradScratch
}

type windowGradScratch struct {
	prob, dp, dout, do, dqkv, dtok []float32
	atb                            atbScratch
	gemm                           gemmScratch // contraction up to 3c
}

func newWindowAttentionBackward(wa *windowAttention, qkvW, projW, table, dy, dx, dqkvW, dqkvB, dprojW, dprojB, dtable []float32, threads int) *windowAttentionBackward {
	c, win := wa.c, wa.win
	n := win * win
	b := &windowAttentionBackward{wa: wa, qkvW: qkvW, projW: projW, table: table, dy: dy, dx: dx,
		dqkvW: dqkvW, dqkvB: dqkvB, dprojW: dprojW, dprojB: dprojB, dtable: dtable,
		qkvWT: newWeightMatrixT(qkvW, 3*c, c), projWT: newWeightMatrixT(projW, c, c), relIdx: make([]int, n*n)}
	for a := 0; a < n; a++ {
		for bb := 0; bb < n; bb++ {
			ya, xa, yb, xb := a/win, a%win, bb/win, bb%win
			b.relIdx[a*n+bb] = (ya-yb+win-1)*(2*win-1) + (xa - xb + win - 1)
		}
	}
	b.part = newPartials(threads, 3*c*c+3*c+c*c+c+len(table))
	for i := 0; i < threads; i++ {
		b.scratch = append(b.scratch, windowGradScratch{prob: make([]float32, wa.heads*n*n), dp: make([]float32, n), dout: make([]float32, n*c),
			do: make([]float32, n*c), dqkv: make([]float32, n*3*c), dtok: make([]float32, n*c), atb: newATBScratch(3*c, c), gemm: newGemmScratch(3 * c)})
	}
	return b
}

func (b *windowAttentionBackward) run(p *pool) {
	wa := b.wa
	n := wa.win * wa.win
	wa.qkvW.repack(b.qkvW)
	b.qkvWT.repackT(b.qkvW)
	b.projWT.repackT(b.projW)
	for g := 0; g < wa.heads; g++ {
		for i, idx := range b.relIdx {
			wa.bias[g*n*n+i] = b.table[idx*wa.heads+g]
		}
	}
	b.part.reset()
	p.run(len(b.part.bufs), 1, b)
	c := wa.c
	sum := b.part.bufs[0]
	for _, q := range b.part.bufs[1:] {
		for i, v := range q {
			sum[i] += v
		}
	}
	off := 0
	for _, d := range []struct {
		dst []float32
		n   int
	}{{b.dqkvW, 3 * c * c}, {b.dqkvB, 3 * c}, {b.dprojW, c * c}, {b.dprojB, c}, {b.dtable, len(b.table)}} {
		if d.dst != nil {
			for i, v := range sum[off : off+d.n] {
				d.dst[i] += v
			}
		}
		off += d.n
	}
}

func (b *windowAttentionBackward) chunk(worker, lo, hi int) {
	wa := b.wa
	nw := (wa.hp / wa.win) * (wa.wp / wa.win)
	parts := len(b.part.bufs)
	for part := lo; part < hi; part++ {
		for wi := part * nw / parts; wi < (part+1)*nw/parts; wi++ {
			b.window(worker, wi, b.part.bufs[part])
		}
	}
}

func (b *windowAttentionBackward) window(worker, wi int, acc []float32) {
	wa := b.wa
	s := &wa.scratch[worker]
	gs := &b.scratch[worker]
	c, win, n := wa.c, wa.win, wa.win*wa.win
	d := c / wa.heads
	scale := float32(1 / math.Sqrt(float64(d)))
	nwx := wa.wp / win
	wy, wx := wi/nwx, wi%nwx
	for t := 0; t < n; t++ {
		r, cc := wy*win+t/win, wx*win+t%win
		sy, sx := (r+wa.shift)%wa.hp, (cc+wa.shift)%wa.wp
		tok := s.tok[t*c : (t+1)*c]
		dout := gs.dout[t*c : (t+1)*c]
		if sy < wa.h && sx < wa.w {
			s.src[t] = sy*wa.w + sx
			copy(tok, wa.x[s.src[t]*c:(s.src[t]+1)*c])
			copy(dout, b.dy[s.src[t]*c:(s.src[t]+1)*c])
		} else {
			s.src[t] = -1
			clear(tok)
			clear(dout)
		}
		if wa.shift > 0 {
			s.region[t] = 3*regionOf(r, wa.hp, win, wa.shift) + regionOf(cc, wa.wp, win, wa.shift)
		}
	}
	wa.qkvW.gemm(s.tok, c, wa.qkvB, s.qkv, 3*c, n, &s.gemm)
	clear(s.o)
	for g := 0; g < wa.heads; g++ {
		for a := 0; a < n; a++ {
			q := s.qkv[a*3*c+g*d : a*3*c+(g+1)*d]
			for j := range q {
				q[j] *= scale
			}
		}
		for a := 0; a < n; a++ {
			row := gs.prob[(g*n+a)*n : (g*n+a+1)*n]
			sum := wa.attnRow(s, row, a, g)
			o := s.o[a*c+g*d : a*c+(g+1)*d]
			for bb := range row {
				row[bb] /= sum
				axpy(row[bb], s.qkv[bb*3*c+2*c+g*d:bb*3*c+2*c+(g+1)*d], o)
			}
		}
	}
	// Accumulator layout: dqkvW | dqkvB | dprojW | dprojB | dtable.
	aQW := acc[:3*c*c]
	aQB := acc[3*c*c : 3*c*c+3*c]
	aPW := acc[3*c*c+3*c : 3*c*c+3*c+c*c]
	aPB := acc[3*c*c+3*c+c*c : 3*c*c+4*c+c*c]
	aT := acc[3*c*c+4*c+c*c:]
	addAtB(aPW, c, gs.dout, c, s.o, c, n, c, c, &gs.atb)
	colSum(aPB, gs.dout, n, c)
	b.projWT.gemm(gs.dout, c, nil, gs.do, c, n, &gs.gemm)
	clear(gs.dqkv)
	dp := gs.dp
	for g := 0; g < wa.heads; g++ {
		for a := 0; a < n; a++ {
			row := gs.prob[(g*n+a)*n : (g*n+a+1)*n]
			dO := gs.do[a*c+g*d : a*c+(g+1)*d]
			q := s.qkv[a*3*c+g*d : a*3*c+(g+1)*d] // scaled
			dq := gs.dqkv[a*3*c+g*d : a*3*c+(g+1)*d]
			var sp float32
			for bb, pv := range row {
				dp[bb] = dot(dO, s.qkv[bb*3*c+2*c+g*d:bb*3*c+2*c+(g+1)*d])
				sp += pv * dp[bb]
				axpy(pv, dO, gs.dqkv[bb*3*c+2*c+g*d:bb*3*c+2*c+(g+1)*d])
			}
			for bb, pv := range row {
				ds := pv * (dp[bb] - sp)
				if ds == 0 {
					continue
				}
				axpy(ds, s.qkv[bb*3*c+c+g*d:bb*3*c+c+(g+1)*d], dq)
				axpy(ds, q, gs.dqkv[bb*3*c+c+g*d:bb*3*c+c+(g+1)*d])
				aT[b.relIdx[a*n+bb]*wa.heads+g] += ds
			}
			for j := range dq {
				dq[j] *= scale
			}
		}
	}
	addAtB(aQW, c, gs.dqkv, 3*c, s.tok, c, n, 3*c, c, &gs.atb)
	colSum(aQB, gs.dqkv, n, 3*c)
	if b.dx == nil {
		return
	}
	b.qkvWT.gemm(gs.dqkv, 3*c, nil, gs.dtok, c, n, &gs.gemm)
	for t := 0; t < n; t++ {
		if src := s.src[t]; src >= 0 {
			dst := b.dx[src*c : (src+1)*c]
			for j, v := range gs.dtok[t*c : (t+1)*c] {
				dst[j] += v
			}
		}
	}
}
