package cpu

import (
	"math"

	"github.com/demt-web/demt/model"
)

// Backward kernels follow one contract: every gradient they write is accumulated (+=), so a
// tensor read by several ops, or a weight used by every image of a batch, sums its
// contributions; the caller zeroes gradients once per step. A nil gradient slice is not
// computed. Weights are read from their plain (PyTorch-layout) slices and re-packed at the
// start of every run, so the optimiser may update them in place between runs.

// epilogueGrad is the backward of the Linear/Conv2D epilogue
// y = act2(act1((acc + bias)·outScale)·scale + shift + residual): from dy it makes dz, the
// gradient w.r.t. acc + bias, and accumulates the residual, bias, scale and shift gradients.
type epilogueGrad struct {
	ep                    epilogue // forward parameters (bias, outScale, acts, scale, shift, residual)
	y, dy                 []float32
	z                     []float32 // acc + bias, recomputed by the owner when needZ
	dz                    []float32 // n×m, or nil when dz = dy (identity epilogue)
	dres                  []float32
	dbias, dscale, dshift []float32
	m                     int
}

// needZ reports whether the backward needs the pre-epilogue values (recomputed by a forward
// product): when an activation's derivative cannot be read off the output, or for dscale.
func (g *epilogueGrad) needZ() bool {
	e := &g.ep
	return e.act1 != model.ActNone || e.act2 == model.ActGELU || g.dscale != nil
}

// identity reports whether the epilogue is y = acc + bias (+ residual): then dz = dy.
func (g *epilogueGrad) identity() bool {
	e := &g.ep
	return (e.outScale == 0 || e.outScale == 1) && e.act1 == model.ActNone && e.act2 == model.ActNone && e.scale == nil
}

// actGrad multiplies d by act'(z) in place (z the activation's input).
func actGrad(d, z []float32, a model.Act) {
	switch a {
	case model.ActReLU:
		for i, v := range z {
			if !(v > 0) {
				d[i] = 0
			}
		}
	case model.ActGELU:
		i := 0
		if haveSIMD && len(z) >= 8 {
			i = len(z) &^ 7
			geluGradAVX(&d[0], &z[0], i, &geluGradConsts)
		}
		for ; i < len(z); i++ {
			d[i] *= geluGrad(z[i])
		}
	}
}

// geluGradConsts are geluConsts followed by exp32's constants broadcast to 8 lanes for
// geluGradAVX: −0.5, the clamp −87, log2 e, ln 2 in two parts, the polynomial (highest
// degree first), 1, the integer 127 (as bits) and 1/√(2π).
var geluGradConsts = func() (c [30][8]float32) {
	copy(c[:16], geluConsts[:])
	vals := []float32{-0.5, -87, 1.44269504088896341, 0.693359375, -2.12194440e-4,
		1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
		1, math.Float32frombits(127), float32(1 / math.Sqrt(2*math.Pi))}
	for i, v := range vals {
		for j := range c[16+i] {
			c[16+i][j] = v
		}
	}
	return c
}()

// geluGrad is d/dx of the exact GELU: Φ(x) + x·φ(x), with erf32 and exp32.
func geluGrad(x float32) float32 {
	cdf := 0.5 * (1 + erf32(x*(1/math.Sqrt2)))
	return cdf + x*exp32(-0.5*x*x)*float32(1/math.Sqrt(2*math.Pi))
}

// exp32 is a float32 e^x (Cephes expf): x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
// polynomial, times 2^n; 0 below −87 (TestExp32: within 2 ulp of math.Exp).
func exp32(x float32) float32 {
	if x < -87 {
		return 0
	}
	if x > 88 {
		return float32(math.Inf(1))
	}
	n := float32(math.Floor(float64(x*1.44269504088896341 + 0.5)))
	r := x - n*0.693359375 - n*-2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	e := p*r*r + r + 1
	return e * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// rows computes dz (and the residual gradient) for rows [r0, r1); tmp holds 2·m floats.
func (g *epilogueGrad) rows(r0, r1 int, tmp []float32) {
	e, m := &g.ep, g.m
	os := e.outScale
	if os == 0 {
		os = 1
	}
	z1, z2 := tmp[:m], tmp[m:2*m]
	for r := r0; r < r1; r++ {
		dy := g.dy[r*m : (r+1)*m]
		var dz []float32
		if g.dz != nil {
			dz = g.dz[r*m : (r+1)*m]
			copy(dz, dy)
		} else {
			dz = dy
		}
		if g.z != nil {
			z := g.z[r*m : (r+1)*m]
			for j, v := range z {
				z1[j] = v * os
			}
			copy(z2, z1)
			activate(z2, e.act1)
			if e.scale != nil {
				for j := range z2 {
					z2[j] = z2[j]*e.scale[j] + e.shift[j]
				}
			}
			if e.residual != nil {
				res := e.residual[r*m : (r+1)*m]
				for j := range z2 {
					z2[j] += res[j]
				}
			}
			actGrad(dz, z2, e.act2)
		} else if e.act2 == model.ActReLU {
			actGrad(dz, g.y[r*m:(r+1)*m], model.ActReLU)
		}
		if g.dres != nil {
			d := g.dres[r*m : (r+1)*m]
			for j, v := range dz {
				d[j] += v
			}
		}
		if g.dz == nil {
			continue
		}
		if e.scale != nil {
			for j := range dz {
				dz[j] *= e.scale[j]
			}
		}
		if e.act1 != model.ActNone {
			actGrad(dz, z1, e.act1)
		}
		if os != 1 {
			for j := range dz {
				dz[j] *= os
			}
		}
	}
}

// sums accumulates the bias, scale and shift gradients over n rows (serially: O(n·m)).
func (g *epilogueGrad) sums(n int, tmp []float32) {
	m := g.m
	d := g.dz
	if d == nil {
		d = g.dy
	}
	if g.dbias != nil {
		colSum(g.dbias, d, n, m)
	}
	if g.dscale == nil && g.dshift == nil {
		return
	}
	e := &g.ep
	os := e.outScale
	if os == 0 {
		os = 1
	}
	a1, g2 := tmp[:m], tmp[m:2*m]
	for r := 0; r < n; r++ {
		// g2 = dy·act2'(z2) and a1 = act1(z·outScale), recomputed row by row.
		z := g.z[r*m : (r+1)*m]
		for j, v := range z {
			a1[j] = v * os
		}
		activate(a1, e.act1)
		for j := range g2 {
			g2[j] = a1[j]*e.scale[j] + e.shift[j]
		}
		if e.residual != nil {
			res := e.residual[r*m : (r+1)*m]
			for j := range g2 {
				g2[j] += res[j]
			}
		}
		z2 := g2
		dy := g.dy[r*m : (r+1)*m]
		for j, v := range z2 {
			var f float32 = 1
			switch e.act2 {
			case model.ActReLU:
				if !(v > 0) {
					f = 0
				}
			case model.ActGELU:
				f = geluGrad(v)
			}
			g2[j] = dy[j] * f
		}
		if g.dscale != nil {
			for j := range g2 {
				g.dscale[j] += g2[j] * a1[j]
			}
		}
		if g.dshift != nil {
			for j := range g2 {
				g.dshift[j] += g2[j]
			}
		}
	}
}

// linearBackward is the backward of OpLinear: y = epilogue(x·wᵀ + bias), x (n×k), w (m×k).
type linearBackward struct {
	x, w    []float32
	dx, dw  []float32
	n, k, m int
	eg      epilogueGrad
	fwd     *weightMatrix // w, for recomputing z
	wt      *weightMatrix // wᵀ, for dx
	dwPart  partials
	stage   int // which pass chunk runs
	gemm    []gemmScratch
	atb     []atbScratch
	tmp     [][]float32
}

// newLinearBackward prepares the backward of a linear layer. dz (n×m) is scratch, needed
// unless the epilogue is the identity; z (n×m) is scratch for the recomputed pre-epilogue
// values, needed when eg.needZ().
func newLinearBackward(x, w []float32, n, k, m int, eg epilogueGrad, dx, dw, z, dz []float32, threads int) *linearBackward {
	l := &linearBackward{x: x, w: w, dx: dx, dw: dw, n: n, k: k, m: m, eg: eg}
	l.eg.m = m
	if eg.needZ() {
		l.eg.z = z[:n*m]
		l.fwd = newWeightMatrix(w, m, k)
	}
	if !l.eg.identity() {
		l.eg.dz = dz[:n*m]
	} else {
		l.eg.dz = nil
	}
	if dx != nil {
		l.wt = newWeightMatrixT(w, m, k)
	}
	if dw != nil {
		l.dwPart = newPartials(threads, m*k)
	}
	for i := 0; i < threads; i++ {
		l.gemm = append(l.gemm, newGemmScratch(max(k, m)))
		l.atb = append(l.atb, newATBScratch(m, k))
		l.tmp = append(l.tmp, make([]float32, 2*m))
	}
	return l
}

func (l *linearBackward) run(p *pool) {
	if l.fwd != nil {
		l.fwd.repack(l.w)
	}
	if l.wt != nil {
		l.wt.repackT(l.w)
	}
	l.stage = 0
	p.run(l.n, 48, l)
	l.eg.sums(l.n, l.tmp[0])
	if l.dx != nil {
		l.stage = 1
		p.run(l.n, 48, l)
	}
	if l.dw != nil {
		l.dwPart.reset()
		l.stage = 2
		p.run(len(l.dwPart.bufs), 1, l)
		l.dwPart.addTo(l.dw)
	}
}

// grad is dz, or dy when the epilogue is the identity.
func (l *linearBackward) grad() []float32 {
	if l.eg.dz != nil {
		return l.eg.dz
	}
	return l.eg.dy
}

func (l *linearBackward) chunk(worker, lo, hi int) {
	switch l.stage {
	case 0:
		if l.eg.z != nil {
			l.fwd.gemm(l.x[lo*l.k:], l.k, l.eg.ep.bias, l.eg.z[lo*l.m:], l.m, hi-lo, &l.gemm[worker])
		}
		l.eg.rows(lo, hi, l.tmp[worker])
	case 1:
		l.wt.gemmAdd(l.grad()[lo*l.m:], l.m, l.dx[lo*l.k:], l.k, hi-lo, &l.gemm[worker])
	case 2:
		parts := len(l.dwPart.bufs)
		for c := lo; c < hi; c++ {
			r0, r1 := c*l.n/parts, (c+1)*l.n/parts
			addAtB(l.dwPart.bufs[c], l.k, l.grad()[r0*l.m:], l.m, l.x[r0*l.k:], l.k, r1-r0, l.m, l.k, &l.atb[worker])
		}
	}
}
