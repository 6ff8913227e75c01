package session_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/demt-web/demt/gpu"
	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/npy"
	"github.com/demt-web/demt/session"
)

// loaded caches the fixture models across tests (reading a checkpoint is the slow part).
var loaded sync.Map

func loadFixture(t *testing.T, name string) (*fixture.Model, *session.Model) {
	t.Helper()
	fx, err := fixture.LoadModel(filepath.Join(fixture.Root(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := loaded.Load(name); ok {
		return fx, m.(*session.Model)
	}
	cfg, w, err := fixturemodel.Load(fx)
	if err != nil {
		t.Fatal(err)
	}
	m := &session.Model{Config: cfg, Weights: w, Norm: demtfile.ImageNetNormalization()}
	loaded.Store(name, m)
	return fx, m
}

func newSession(t *testing.T, m *session.Model, opt session.Options) *session.Session {
	t.Helper()
	s, err := session.New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestImageRunMatchesFixture: the fixture's PNG, normalised by the session (its own size is
// under the default long side, so it is not resized), gives the official outputs.
func TestImageRunMatchesFixture(t *testing.T) {
	fx, m := loadFixture(t, "hrnet18s-pascal")
	rgb, h, w, err := imageio.Decode(filepath.Join(fx.Dir, "input.png"))
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, m, session.Options{Threads: 2})
	in, ih, iw, err := s.Image(rgb, h, w, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ih != h || iw != w {
		t.Fatalf("a %dx%d image ran at %dx%d, want its own size", h, w, ih, iw)
	}
	r, err := s.Run(in, ih, iw)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Outputs) != len(m.Config.Head.Tasks) {
		t.Fatalf("%d outputs, want %d", len(r.Outputs), len(m.Config.Head.Tasks))
	}
	for _, o := range r.Outputs {
		ref, err := npy.ReadFile(filepath.Join(fx.Dir, "out_"+o.Task+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		got := model.CHWFromHWC(o.Data, o.Shape.H, o.Shape.W, o.Shape.C)
		if d := fixture.Compare(got, ref.Float32()); !d.OK() {
			t.Errorf("%s: max|diff| %.3g relL2 %.3g", o.Task, d.MaxAbs, d.RelL2)
		}
	}
}

func TestPlanCache(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	s := newSession(t, m, session.Options{Threads: 1, MaxCached: 2})
	plan := func(h, w int) *model.Plan {
		p, err := s.Plan(h, w)
		if err != nil {
			t.Fatal(err)
		}
		if p.InH != h || p.InW != w {
			t.Fatalf("plan for %dx%d is %dx%d", h, w, p.InH, p.InW)
		}
		return p
	}
	a := plan(16, 16)
	if plan(16, 16) != a {
		t.Error("the same size built a second plan")
	}
	plan(20, 16)
	if plan(16, 16) != a {
		t.Error("the size used last was released")
	}
	plan(24, 16) // releases 20x16, the least recently used
	if plan(16, 16) != a {
		t.Error("the most recently used size was released")
	}
	if _, err := s.Plan(15, 40); err == nil {
		t.Error("a 15-pixel side was accepted")
	}
}

// TestSmallInputs: every size down to 16×16 runs (the official model computes them), and
// the optimized plan, on the CPU and the GPU, agrees with the plain plan on the CPU (the
// reference) at small odd sizes.
func TestSmallInputs(t *testing.T) {
	dev, err := gpu.Open(gpu.DeviceOptions{AllowCPUAdapter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	for _, name := range []string{"hrnet18s-pascal", "swin-nyud-small"} {
		_, m := loadFixture(t, name)
		ref := newSession(t, m, session.Options{Threads: 2, Plain: true})
		opt := newSession(t, m, session.Options{Threads: 2})
		onGPU := newSession(t, m, session.Options{GPU: dev})
		for _, size := range [][2]int{{16, 16}, {17, 23}, {31, 19}} {
			h, w := size[0], size[1]
			in := randomInput(h, w)
			want, err := ref.Run(in, h, w)
			if err != nil {
				t.Fatalf("%s %dx%d plain: %v", name, h, w, err)
			}
			for _, c := range []struct {
				what string
				s    *session.Session
			}{{"optimized cpu", opt}, {"optimized gpu", onGPU}} {
				got, err := c.s.Run(in, h, w)
				if err != nil {
					t.Fatalf("%s %dx%d %s: %v", name, h, w, c.what, err)
				}
				for i, o := range got.Outputs {
					if o.Shape != (model.Shape{H: h, W: w, C: o.Shape.C}) {
						t.Errorf("%s %dx%d %s %s: shape %s", name, h, w, c.what, o.Task, o.Shape)
					}
					if d := fixture.Compare(o.Data, want.Outputs[i].Data); !d.OK() {
						t.Errorf("%s %dx%d %s %s: max|diff| %.3g relL2 %.3g", name, h, w, c.what, o.Task, d.MaxAbs, d.RelL2)
					}
				}
			}
		}
	}
}

// randomInput is a normalised-looking image of uniform noise in [-2, 2].
func randomInput(h, w int) []float32 {
	r := rand.New(rand.NewPCG(uint64(h), uint64(w)))
	in := make([]float32, h*w*3)
	for i := range in {
		in[i] = 4*r.Float32() - 2
	}
	return in
}

func TestNonFiniteInputIsAnError(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	s := newSession(t, m, session.Options{Threads: 1})
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		in := randomInput(16, 16)
		in[3*(2*16+5)+1] = bad
		_, err := s.Run(in, 16, 16)
		if err == nil || !strings.Contains(err.Error(), "pixel (y 2, x 5) channel 1") {
			t.Errorf("input with %v: error %v, want one naming pixel (y 2, x 5) channel 1", bad, err)
		}
	}
}

// TestNonFiniteOutputNamesTheOp: a NaN weight makes every output NaN; the error names the op
// that read it first, for the plain and the optimized plan. (Not on the GPU: WGSL's max() may
// turn a NaN into 0 in a ReLU, so a NaN weight need not reach the outputs there.)
func TestNonFiniteOutputNamesTheOp(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	const poisoned = "head.linear1.0.weight"
	var ts []*model.Tensor
	for _, tn := range m.Weights.Tensors {
		if tn.Name == poisoned {
			c := *tn
			c.F32 = append([]float32(nil), tn.F32...)
			c.F32[0] = float32(math.NaN())
			tn = &c
		}
		ts = append(ts, tn)
	}
	w, err := model.NewWeights(ts)
	if err != nil {
		t.Fatal(err)
	}
	if w.Get(poisoned) == nil {
		t.Fatalf("no %s in the fixture", poisoned)
	}
	bad := &session.Model{Config: m.Config, Weights: w, Norm: m.Norm}
	for _, opt := range []session.Options{{Threads: 1}, {Threads: 1, Plain: true}} {
		s := newSession(t, bad, opt)
		_, err := s.Run(randomInput(16, 16), 16, 16)
		if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "head.linear1") {
			t.Errorf("%s plain=%v: error %v, want non-finite outputs first produced by head.linear1", s.Device(), opt.Plain, err)
		}
	}
}

func TestBadNormalizationIsRefused(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	for _, c := range []struct {
		what string
		edit func(n *demtfile.Normalization)
	}{
		{"std 0", func(n *demtfile.Normalization) { n.Std[1] = 0 }},
		{"negative std", func(n *demtfile.Normalization) { n.Std[2] = -0.2 }},
		{"NaN mean", func(n *demtfile.Normalization) { n.Mean[0] = math.NaN() }},
		{"Inf std", func(n *demtfile.Normalization) { n.Std[0] = math.Inf(1) }},
		{"std below float32", func(n *demtfile.Normalization) { n.Std[0] = 1e-50 }},
	} {
		bad := *m
		c.edit(&bad.Norm)
		if _, err := session.New(&bad, session.Options{}); err == nil || !strings.Contains(err.Error(), "normalization.") {
			t.Errorf("%s: error %v", c.what, err)
		}
	}
}

func TestThreadsBounded(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	for _, n := range []int{-1, session.MaxThreads() + 1, 100000} {
		if _, err := session.New(m, session.Options{Threads: n}); err == nil {
			t.Errorf("%d threads accepted", n)
		}
	}
}

func TestImageSizing(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	s := newSession(t, m, session.Options{LongSide: 64})
	rgb := make([]uint8, 100*300*3)
	for _, c := range []struct{ ih, iw, wantH, wantW int }{
		{0, 0, 21, 64}, // fitted: long side 64
		{40, 50, 40, 50},
	} {
		in, h, w, err := s.Image(rgb, 100, 300, c.ih, c.iw)
		if err != nil {
			t.Fatal(err)
		}
		if h != c.wantH || w != c.wantW || len(in) != h*w*3 {
			t.Errorf("Image(100x300, %dx%d) = %dx%d (%d values), want %dx%d", c.ih, c.iw, h, w, len(in), c.wantH, c.wantW)
		}
	}
	rgba := make([]uint8, 4*5*4)
	for i := range rgba {
		rgba[i] = uint8(i)
	}
	a, _, _, err := s.ImageRGBA(rgba, 4, 5, 4, 5)
	if err != nil {
		t.Fatal(err)
	}
	rgb = make([]uint8, 4*5*3)
	for p := range 20 {
		copy(rgb[3*p:], rgba[4*p:4*p+3])
	}
	b, _, _, _ := s.Image(rgb, 4, 5, 4, 5)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("RGBA and RGB of the same pixels normalise differently")
	}
}

// TestRunRGBAFitsLikeTheCLI: RunRGBA runs a large image at imageio.FitSize(h, w, LongSide).
func TestRunRGBAFitsLikeTheCLI(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	s := newSession(t, m, session.Options{Threads: 2, LongSide: 40})
	rgba := make([]uint8, 30*100*4)
	for i := range rgba {
		rgba[i] = uint8(i * 13)
	}
	r, err := s.RunRGBA(rgba, 30, 100)
	if err != nil {
		t.Fatal(err)
	}
	h, w := imageio.FitSize(30, 100, 40)
	in, ih, iw, err := s.ImageRGBA(rgba, 30, 100, h, w)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, ih, iw)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range r.Outputs {
		if o.Shape.H != h || o.Shape.W != w || fmt.Sprint(o.Data) != fmt.Sprint(want.Outputs[i].Data) {
			t.Errorf("%s: %s, want the output of the %dx%d fitted input", o.Task, o.Shape, h, w)
		}
	}
}

// TestMemoryChecked: a size whose activation memory exceeds Options.MaxMemory is refused when
// it is prepared, before any executor allocates, with a message that says how much it needs
// and what to do; the estimate is the one the executors plan.
func TestMemoryChecked(t *testing.T) {
	_, m := loadFixture(t, "swin-nyud-small")
	s := newSession(t, m, session.Options{Threads: 1, MaxMemory: 64 << 20})
	// 3000×4000 (a 12 MP photo at its own size) needs far more than 64 MiB.
	_, err := s.Plan(3000, 4000)
	if err == nil || !strings.Contains(err.Error(), "a run at 3000x4000 needs about") || !strings.Contains(err.Error(), "--max-memory") {
		t.Fatalf("error %v", err)
	}
	p, err := s.Plan(32, 32)
	if err != nil {
		t.Fatal(err)
	}
	need, err := session.ActivationBytes(p, false)
	if err != nil || need <= 0 || need > 64<<20 {
		t.Fatalf("32x32 needs %d bytes (%v)", need, err)
	}
	all, _ := session.ActivationBytes(p, true)
	if all <= need {
		t.Errorf("keeping every tensor needs %d bytes, no more than the %d of a plain run", all, need)
	}
	if session.AvailableMemory() <= 0 {
		t.Error("no available memory read from /proc/meminfo")
	}
	unlimited := newSession(t, m, session.Options{Threads: 1, MaxMemory: -1})
	if _, err := unlimited.Plan(16, 16); err != nil {
		t.Fatal(err)
	}
}
