package fixturemodel

import (
	"sync"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/verify"
)

// Fixture is an official model fixture with its checkpoint and input loaded.
type Fixture struct {
	fixture.Model
	Config  *model.Config
	Weights *model.Weights
	Input   []float32 // input.npy, normalised, channels-last [H, W, 3]
	H, W    int       // the input's size
}

// loaded caches the fixtures of one test binary: the checkpoints are read once however many
// tests use them (All hands out copies, so tests cannot disturb each other).
var loaded struct {
	once sync.Once
	fx   []Fixture
	err  error
}

// All returns every official model fixture (sorted by name), loaded. The checkpoints are read
// once per test binary; each call returns its own copy of the weights and input, which the
// caller may modify. It fails t when the fixtures are missing or do not load.
func All(t testing.TB) []Fixture {
	t.Helper()
	models := fixture.All(t)
	loaded.once.Do(func() {
		for _, m := range models {
			cfg, w, err := Load(&m)
			if err != nil {
				loaded.err = err
				return
			}
			in, h, wd, err := verify.Input(&m)
			if err != nil {
				loaded.err = err
				return
			}
			loaded.fx = append(loaded.fx, Fixture{Model: m, Config: cfg, Weights: w, Input: in, H: h, W: wd})
		}
	})
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
	out := make([]Fixture, len(loaded.fx))
	for i, f := range loaded.fx {
		out[i] = f.clone(t)
	}
	return out
}

// Named returns the fixture of All with the given name.
func Named(t testing.TB, name string) Fixture {
	t.Helper()
	for _, f := range All(t) {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no model fixture %q", name)
	return Fixture{}
}

// clone copies the weights (tensor values included) and the input, and the config struct.
func (f Fixture) clone(t testing.TB) Fixture {
	ts := make([]*model.Tensor, len(f.Weights.Tensors))
	for i, x := range f.Weights.Tensors {
		c := *x
		c.Shape = append([]int(nil), x.Shape...)
		if x.F32 != nil {
			c.F32 = append([]float32(nil), x.F32...)
		}
		if x.I64 != nil {
			c.I64 = append([]int64(nil), x.I64...)
		}
		ts[i] = &c
	}
	w, err := model.NewWeights(ts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := *f.Config
	f.Config, f.Weights, f.Input = &cfg, w, append([]float32(nil), f.Input...)
	return f
}

// Plan builds the fixture's plain plan at its input's size.
func (f *Fixture) Plan(t testing.TB) *model.Plan {
	t.Helper()
	p, err := model.Build(f.Config, f.Weights, f.H, f.W)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return p
}

// Check compares the tensors of a run of plan p (read by get, channels-last) with the
// fixture arrays of m, failing t for each array out of tolerance and logging the others. It
// fails t when nothing was compared.
func Check(t testing.TB, p *model.Plan, m *fixture.Model, get func(id int) ([]float32, error)) {
	t.Helper()
	res, err := verify.Compare(p, m, get)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatalf("%s: no arrays compared", m.Name)
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("%-50s max|diff| %.3g (max|ref| %.3g) relL2 %.3g", r.Name, r.Diff.MaxAbs, r.Diff.MaxRef, r.Diff.RelL2)
		} else {
			t.Logf("%-50s max|diff| %.3g relL2 %.3g", r.Name, r.Diff.MaxAbs, r.Diff.RelL2)
		}
	}
}
