package imageio

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestFitSize(t *testing.T) {
	for _, c := range []struct{ h, w, long, wantH, wantW int }{
		{3000, 4000, 512, 384, 512},
		{4000, 3000, 512, 512, 384},
		{10000, 10000, 512, 512, 512},
		{512, 300, 512, 512, 300}, // not larger than long: own size
		{100, 60, 512, 100, 60},
		{8, 20, 512, 16, 20},       // sides below 16 become 16
		{20000, 100, 512, 512, 16}, // round(100·512/20000) = 3 → 16
		{33, 49, 32, 22, 32},       // round(33·32/49) = round(21.55) = 22
	} {
		h, w := FitSize(c.h, c.w, c.long)
		if h != c.wantH || w != c.wantW {
			t.Errorf("FitSize(%d, %d, %d) = %d, %d, want %d, %d", c.h, c.w, c.long, h, w, c.wantH, c.wantW)
		}
	}
}

// TestColorizeAt: rendering at another size equals Colorize of the bilinearly resized logits,
// for the banded multi-channel path and the whole-image one-channel path.
func TestColorizeAt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		task     string
		channels int
	}{{"semseg", 5}, {"normals", 3}, {"sal", 2}, {"depth", 1}, {"edge", 1}} {
		h, w, nh, nw := 7, 9, 37, 50
		logits := make([]float32, h*w*c.channels)
		for i := range logits {
			logits[i] = 4*r.Float32() - 2
		}
		want := Colorize(c.task, c.channels, ResizeHWC(logits, h, w, c.channels, nh, nw), nh, nw)
		if got := ColorizeAt(c.task, c.channels, logits, h, w, nh, nw); !bytes.Equal(got, want) {
			t.Errorf("%s: ColorizeAt differs from Colorize of the resized logits", c.task)
		}
		if got := ColorizeAt(c.task, c.channels, logits, h, w, h, w); !bytes.Equal(got, Colorize(c.task, c.channels, logits, h, w)) {
			t.Errorf("%s: ColorizeAt at the same size differs from Colorize", c.task)
		}
	}
}

func TestResizeHWCIdentityAndConstant(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6} // [1, 3, 2]
	if got := ResizeHWC(src, 1, 3, 2, 1, 3); !equalF(got, src) {
		t.Errorf("same-size resize changed the data: %v", got)
	}
	flat := []float32{7, 7, 7, 7}
	for _, v := range ResizeHWC(flat, 2, 2, 1, 5, 3) {
		if v != 7 {
			t.Fatalf("resizing a constant map gave %v", v)
		}
	}
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
