package dataset

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
)

func TestLinearAndNearestTapsMatchOpenCV(t *testing.T) {
	// cv2.resize(np.float32([[0, 255]]), (4, 1), interpolation=INTER_LINEAR) = [0, 63.75, 191.25, 255].
	got := resizeLinear([]float32{0, 255}, 1, 2, 1, 1, 4)
	if want := []float32{0, 63.75, 191.25, 255}; !slices.Equal(got, want) {
		t.Fatalf("linear upscale %v, want %v", got, want)
	}
	// Shrinking 4 → 2 samples at 0.5 and 2.5: the means of neighbouring pairs.
	got = resizeLinear([]float32{0, 10, 20, 30}, 1, 4, 1, 1, 2)
	if want := []float32{5, 25}; !slices.Equal(got, want) {
		t.Fatalf("linear downscale %v, want %v", got, want)
	}
	// INTER_NEAREST: floor(d·n/m).
	got = resizeNearest([]float32{1, 2, 3}, 1, 3, 1, 1, 5)
	if want := []float32{1, 1, 2, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("nearest %v, want %v", got, want)
	}
}

func TestHSVMatchesOpenCV(t *testing.T) {
	cases := []struct{ rgb, hsv [3]uint8 }{
		{[3]uint8{255, 0, 0}, [3]uint8{0, 255, 255}},
		{[3]uint8{0, 255, 0}, [3]uint8{60, 255, 255}},
		{[3]uint8{0, 0, 255}, [3]uint8{120, 255, 255}},
		{[3]uint8{128, 128, 128}, [3]uint8{0, 0, 128}},
		{[3]uint8{255, 0, 255}, [3]uint8{150, 255, 255}},
		{[3]uint8{0, 0, 0}, [3]uint8{0, 0, 0}},
	}
	for _, c := range cases {
		px := c.rgb[:]
		px = slices.Clone(px)
		rgbToHSV(px)
		if [3]uint8(px) != c.hsv {
			t.Errorf("RGB %v → HSV %v, want %v", c.rgb, px, c.hsv)
		}
		hsvToRGB(px)
		if [3]uint8(px) != c.rgb {
			t.Errorf("HSV %v → RGB %v, want %v", c.hsv, px, c.rgb)
		}
	}
	// Every colour survives the 8-bit round trip within the quantisation of H (2° steps).
	worst := 0
	px := make([]uint8, 3)
	for r := 0; r < 256; r += 5 {
		for g := 0; g < 256; g += 5 {
			for b := 0; b < 256; b += 5 {
				px[0], px[1], px[2] = uint8(r), uint8(g), uint8(b)
				rgbToHSV(px)
				hsvToRGB(px)
				for k, v := range []int{r, g, b} {
					worst = max(worst, abs(int(px[k])-v))
				}
			}
		}
	}
	if worst > 6 {
		t.Fatalf("HSV round trip off by up to %d levels", worst)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func loadNYUDFixtureSample(t *testing.T) *Sample {
	t.Helper()
	r, err := Open(filepath.Join(fixture.Root(t), "train", "swin-nyud-train", "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Load("swin_nyud_train_1")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAugmenterTrain(t *testing.T) {
	base := loadNYUDFixtureSample(t)
	classes := map[float32]bool{Ignore: true}
	for _, v := range base.Labels["semseg"] {
		classes[v] = true
	}
	var firstImage []float32
	for seed := uint64(0); seed < 20; seed++ {
		s := cloneSample(base)
		NewAugmenter(seed, 24, 40).Train(s)
		if s.H != 24 || s.W != 40 || len(s.Image) != 24*40*3 {
			t.Fatalf("seed %d: %dx%d (%d values), want the crop size 24x40", seed, s.H, s.W, len(s.Image))
		}
		for task, l := range s.Labels {
			if len(l) != 24*40*Channels(task) {
				t.Fatalf("seed %d: %s has %d values", seed, task, len(l))
			}
		}
		for _, v := range s.Labels["semseg"] {
			if !classes[v] {
				t.Fatalf("seed %d: semseg value %g not in the source labels", seed, v)
			}
		}
		for _, v := range s.Labels["edge"] {
			if v != 0 && v != 1 && v != Ignore {
				t.Fatalf("seed %d: edge value %g", seed, v)
			}
		}
		n := s.Labels["normals"]
		for p := 0; p < len(n); p += 3 {
			if n[p] == Ignore {
				continue
			}
			if l := math.Sqrt(float64(n[p]*n[p] + n[p+1]*n[p+1] + n[p+2]*n[p+2])); math.Abs(l-1) > 0.02 {
				t.Fatalf("seed %d: normal of length %g", seed, l)
			}
		}
		for _, v := range s.Labels["depth"] {
			if v != Ignore && (v <= 0 || v > 100) {
				t.Fatalf("seed %d: depth %g", seed, v)
			}
		}
		if seed == 0 {
			firstImage = s.Image
		}
	}
	again := cloneSample(base)
	NewAugmenter(0, 24, 40).Train(again)
	if !slices.Equal(again.Image, firstImage) {
		t.Fatal("the same seed gave a different sample")
	}
	other := cloneSample(base)
	NewAugmenter(1, 24, 40).Train(other)
	if slices.Equal(other.Image, firstImage) {
		t.Fatal("seeds 0 and 1 gave the same sample")
	}
}

func TestFlipNegatesNormalsX(t *testing.T) {
	s := &Sample{H: 1, W: 2, Image: []float32{1, 2, 3, 4, 5, 6}, Labels: map[string][]float32{
		"normals": {0.6, 0, 0.8, -1, 0, 0},
		"semseg":  {7, 8},
	}}
	flip(s)
	if want := []float32{4, 5, 6, 1, 2, 3}; !slices.Equal(s.Image, want) {
		t.Fatalf("image %v, want %v", s.Image, want)
	}
	if want := []float32{1, 0, 0, -0.6, 0, 0.8}; !slices.Equal(s.Labels["normals"], want) {
		t.Fatalf("normals %v, want %v", s.Labels["normals"], want)
	}
	if want := []float32{8, 7}; !slices.Equal(s.Labels["semseg"], want) {
		t.Fatalf("semseg %v", s.Labels["semseg"])
	}
}

func TestCropRejectsSingleClassCrops(t *testing.T) {
	// 40×40: class 1 everywhere but a 10×10 block of class 2 in the top-left corner. A
	// 12×12 crop passes the cat_max_ratio check only when it holds > 25% class 2, i.e. near
	// the corner: with the check, far more crops start there than the uniform 1/29² share.
	const n, c = 40, 12
	seg := make([]float32, n*n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			seg[y*n+x] = 1
			if y < 10 && x < 10 {
				seg[y*n+x] = 2
			}
		}
	}
	mixed := 0
	a := NewAugmenter(7, c, c)
	for trial := 0; trial < 200; trial++ {
		s := &Sample{H: n, W: n, Image: make([]float32, n*n*3), Labels: map[string][]float32{"semseg": slices.Clone(seg)}}
		a.crop(s)
		has2 := 0
		for _, v := range s.Labels["semseg"] {
			if v == 2 {
				has2++
			}
		}
		if has2 > c*c/4 {
			mixed++
		}
	}
	// Without the check ~4% of crops qualify; with 10 tries about 1−0.96^10 ≈ 34%.
	if mixed < 40 {
		t.Fatalf("%d of 200 crops hold enough of the second class; the cat_max_ratio check seems off", mixed)
	}
}

func cloneSample(s *Sample) *Sample {
	c := *s
	c.Image = slices.Clone(s.Image)
	c.Labels = map[string][]float32{}
	for k, v := range s.Labels {
		c.Labels[k] = slices.Clone(v)
	}
	return &c
}
