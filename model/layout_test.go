package model

import (
	"math"
	"testing"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6*math.Max(1, math.Abs(float64(b))) }

// TestBilinearTapsOddSizes checks PyTorch's align_corners=False source indices by hand.
func TestBilinearTapsOddSizes(t *testing.T) {
	cases := []struct {
		in, out int
		want    []ResizeTap
	}{
		// 5→3: scale 5/3; src = 1/3, 2, 11/3.
		{5, 3, []ResizeTap{{0, 1, 2.0 / 3, 1.0 / 3}, {I0: 2, I1: 3, L0: 1, L1: 0}, {3, 4, 1.0 / 3, 2.0 / 3}}},
		// 2→5: scale 0.4; src = max(−0.3,0)=0, 0.1, 0.5, 0.9, 1.3 (i0 = n−1 → i1 = i0).
		{2, 5, []ResizeTap{{I0: 0, I1: 1, L0: 1, L1: 0}, {I0: 0, I1: 1, L0: 0.9, L1: 0.1}, {I0: 0, I1: 1, L0: 0.5, L1: 0.5}, {I0: 0, I1: 1, L0: 0.1, L1: 0.9}, {I0: 1, I1: 1, L0: 0.7, L1: 0.3}}},
		// 3→6 (HRNet's ×2 upsample): src = 0, 0.25, 0.75, 1.25, 1.75, 2.25.
		{3, 6, []ResizeTap{{I0: 0, I1: 1, L0: 1, L1: 0}, {I0: 0, I1: 1, L0: 0.75, L1: 0.25}, {I0: 0, I1: 1, L0: 0.25, L1: 0.75}, {I0: 1, I1: 2, L0: 0.75, L1: 0.25}, {I0: 1, I1: 2, L0: 0.25, L1: 0.75}, {I0: 2, I1: 2, L0: 0.75, L1: 0.25}}},
	}
	for _, c := range cases {
		got := ResizeTaps(c.in, c.out)
		for d, w := range c.want {
			g := got[d]
			if g.I0 != w.I0 || g.I1 != w.I1 || !near(g.L0, w.L0) || !near(g.L1, w.L1) {
				t.Errorf("%d→%d d=%d: %+v, want %+v", c.in, c.out, d, g, w)
			}
		}
	}
}
