package cpu

// conv2dBackward is the backward of OpConv2D (channels-last, groups, stride, zero padding).
//
//   - dx is a transposed convolution done as a gather, so no two workers write the same
//     input pixel: input pixels are split by phase (iy mod S, ix mod S); each phase sees a
//     fixed subset of the kernel taps, and its patch of output gradients (taps × Cout/G)
//     times a per-phase matrix (Cin/G × taps·Cout/G) is one gemm.
//   - dw = Σ_pixels dzᵀ · patch (im2col of x), over a fixed split of the pixels into chunks
//     with their own accumulators (deterministic), on the AVX2 kernel (addAtB).
type conv2dBackward struct {
	convGeom
	x, w   []float32 // input and weight (Cout, Cin/G, KH, KW)
	dx, dw []float32
	eg     epilogueGrad
	fwd    *conv2d   // recomputes z = conv(x) + bias when eg.needZ()
	rw     []float32 // w re-laid out as (Cout, KH, KW, Cin/G)
	phases []convPhase
	dwPart partials // per chunk: (Cout, KH·KW·Cin/G)
	dwSum  []float32
	stage  int
	patch  [][]float32 // per worker
	gemm   []gemmScratch
	atb    []atbScratch
	tmp    [][]float32
}

// convPhase is the part of the kernel that reaches input pixels with (iy mod S, ix mod S) =
// (ry, rx): taps (ky, kx) with ky ≡ ry + PadT and kx ≡ rx + PadL (mod S).
type convPhase struct {
	ry, rx int
	taps   [][2]int
	plain  [][]float32     // per group: (Cin/G) × (taps·Cout/G)
	wm     []*weightMatrix // per group
}

func newConv2DBackward(c *conv2d, x, w []float32, eg epilogueGrad, dx, dw, z, dz []float32, threads int) *conv2dBackward {
	b := &conv2dBackward{convGeom: c.convGeom, x: x, w: w, dx: dx, dw: dw, eg: eg}
	b.eg.m = c.oc
	n := c.oh * c.ow
	cing, coutg := c.ic/c.groups, c.oc/c.groups
	kp := c.kh * c.kw * cing
	b.rw = make([]float32, len(w))
	if eg.needZ() {
		b.eg.z = z[:n*c.oc]
		f := *c
		f.x, f.y, f.bias, f.ep = x, b.eg.z, eg.ep.bias, epilogue{}
		f.w = nil
		for g := 0; g < c.groups; g++ {
			f.w = append(f.w, newWeightMatrix(b.rw[g*coutg*kp:(g+1)*coutg*kp], coutg, kp))
		}
		b.fwd = &f
	}
	if !b.eg.identity() {
		b.eg.dz = dz[:n*c.oc]
	} else {
		b.eg.dz = nil
	}
	maxK := 0
	if dx != nil {
		s := c.stride
		for ry := 0; ry < s; ry++ {
			for rx := 0; rx < s; rx++ {
				ph := convPhase{ry: ry, rx: rx}
				for ky := 0; ky < c.kh; ky++ {
					for kx := 0; kx < c.kw; kx++ {
						if mod(ry+c.pt-ky, s) == 0 && mod(rx+c.pl-kx, s) == 0 {
							ph.taps = append(ph.taps, [2]int{ky, kx})
						}
					}
				}
				k := len(ph.taps) * coutg
				maxK = max(maxK, k)
				for g := 0; g < c.groups; g++ {
					pl := make([]float32, cing*k)
					ph.plain = append(ph.plain, pl)
					if k > 0 {
						ph.wm = append(ph.wm, newWeightMatrix(pl, cing, k))
					} else {
						ph.wm = append(ph.wm, nil)
					}
				}
				b.phases = append(b.phases, ph)
			}
		}
	}
	if dw != nil {
		b.dwPart = newPartials(threads, len(w))
		b.dwSum = make([]float32, len(w))
	}
	for i := 0; i < threads; i++ {
		b.patch = append(b.patch, make([]float32, max(convBlock*maxK, atbBlock*kp)))
		b.gemm = append(b.gemm, newGemmScratch(max(maxK, kp)))
		b.atb = append(b.atb, newATBScratch(coutg, kp))
		b.tmp = append(b.tmp, make([]float32, 2*c.oc))
	}
	return b
}

func mod(a, s int) int { return ((a % s) + s) % s }

// refresh re-lays out the current weights for every product.
func (b *conv2dBackward) refresh() {
	cing, coutg := b.ic/b.groups, b.oc/b.groups
	kh, kw := b.kh, b.kw
	kp := kh * kw * cing
	for o := 0; o < b.oc; o++ {
		for ci := 0; ci < cing; ci++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					b.rw[((o*kh+y)*kw+x)*cing+ci] = b.w[((o*cing+ci)*kh+y)*kw+x]
				}
			}
		}
	}
	if b.fwd != nil {
		for g, wm := range b.fwd.w {
			wm.repack(b.rw[g*coutg*kp : (g+1)*coutg*kp])
		}
	}
	for pi := range b.phases {
		ph := &b.phases[pi]
		k := len(ph.taps) * coutg
		if k == 0 {
			continue
		}
		for g := 0; g < b.groups; g++ {
			pl := ph.plain[g]
			for ci := 0; ci < cing; ci++ {
				for t, tap := range ph.taps {
					for o := 0; o < coutg; o++ {
						pl[ci*k+t*coutg+o] = b.w[(((g*coutg+o)*cing+ci)*kh+tap[0])*kw+tap[1]]
					}
				}
			}
			ph.wm[g].repack(pl)
		}
	}
}

func (b *conv2dBackward) run(p *pool) {
	b.refresh()
	n := b.oh * b.ow
	if b.fwd != nil {
		b.fwd.run(p)
	}
	b.stage = 0
	p.run(n, 64, b)
	b.eg.sums(n, b.tmp[0])
	if b.dx != nil {
		b.stage = 1
		p.run(b.ih*b.stride, 1, b)
	}
	if b.dw != nil {
		b.dwPart.reset()
		b.stage = 2
		p.run(len(b.dwPart.bufs), 1, b)
		clear(b.dwSum)
		b.dwPart.addTo(b.dwSum)
		// (Cout, KH, KW, Cin/G) → (Cout, Cin/G, KH, KW).
		cing := b.ic / b.groups
		for o := 0; o < b.oc; o++ {
			for ci := 0; ci < cing; ci++ {
				for y := 0; y < b.kh; y++ {
					for x := 0; x < b.kw; x++ {
						b.dw[((o*cing+ci)*b.kh+y)*b.kw+x] += b.dwSum[((o*b.kh+y)*b.kw+x)*cing+ci]
					}
				}
			}
		}
	}
}

func (b *conv2dBackward) grad() []float32 {
	if b.eg.dz != nil {
		return b.eg.dz
	}
	return b.eg.dy
}

func (b *conv2dBackward) chunk(worker, lo, hi int) {
	switch b.stage {
	case 0:
		b.eg.rows(lo, hi, b.tmp[worker])
	case 1:
		for item := lo; item < hi; item++ {
			b.inputGrad(worker, item/b.stride, item%b.stride)
		}
	case 2:
		parts := len(b.dwPart.bufs)
		n := b.oh * b.ow
		for c := lo; c < hi; c++ {
			b.weightGrad(worker, b.dwPart.bufs[c], c*n/parts, (c+1)*n/parts)
		}
	}
}

// inputGrad accumulates dx on input row iy at columns ix ≡ rx (mod S).
func (b *conv2dBackward) inputGrad(worker, iy, rx int) {
	s := b.stride
	ph := &b.phases[mod(iy, s)*s+rx]
	cing, coutg := b.ic/b.groups, b.oc/b.groups
	k := len(ph.taps) * coutg
	if k == 0 || rx >= b.iw {
		return
	}
	dz := b.grad()
	cols := (b.iw - rx + s - 1) / s // columns rx, rx+S, …
	patch := b.patch[worker]
	for c0 := 0; c0 < cols; c0 += convBlock {
		c1 := min(c0+convBlock, cols)
		for g := 0; g < b.groups; g++ {
			if b.pointwise {
				p0 := iy*b.iw + rx + c0
				ph.wm[g].gemmAdd(dz[p0*b.oc+g*coutg:], b.oc, b.dx[p0*b.ic+g*cing:], b.ic, c1-c0, &b.gemm[worker])
				continue
			}
			for ci := c0; ci < c1; ci++ {
				ix := rx + ci*s
				dst := patch[(ci-c0)*k : (ci-c0+1)*k]
				for t, tap := range ph.taps {
					d := dst[t*coutg : (t+1)*coutg]
					ny, nx := iy+b.pt-tap[0], ix+b.pl-tap[1]
					oy, ox := ny/s, nx/s
					if ny < 0 || nx < 0 || oy >= b.oh || ox >= b.ow {
						clear(d)
						continue
					}
					src := (oy*b.ow+ox)*b.oc + g*coutg
					copy(d, dz[src:src+coutg])
				}
			}
			p0 := iy*b.iw + rx + c0*s
			ph.wm[g].gemmAdd(patch, k, b.dx[p0*b.ic+g*cing:], s*b.ic, c1-c0, &b.gemm[worker])
		}
	}
}

// weightGrad accumulates dzᵀ·patch over output pixels [p0, p1) into acc (Cout, KH·KW·Cin/G).
func (b *conv2dBackward) weightGrad(worker int, acc []float32, p0, p1 int) {
	cing, coutg := b.ic/b.groups, b.oc/b.groups
	kp := b.kh * b.kw * cing
	dz := b.grad()
	patch := b.patch[worker]
	for q0 := p0; q0 < p1; q0 += atbBlock {
		q1 := min(q0+atbBlock, p1)
		for g := 0; g < b.groups; g++ {
			dst := acc[g*coutg*kp : (g+1)*coutg*kp]
			if b.pointwise {
				addAtB(dst, kp, dz[q0*b.oc+g*coutg:], b.oc, b.x[q0*b.ic+g*cing:], b.ic, q1-q0, coutg, kp, &b.atb[worker])
				continue
			}
			for pix := q0; pix < q1; pix++ {
				b.im2col(patch[(pix-q0)*kp:(pix-q0+1)*kp], b.x, pix, g)
			}
			addAtB(dst, kp, dz[q0*b.oc+g*coutg:], b.oc, patch, kp, q1-q0, coutg, kp, &b.atb[worker])
		}
	}
}
