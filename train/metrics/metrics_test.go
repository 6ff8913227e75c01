package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b)) }

func TestMeanIoU(t *testing.T) {
	// 4 pixels, 3 classes. Pixel 1 ties classes 0 and 2 (first wins), pixel 3 is ignored.
	pred := []float32{
		0, 5, 1, // → 1
		3, 1, 3, // tie → 0
		0, 0, 9, // → 2
		9, 0, 0, // ignored
	}
	label := []float32{1, 2, 2, 255}
	m := NewMeanIoU(3)
	if err := m.Add(pred, label, 2, 2); err != nil {
		t.Fatal(err)
	}
	// class 0: I 0, U 1 (pred); class 1: I 1, U 1; class 2: I 1, U 2.
	wantI, wantU := []int64{0, 1, 1}, []int64{1, 1, 2}
	for k := range wantI {
		if m.Intersection()[k] != wantI[k] || m.Union()[k] != wantU[k] {
			t.Fatalf("class %d: I %d U %d, want %d %d", k, m.Intersection()[k], m.Union()[k], wantI[k], wantU[k])
		}
	}
	if got, want := m.Result(), (0+1+0.5)/3.0; !near(got, want) {
		t.Fatalf("mIoU %v, want %v", got, want)
	}
	// A class absent from both prediction and label counts 0 in the mean.
	m4 := NewMeanIoU(4)
	if err := m4.Add([]float32{1, 0, 0, 0}, []float32{0}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if got := m4.Result(); !near(got, 0.25) {
		t.Fatalf("mIoU with absent classes %v, want 0.25", got)
	}
	if v := m4.Values(); v[0].Name != "mIoU" || !near(v[0].Value, 25) {
		t.Fatalf("Values %v", v)
	}
}

func TestAddRejectsBadInput(t *testing.T) {
	cases := []struct {
		name        string
		acc         Accumulator
		pred, label []float32
		h, w        int
		want        string
	}{
		{"miou label out of range", NewMeanIoU(2), []float32{1, 0}, []float32{2}, 1, 1, "neither a class"},
		{"miou fractional label", NewMeanIoU(2), []float32{1, 0}, []float32{0.5}, 1, 1, "neither a class"},
		{"miou short pred", NewMeanIoU(2), []float32{1}, []float32{0}, 1, 1, "prediction has 1 values"},
		{"maxf label", NewMaxF(), []float32{1, 0}, []float32{3}, 1, 1, "not 0, 1 or 255"},
		{"normals label size", NewAngleError(), []float32{1, 0, 0}, []float32{1}, 1, 1, "label has 1 values"},
		{"depth size", NewRMSE(), []float32{1, 2}, []float32{1}, 1, 1, "prediction has 2 values"},
		{"edge label", NewBoundary(0.01), []float32{1}, []float32{2}, 1, 1, "not 0, 1 or 255"},
		{"zero size", NewRMSE(), nil, nil, 0, 3, "bad image size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.acc.Add(c.pred, c.label, c.h, c.w)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestMaxF(t *testing.T) {
	th := MaxFThresholds()
	if len(th) != 19 || th[0] != 0.05 || th[9] != 0.5 || th[11] != float32(0.59999996) {
		t.Fatalf("thresholds %v", th)
	}
	// Equal logits give prob exactly 0.5, which counts as positive at τ = 0.5.
	m := NewMaxF()
	if err := m.Add([]float32{1, 1, 3, -3, 0, 9}, []float32{1, 0, 255}, 1, 3); err != nil {
		t.Fatal(err)
	}
	tp, pp, ap := m.Counts()
	if tp[9] != 1 || pp[9] != 1 || ap[9] != 1 || pp[10] != 0 || pp[0] != 1 {
		t.Fatalf("counts at τ=0.5: tp %d pp %d ap %d; pp[0.55] %d pp[0.05] %d", tp[9], pp[9], ap[9], pp[10], pp[0])
	}
	f, k := m.Result()
	if !near(f, 1) || k != 0 {
		t.Fatalf("maxF %v at %d, want 1 at 0", f, k)
	}
	// One channel uses the sigmoid.
	m1 := NewMaxF()
	if err := m1.Add([]float32{0}, []float32{1}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if tp, _, _ := m1.Counts(); tp[9] != 1 || tp[10] != 0 {
		t.Fatalf("sigmoid(0) = 0.5 should count at τ=0.5 only: %v", tp)
	}
	// No positives at all: every F is NaN → 0.
	m0 := NewMaxF()
	if err := m0.Add([]float32{0, 1}, []float32{0}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if f, _ := m0.Result(); f != 0 {
		t.Fatalf("maxF without positives %v, want 0", f)
	}
}

func TestAngleError(t *testing.T) {
	cases := []struct {
		p, t []float32
		want float64
	}{
		{[]float32{0, 0, 2}, []float32{0, 0, 1}, 0},
		{[]float32{0, 0, -1}, []float32{0, 0, 1}, 180},
		{[]float32{3, 0, 0}, []float32{0, 1, 0}, 90},
		{[]float32{0, 0, 0}, []float32{0, 1, 0}, 90}, // a zero prediction stays 0
		{[]float32{1, 1, 0}, []float32{1, 0, 0}, 45},
	}
	m := NewAngleError()
	sum := 0.0
	for _, c := range cases {
		if got := PixelAngle(c.p, c.t); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("angle(%v, %v) = %v, want %v", c.p, c.t, got, c.want)
		}
		if err := m.Add(c.p, c.t, 1, 1); err != nil {
			t.Fatal(err)
		}
		sum += c.want
	}
	if err := m.Add([]float32{1, 0, 0}, []float32{255, 255, 255}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, n := m.State(); n != int64(len(cases)) {
		t.Fatalf("%d pixels counted, want %d (all-255 ignored)", n, len(cases))
	}
	if got := m.Result(); math.Abs(got-sum/5) > 1e-9 {
		t.Fatalf("mean %v, want %v", got, sum/5)
	}
	if w := m.Within(); !near(w[0], 20) || !near(w[2], 20) {
		t.Fatalf("within %v, want 20%% below 11.25 and 30", w)
	}
	if med := m.Median(); math.Abs(med-90) > 0.01 {
		t.Fatalf("median %v, want 90", med)
	}
}

func TestRMSE(t *testing.T) {
	pred := []float32{-1, 2, 3, 4}
	label := []float32{1, 0, 255, 2}
	m := NewRMSE()
	if err := m.Add(pred, label, 2, 2); err != nil {
		t.Fatal(err)
	}
	// clamp(-1)=0 vs 1 → 1; 4 vs 2 → 4: sqrt(5/2).
	if got := m.Result(); !near(got, math.Sqrt(2.5)) {
		t.Fatalf("rmse %v", got)
	}
	o := NewOfficialRMSE()
	if err := o.Add(pred, label, 2, 2); err != nil {
		t.Fatal(err)
	}
	if got, want := o.Result(), math.Sqrt((1+252*252+4)/3.0); !near(got, want) {
		t.Fatalf("official rmse %v, want %v (255 counted)", got, want)
	}
}

// lineImage draws a vertical ground-truth line at column x0 and a predicted one at x1
// (logit +8 on the line, −8 elsewhere).
func lineImage(h, w, x0, x1, thick int) (pred, label []float32) {
	pred, label = make([]float32, h*w), make([]float32, h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			pred[y*w+x] = -8
			if x >= x1 && x < x1+thick {
				pred[y*w+x] = 8
			}
			if x == x0 {
				label[y*w+x] = 1
			}
		}
	}
	return pred, label
}

func TestBoundary(t *testing.T) {
	// 100×100: diagonal 141.4, maxDist 0.0075 → radius 1.06 px; 0.011 → 1.56 px.
	cases := []struct {
		name    string
		maxDist float64
		shift   int
		thick   int
		want    float64
	}{
		{"exact", MaxDistPASCAL, 0, 1, 1},
		{"one pixel off, within", MaxDistPASCAL, 1, 1, 1},
		{"two pixels off, beyond", MaxDistNYUD, 2, 1, 0},
		{"thick prediction is thinned", MaxDistPASCAL, -1, 3, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pred, label := lineImage(100, 100, 50, 50+c.shift, c.thick)
			b := NewBoundary(c.maxDist)
			if err := b.Add(pred, label, 100, 100); err != nil {
				t.Fatal(err)
			}
			f, _ := b.ODS()
			// NMS and thinning keep the line but its ends (the thinned 3-wide line
			// loses at most its end pixels): allow 2 %.
			if math.Abs(f-c.want) > 0.02 {
				m, p, g := b.Counts()
				t.Fatalf("odsF %v, want %v (matched %d, pred %d, gt %d at 0.5)", f, c.want, m[49], p[49], g[49])
			}
		})
	}
	// Ignored pixels are not evaluated: a prediction only inside the ignored region counts
	// nothing.
	pred, label := lineImage(20, 20, 5, 15, 1)
	for y := 0; y < 20; y++ {
		label[y*20+15] = 255
	}
	b := NewBoundary(MaxDistPASCAL)
	if err := b.Add(pred, label, 20, 20); err != nil {
		t.Fatal(err)
	}
	_, p, g := b.Counts()
	if p[49] != 0 || g[49] != 20 {
		t.Fatalf("pred %d (want 0: ignored), gt %d (want 20)", p[49], g[49])
	}
}

// TestMatchingIsMaximum checks the matching against a brute-force maximum on small random
// point sets: a greedy nearest-first matching alone would fall short on some of them.
func TestMatchingIsMaximum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const h, w = 5, 6
	im := &edgeImage{h: h, w: w, gtIndex: make([]int32, h*w), offsets: radiusOffsets(1.5, nil)}
	tw := &thresholdWorker{im: im}
	n := h * w
	tw.matchOfGT, tw.matchOfPred, tw.layerOf = make([]int32, n), make([]int32, n), make([]int32, n)
	tw.prevMatch = make([]int32, n)
	for trial := 0; trial < 300; trial++ {
		// A new image: no previous matching.
		for i := range tw.prevMatch {
			tw.prevMatch[i] = -1
		}
		tw.cand = tw.cand[:0]
		im.gtPix, tw.predPix = im.gtPix[:0], tw.predPix[:0]
		for i := 0; i < n; i++ {
			im.gtIndex[i] = -1
			if rng.IntN(4) == 0 {
				im.gtIndex[i] = int32(len(im.gtPix))
				im.gtPix = append(im.gtPix, int32(i))
			}
		}
		for i := 0; i < n && len(tw.predPix) < 9; i++ {
			if rng.IntN(4) == 0 {
				tw.predPix = append(tw.predPix, int32(i))
			}
		}
		got := tw.match()
		if want := bruteMatch(tw.predPix, im.gtPix, w, 1.5, 0, map[int32]bool{}); got != want {
			t.Fatalf("trial %d: matching %d, maximum %d", trial, got, want)
		}
		// Half the prediction pixels on the same ground truth, as a higher threshold gives:
		// the warm start from the previous matching is exercised.
		tw.predPix = tw.predPix[:len(tw.predPix)/2]
		got = tw.match()
		if want := bruteMatch(tw.predPix, im.gtPix, w, 1.5, 0, map[int32]bool{}); got != want {
			t.Fatalf("trial %d, warm: matching %d, maximum %d", trial, got, want)
		}
	}
}

func bruteMatch(pred, gt []int32, w int, r float64, i int, used map[int32]bool) int {
	if i == len(pred) {
		return 0
	}
	best := bruteMatch(pred, gt, w, r, i+1, used)
	py, px := int(pred[i])/w, int(pred[i])%w
	for _, g := range gt {
		gy, gx := int(g)/w, int(g)%w
		if used[g] || math.Hypot(float64(gy-py), float64(gx-px)) > r {
			continue
		}
		used[g] = true
		best = max(best, 1+bruteMatch(pred, gt, w, r, i+1, used))
		used[g] = false
	}
	return best
}

func TestForTask(t *testing.T) {
	for _, c := range []struct {
		task     string
		channels int
		metric   string
	}{
		{"semseg", 40, "mIoU"}, {"human_parts", 7, "mIoU"}, {"sal", 2, "maxF"},
		{"normals", 3, "mean_angle_error"}, {"depth", 1, "rmse"}, {"edge", 1, "odsF"},
	} {
		a, err := ForTask(c.task, c.channels, MaxDistNYUD)
		if err != nil {
			t.Fatal(err)
		}
		if v := a.Values(); v[0].Name != c.metric {
			t.Errorf("%s: first metric %s, want %s", c.task, v[0].Name, c.metric)
		}
	}
	for _, bad := range []struct {
		task     string
		channels int
	}{{"normals", 1}, {"depth", 3}, {"sal", 3}, {"semseg", 1}, {"edge", 2}, {"pose", 1}} {
		if _, err := ForTask(bad.task, bad.channels, MaxDistNYUD); err == nil {
			t.Errorf("ForTask(%s, %d) accepted", bad.task, bad.channels)
		}
	}
}

// BenchmarkAdd/<task>/128x160 measures one image's Add on random outputs.
func BenchmarkAdd(b *testing.B) {
	const h, w = 128, 160
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		task     string
		channels int
		lc       int
		label    func() float32
	}{
		{"semseg", 40, 1, func() float32 { return float32(rng.IntN(40)) }},
		{"sal", 2, 1, func() float32 { return float32(rng.IntN(2)) }},
		{"normals", 3, 3, func() float32 { return rng.Float32()*2 - 1 }},
		{"depth", 1, 1, func() float32 { return rng.Float32() * 10 }},
	} {
		acc, err := ForTask(c.task, c.channels, MaxDistNYUD)
		if err != nil {
			b.Fatal(err)
		}
		pred := make([]float32, h*w*c.channels)
		for i := range pred {
			pred[i] = float32(rng.NormFloat64() * 3)
		}
		label := make([]float32, h*w*c.lc)
		for i := range label {
			label[i] = c.label()
		}
		b.Run(c.task+"/128x160", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := acc.Add(pred, label, h, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBoundary/<kind>/128x160 measures one image's boundary Add: "lines" is a
// plausible prediction (blurred ground-truth rectangle outlines plus noise), "noise" the worst
// case of unstructured logits.
func BenchmarkBoundary(b *testing.B) {
	const h, w = 128, 160
	rng := rand.New(rand.NewPCG(5, 6))
	label := make([]float32, h*w)
	for r := 0; r < 12; r++ {
		y0, x0 := rng.IntN(h-20), rng.IntN(w-20)
		y1, x1 := y0+10+rng.IntN(h-y0-10), x0+10+rng.IntN(w-x0-10)
		for y := y0; y <= y1; y++ {
			label[y*w+x0], label[y*w+x1] = 1, 1
		}
		for x := x0; x <= x1; x++ {
			label[y0*w+x], label[y1*w+x] = 1, 1
		}
	}
	lines := make([]float32, h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			near := 0.0
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					yy, xx := y+dy, x+dx
					if yy >= 0 && yy < h && xx >= 0 && xx < w && label[yy*w+xx] == 1 {
						near = max(near, 1-math.Hypot(float64(dy), float64(dx))/3)
					}
				}
			}
			lines[y*w+x] = float32(10*near - 5 + rng.NormFloat64())
		}
	}
	noise := make([]float32, h*w)
	for i := range noise {
		noise[i] = float32(rng.NormFloat64() * 3)
	}
	for _, c := range []struct {
		name string
		pred []float32
	}{{"lines", lines}, {"noise", noise}} {
		acc := NewBoundary(MaxDistNYUD)
		b.Run(c.name+"/128x160", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := acc.Add(c.pred, label, h, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}
