package cpu

import (
	"math"

	"github.com/demt-web/demt/model"
)

// ref64 is a literal float64 re-implementation of one plan op (model/plan.go semantics), the
// oracle of the finite-difference checks: its results are compared with the float32 kernels
// first, then differentiated numerically with steps far below float32 resolution.
type ref64 struct {
	plan *model.Plan
}

func act64(v float64, a model.Act) float64 {
	switch a {
	case model.ActReLU:
		return math.Max(v, 0)
	case model.ActGELU:
		return 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
	}
	return v
}

// op computes op's output from its inputs (by position; the residual last when present)
// and the constants.
func (r ref64) op(op *model.Op, ins [][]float64, consts map[string][]float64) []float64 {
	p := r.plan
	out := p.Tensors[op.Output].Shape
	sh := func(i int) model.Shape { return p.Tensors[op.Inputs[i]].Shape }
	var res []float64
	if _, ok := op.Residual.Get(); ok {
		res = ins[len(op.Inputs)]
	}
	y := make([]float64, out.Numel())
	epi := func(acc []float64, m int) {
		b, sc, sf := consts[op.Bias], consts[op.Scale], consts[op.Shift]
		os := float64(op.OutScale)
		if os == 0 {
			os = 1
		}
		for i := range acc {
			j := i % m
			v := acc[i]
			if b != nil {
				v += b[j]
			}
			v = act64(v*os, op.Act1)
			if sc != nil {
				v = v*sc[j] + sf[j]
			}
			if res != nil {
				v += res[i]
			}
			acc[i] = act64(v, op.Act2)
		}
	}
	switch op.Kind {
	case model.OpLinear:
		s := sh(0)
		w := consts[op.Weight]
		for t := 0; t < s.H*s.W; t++ {
			for o := 0; o < out.C; o++ {
				var a float64
				for q := 0; q < s.C; q++ {
					a += ins[0][t*s.C+q] * w[o*s.C+q]
				}
				y[t*out.C+o] = a
			}
		}
		epi(y, out.C)
	case model.OpConv2D:
		s := sh(0)
		w := consts[op.Weight]
		cing, coutg := s.C/op.Groups, out.C/op.Groups
		for oy := 0; oy < out.H; oy++ {
			for ox := 0; ox < out.W; ox++ {
				for o := 0; o < out.C; o++ {
					g := o / coutg
					var a float64
					for ky := 0; ky < op.KH; ky++ {
						iy := oy*op.Stride - op.PadT + ky
						for kx := 0; kx < op.KW; kx++ {
							ix := ox*op.Stride - op.PadL + kx
							if iy < 0 || iy >= s.H || ix < 0 || ix >= s.W {
								continue
							}
							for ci := 0; ci < cing; ci++ {
								a += ins[0][(iy*s.W+ix)*s.C+g*cing+ci] * w[((o*cing+ci)*op.KH+ky)*op.KW+kx]
							}
						}
					}
					y[(oy*out.W+ox)*out.C+o] = a
				}
			}
		}
		epi(y, out.C)
	case model.OpLayerNorm:
		c := out.C
		w, b := consts[op.Weight], consts[op.Bias]
		for t := 0; t < out.H*out.W; t++ {
			x := ins[0][t*c : (t+1)*c]
			var m, v float64
			for _, e := range x {
				m += e
			}
			m /= float64(c)
			for _, e := range x {
				v += (e - m) * (e - m)
			}
			rs := 1 / math.Sqrt(v/float64(c)+float64(op.Eps))
			for j, e := range x {
				y[t*c+j] = (e-m)*rs*w[j] + b[j]
				if res != nil {
					y[t*c+j] += res[t*c+j]
				}
			}
		}
	case model.OpAffine:
		sc, sf := consts[op.Scale], consts[op.Shift]
		for i, v := range ins[0] {
			j := i % out.C
			v = act64(v, op.Act1)
			if sc != nil {
				v = v*sc[j] + sf[j]
			}
			if res != nil {
				v += res[i]
			}
			y[i] = act64(v, op.Act2)
		}
	case model.OpAdd:
		for i := range y {
			var s float64
			for _, x := range ins[:len(op.Inputs)] {
				s += x[i]
			}
			y[i] = act64(s, op.Act2)
		}
	case model.OpResize:
		s := sh(0)
		ty, tx := model.ResizeTaps(s.H, out.H), model.ResizeTaps(s.W, out.W)
		at := func(yy, xx, c int) float64 { return ins[0][(yy*s.W+xx)*s.C+c] }
		for oy, a := range ty {
			for ox, b := range tx {
				for c := 0; c < s.C; c++ {
					y[(oy*out.W+ox)*out.C+c] = float64(a.L0)*(float64(b.L0)*at(a.I0, b.I0, c)+float64(b.L1)*at(a.I0, b.I1, c)) +
						float64(a.L1)*(float64(b.L0)*at(a.I1, b.I0, c)+float64(b.L1)*at(a.I1, b.I1, c))
				}
			}
		}
	case model.OpConcat:
		for t := 0; t < out.H*out.W; t++ {
			off := 0
			for i := range op.Inputs {
				c := sh(i).C
				copy(y[t*out.C+off:t*out.C+off+c], ins[i][t*c:(t+1)*c])
				off += c
			}
		}
	case model.OpStack:
		off := 0
		for i := range op.Inputs {
			copy(y[off:], ins[i])
			off += len(ins[i])
		}
	case model.OpPatchMerge:
		s := sh(0)
		for oy := 0; oy < out.H; oy++ {
			for ox := 0; ox < out.W; ox++ {
				for k := 0; k < 4; k++ {
					iy, ix := 2*oy+k/2, 2*ox+k%2
					if iy >= s.H || ix >= s.W {
						continue
					}
					for c := 0; c < s.C; c++ {
						y[(oy*out.W+ox)*out.C+c*4+k] = ins[0][(iy*s.W+ix)*s.C+c]
					}
				}
			}
		}
	case model.OpOffsetCoords:
		for yy := 0; yy < out.H; yy++ {
			for xx := 0; xx < out.W; xx++ {
				b := (yy*out.W + xx) * 18
				for k := 0; k < 9; k++ {
					y[b+k] = float64(yy+1) + float64(pnRow[k]) + ins[0][b+k]
					y[b+9+k] = float64(xx+1) + float64(pnCol[k]) + ins[0][b+9+k]
				}
			}
		}
	case model.OpDeformSample:
		copy(y, deform64(ins[0], ins[1], out.H, out.W, out.C))
	case model.OpDeformLinear:
		s := sh(0)
		smp := deform64(ins[0], ins[1], s.H, s.W, s.C)
		w := consts[op.Weight]
		for t := 0; t < s.H*s.W; t++ {
			for o := 0; o < out.C; o++ {
				var a float64
				for q := 0; q < s.C; q++ {
					a += smp[t*s.C+q] * w[o*s.C+q]
				}
				y[t*out.C+o] = a
			}
		}
		epi(y, out.C)
	case model.OpBatchNorm:
		g, b, m, v := consts[op.Weight], consts[op.Bias], consts[op.Mean], consts[op.Var]
		for i, x := range ins[0] {
			c := i % out.C
			y[i] = (x-m[c])/math.Sqrt(v[c]+float64(op.Eps))*g[c] + b[c]
		}
	case model.OpActivation:
		for i, x := range ins[0] {
			y[i] = act64(x, op.Act1)
		}
	case model.OpTaskAttention:
		q, k, v := sh(0), sh(1), sh(2)
		hw := out.H * out.W
		t := k.H / out.H
		dq, dv := q.C/op.Heads, out.C/op.Heads
		qv, kv, vv := ins[0], ins[1], ins[2]
		for pix := 0; pix < hw; pix++ {
			for g := 0; g < op.Heads; g++ {
				ko, vo := g*dq, g*dv
				if op.SharedKV {
					ko, vo = 0, 0
				}
				l := make([]float64, t)
				mx := math.Inf(-1)
				for tt := range l {
					for j := 0; j < dq; j++ {
						l[tt] += qv[pix*q.C+g*dq+j] * kv[(tt*hw+pix)*k.C+ko+j]
					}
					mx = math.Max(mx, l[tt])
				}
				var s float64
				for tt := range l {
					l[tt] = math.Exp(l[tt] - mx)
					s += l[tt]
				}
				for tt := range l {
					for j := 0; j < dv; j++ {
						y[pix*out.C+g*dv+j] += l[tt] / s * vv[(tt*hw+pix)*v.C+vo+j]
					}
				}
			}
		}
	case model.OpWindowAttention:
		r.windowAttention(op, ins[0], consts, y)
	}
	return y
}

func (r ref64) windowAttention(op *model.Op, x []float64, consts map[string][]float64, y []float64) {
	s := r.plan.Tensors[op.Output].Shape
	h, w, c, win, shift, heads := s.H, s.W, s.C, op.Window, op.ShiftSize, op.Heads
	hp, wp := (h+win-1)/win*win, (w+win-1)/win*win
	n, d := win*win, c/heads
	qkvW, qkvB, projW, projB, table := consts[op.QKVWeight], consts[op.QKVBias], consts[op.Weight], consts[op.Bias], consts[op.Table]
	scale := 1 / math.Sqrt(float64(d))
	for wy := 0; wy < hp/win; wy++ {
		for wx := 0; wx < wp/win; wx++ {
			src := make([]int, n)
			region := make([]int, n)
			qkv := make([]float64, n*3*c)
			for t := 0; t < n; t++ {
				rr, cc := wy*win+t/win, wx*win+t%win
				sy, sx := (rr+shift)%hp, (cc+shift)%wp
				src[t] = -1
				if sy < h && sx < w {
					src[t] = sy*w + sx
				}
				if shift > 0 {
					region[t] = 3*regionOf(rr, hp, win, shift) + regionOf(cc, wp, win, shift)
				}
				for o := 0; o < 3*c; o++ {
					a := qkvB[o]
					if src[t] >= 0 {
						for q := 0; q < c; q++ {
							a += x[src[t]*c+q] * qkvW[o*c+q]
						}
					}
					qkv[t*3*c+o] = a
				}
			}
			o := make([]float64, n*c)
			for g := 0; g < heads; g++ {
				for a := 0; a < n; a++ {
					l := make([]float64, n)
					mx := math.Inf(-1)
					for b := 0; b < n; b++ {
						var dotv float64
						for j := 0; j < d; j++ {
							dotv += qkv[a*3*c+g*d+j] * scale * qkv[b*3*c+c+g*d+j]
						}
						ya, xa, yb, xb := a/win, a%win, b/win, b%win
						dotv += table[((ya-yb+win-1)*(2*win-1)+(xa-xb+win-1))*heads+g]
						if shift > 0 && region[a] != region[b] {
							dotv -= 100
						}
						l[b] = dotv
						mx = math.Max(mx, dotv)
					}
					var sum float64
					for b := range l {
						l[b] = math.Exp(l[b] - mx)
						sum += l[b]
					}
					for b := range l {
						for j := 0; j < d; j++ {
							o[a*c+g*d+j] += l[b] / sum * qkv[b*3*c+2*c+g*d+j]
						}
					}
				}
			}
			for t := 0; t < n; t++ {
				if src[t] < 0 {
					continue
				}
				for oc := 0; oc < c; oc++ {
					a := projB[oc]
					for q := 0; q < c; q++ {
						a += o[t*c+q] * projW[oc*c+q]
					}
					y[src[t]*c+oc] = a
				}
			}
		}
	}
}

// deform64 is torchvision's bilinear sampling of every channel of x [h,w,c] at (y + off[2c], x + off[2c+1]).
func deform64(x, off []float64, h, w, c int) []float64 {
	y := make([]float64, h*w*c)
	at := func(yy, xx, ch int) float64 {
		if yy < 0 || yy >= h || xx < 0 || xx >= w {
			return 0
		}
		return x[(yy*w+xx)*c+ch]
	}
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			for ch := 0; ch < c; ch++ {
				o := off[(yy*w+xx)*2*c:]
				py, px := float64(yy)+o[2*ch], float64(xx)+o[2*ch+1]
				if py <= -1 || py >= float64(h) || px <= -1 || px >= float64(w) {
					continue
				}
				y0, x0 := math.Floor(py), math.Floor(px)
				ly, lx := py-y0, px-x0
				iy, ix := int(y0), int(x0)
				y[(yy*w+xx)*c+ch] = (1-ly)*(1-lx)*at(iy, ix, ch) + (1-ly)*lx*at(iy, ix+1, ch) +
					ly*(1-lx)*at(iy+1, ix, ch) + ly*lx*at(iy+1, ix+1, ch)
			}
		}
	}
	return y
}
