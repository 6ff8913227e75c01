package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/demt-web/demt/model"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6*math.Max(1, math.Abs(float64(b))) }

// TestSampleTVBorders checks torchvision's bilinear rule by hand: zero outside (−1, H),
// partial corners count as zero (not clamped).
func TestSampleTVBorders(t *testing.T) {
	const h, w = 3, 4
	img := make([]float32, h*w)
	for i := range img {
		img[i] = float32(i + 1) // row-major 1..12, one channel
	}
	at := func(y, x int) float32 { return img[y*w+x] }
	cases := []struct {
		name   string
		py, px float32
		want   float32
	}{
		{"inside integer", 1, 2, at(1, 2)},
		{"inside fractional", 0.5, 1.25, 0.5*0.75*at(0, 1) + 0.5*0.25*at(0, 2) + 0.5*0.75*at(1, 1) + 0.5*0.25*at(1, 2)},
		{"row -1 exactly", -1, 1, 0},
		{"row h exactly", h, 1, 0},
		{"col -1 exactly", 1, -1, 0},
		{"col w exactly", 1, w, 0},
		{"above, half in", -0.5, 0, 0.5 * at(0, 0)},
		{"below, half in", h - 0.5, 3, 0.5 * at(h-1, 3)},
		{"right, quarter out", 1, w - 1 + 0.25, 0.75 * at(1, w-1)},
		{"corner outside both", -0.5, -0.5, 0.25 * at(0, 0)},
		{"far outside", -13.2, 40, 0},
	}
	for _, c := range cases {
		if got := sampleTV(img, h, w, 1, 0, c.py, c.px); !near(got, c.want) {
			t.Errorf("%s: sampleTV(%v, %v) = %v, want %v", c.name, c.py, c.px, got, c.want)
		}
	}
}

// TestResizeSmall checks a full 2-D resize by hand.
func TestResizeSmall(t *testing.T) {
	// A full 2-D resize 2×2 → 3×3 of [[0,1],[2,3]] (src 0, 0.5·… : 2/3·(d+0.5)−0.5 = 0, 0.5, 1.167→i0=1).
	r := &resize{x: []float32{0, 1, 2, 3}, y: make([]float32, 9), ih: 2, iw: 2, c: 1, oh: 3, ow: 3,
		ry: model.ResizeTaps(2, 3), rx: model.ResizeTaps(2, 3)}
	r.chunk(0, 0, 3)
	want := []float32{0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3}
	for i := range want {
		if !near(r.y[i], want[i]) {
			t.Fatalf("resize 2x2→3x3 = %v, want %v", r.y, want)
		}
	}
}

// TestShiftedWindowMask checks the 9-region labels mmseg builds with the slices
// [0:−w], [−w:−s], [−s:] on the padded grid.
func TestShiftedWindowMask(t *testing.T) {
	const size, win, shift = 14, 7, 3
	want := []int{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2}
	for v, r := range want {
		if got := regionOf(v, size, win, shift); got != r {
			t.Errorf("regionOf(%d) = %d, want %d", v, got, r)
		}
	}
}

// TestWindowAttentionNaive compares the window kernel with a literal re-implementation of
// mmseg's ShiftWindowMSA: pad, roll, window partition, explicit (N×N) −100 mask from the
// region map, attention, window reverse, roll back, crop.
func TestWindowAttentionNaive(t *testing.T) {
	for _, tc := range []struct{ h, w, c, heads, win, shift int }{
		{10, 13, 8, 2, 7, 3}, {3, 4, 8, 4, 7, 3}, {5, 7, 6, 1, 7, 0}, {9, 9, 4, 2, 3, 1},
	} {
		r := rand.New(rand.NewPCG(1, uint64(tc.h)))
		rnd := func(n int, s float64) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64() * s)
			}
			return v
		}
		c, win := tc.c, tc.win
		x := rnd(tc.h*tc.w*c, 1)
		qkvW, qkvB := rnd(3*c*c, 0.5), rnd(3*c, 0.1)
		projW, projB := rnd(c*c, 0.5), rnd(c, 0.1)
		table := rnd((2*win-1)*(2*win-1)*tc.heads, 0.5)
		wa := &windowAttention{x: x, y: make([]float32, len(x)), h: tc.h, w: tc.w, c: c, win: win, shift: tc.shift,
			heads: tc.heads, hp: (tc.h + win - 1) / win * win, wp: (tc.w + win - 1) / win * win,
			qkvW: newWeightMatrix(qkvW, 3*c, c), qkvB: qkvB, projW: newWeightMatrix(projW, c, c), projB: projB,
			bias:    model.WindowBias(table, tc.heads, win),
			scratch: []windowScratch{newWindowScratch(win*win, c)}}
		p := newPool(1)
		wa.run(p)
		p.stop()
		want := naiveShiftWindowMSA(x, tc.h, tc.w, c, tc.heads, win, tc.shift, qkvW, qkvB, projW, projB, table)
		for i := range want {
			if math.Abs(float64(wa.y[i]-want[i])) > 1e-4 {
				t.Fatalf("%+v: y[%d] = %v, want %v", tc, i, wa.y[i], want[i])
			}
		}
	}
}

func naiveShiftWindowMSA(x []float32, h, w, c, heads, win, s int, qkvW, qkvB, projW, projB, table []float32) []float32 {
	hp, wp := (h+win-1)/win*win, (w+win-1)/win*win
	xp := make([]float64, hp*wp*c)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			for ch := 0; ch < c; ch++ {
				xp[(y*wp+xx)*c+ch] = float64(x[(y*w+xx)*c+ch])
			}
		}
	}
	rolled := make([]float64, len(xp))
	for y := 0; y < hp; y++ {
		for xx := 0; xx < wp; xx++ {
			copy(rolled[(y*wp+xx)*c:(y*wp+xx+1)*c], xp[(((y+s)%hp)*wp+(xx+s)%wp)*c:])
		}
	}
	imgMask := make([]int, hp*wp)
	if s > 0 {
		cnt := 0
		hs := [][2]int{{0, hp - win}, {hp - win, hp - s}, {hp - s, hp}}
		ws := [][2]int{{0, wp - win}, {wp - win, wp - s}, {wp - s, wp}}
		for _, a := range hs {
			for _, b := range ws {
				for y := a[0]; y < a[1]; y++ {
					for xx := b[0]; xx < b[1]; xx++ {
						imgMask[y*wp+xx] = cnt
					}
				}
				cnt++
			}
		}
	}
	n := win * win
	d := c / heads
	out := make([]float64, len(xp))
	for wy := 0; wy < hp/win; wy++ {
		for wx := 0; wx < wp/win; wx++ {
			pos := func(t int) int { return (wy*win+t/win)*wp + wx*win + t%win }
			qkv := make([]float64, n*3*c)
			for t := 0; t < n; t++ {
				for o := 0; o < 3*c; o++ {
					v := float64(qkvB[o])
					for i := 0; i < c; i++ {
						v += rolled[pos(t)*c+i] * float64(qkvW[o*c+i])
					}
					qkv[t*3*c+o] = v
				}
			}
			att := make([]float64, n*c)
			for g := 0; g < heads; g++ {
				for a := 0; a < n; a++ {
					logits := make([]float64, n)
					mx := math.Inf(-1)
					for b := 0; b < n; b++ {
						var v float64
						for j := 0; j < d; j++ {
							v += qkv[a*3*c+g*d+j] / math.Sqrt(float64(d)) * qkv[b*3*c+c+g*d+j]
						}
						ya, xa, yb, xb := a/win, a%win, b/win, b%win
						v += float64(table[((ya-yb+win-1)*(2*win-1)+(xa-xb+win-1))*heads+g])
						if imgMask[pos(a)] != imgMask[pos(b)] {
							v -= 100
						}
						logits[b] = v
						mx = math.Max(mx, v)
					}
					var sum float64
					for b := range logits {
						logits[b] = math.Exp(logits[b] - mx)
						sum += logits[b]
					}
					for b := range logits {
						for j := 0; j < d; j++ {
							att[a*c+g*d+j] += logits[b] / sum * qkv[b*3*c+2*c+g*d+j]
						}
					}
				}
			}
			for t := 0; t < n; t++ {
				for o := 0; o < c; o++ {
					v := float64(projB[o])
					for i := 0; i < c; i++ {
						v += att[t*c+i] * float64(projW[o*c+i])
					}
					out[pos(t)*c+o] = v
				}
			}
		}
	}
	y := make([]float32, h*w*c)
	for yy := 0; yy < h; yy++ {
		for xx := 0; xx < w; xx++ {
			// reverse roll: rolled position (r, q) came from ((r+s)%hp, (q+s)%wp).
			r, q := (yy-s+hp)%hp, (xx-s+wp)%wp
			for ch := 0; ch < c; ch++ {
				y[(yy*w+xx)*c+ch] = float32(out[(r*wp+q)*c+ch])
			}
		}
	}
	return y
}

// TestErf32 checks the float32 erf against math.Erf over [−6, 6].
func TestErf32(t *testing.T) {
	var worst float64
	for i := -600000; i <= 600000; i++ {
		x := float32(i) * 1e-5
		d := math.Abs(float64(erf32(x)) - math.Erf(float64(x)))
		worst = math.Max(worst, d)
	}
	if worst > 5e-7 {
		t.Fatalf("max |erf32 − erf| = %.3g", worst)
	}
	t.Logf("max |erf32 − erf| = %.3g", worst)
}

// TestGELUSIMD checks the vectorised GELU against the scalar one (and math.Erf's GELU).
func TestGELUSIMD(t *testing.T) {
	v := make([]float32, 0, 20011)
	for i := -10000; i <= 10010; i++ {
		v = append(v, float32(i)*7e-4)
	}
	want := append([]float32(nil), v...)
	for i, x := range want {
		want[i] = gelu(x)
	}
	activate(v, model.ActGELU)
	for i, got := range v {
		x := float64(i-10000) * 7e-4
		exact := 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
		if math.Abs(float64(got-want[i])) > 1e-6*math.Max(1, math.Abs(float64(want[i]))) ||
			math.Abs(float64(got)-exact) > 2e-6*math.Max(1, math.Abs(exact)) {
			t.Fatalf("gelu(%v) = %v, scalar %v, exact %v", x, got, want[i], exact)
		}
	}
}

// TestDeformSampleFastPath checks the kernel's all-corners-inside shortcut against sampleTV
// on offsets that put samples inside, across and outside every border.
func TestDeformSampleFastPath(t *testing.T) {
	const h, w, c = 5, 7, 3
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, h*w*c)
	off := make([]float32, h*w*2*c)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range off {
		off[i] = float32(r.NormFloat64() * 4)
	}
	off[0], off[1] = 0, 0 // an integer sample at the corner
	d := &deformSample{x: x, off: off, y: make([]float32, h*w*c), h: h, w: w, c: c}
	d.chunk(0, 0, h)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			for ch := 0; ch < c; ch++ {
				o := off[(y*w+xx)*2*c:]
				want := sampleTV(x, h, w, c, ch, float32(y)+o[2*ch], float32(xx)+o[2*ch+1])
				if got := d.y[(y*w+xx)*c+ch]; got != want {
					t.Fatalf("(%d,%d,%d): %v, sampleTV %v", y, xx, ch, got, want)
				}
			}
		}
	}
}
