package train

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/demt-web/demt/model/torchckpt"
	"github.com/demt-web/demt/npy"
)

// fixtureParams loads θ0 (model.pth) and the reference gradients of a training fixture.
func fixtureParams(t *testing.T, tc *trainCase) []Param {
	t.Helper()
	w, err := torchckpt.ReadFile(filepath.Join(tc.dir, "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []Param
	for _, p := range tc.Manifest.Parameters {
		tn := w.Get(p.Name)
		if tn == nil || tn.F32 == nil {
			t.Fatalf("model.pth has no float tensor %s", p.Name)
		}
		g, err := npy.ReadFile(filepath.Join(tc.dir, p.GradFile))
		if err != nil {
			t.Fatal(err)
		}
		if g.Numel() != len(tn.F32) {
			t.Fatalf("%s: %d gradients for %d values", p.Name, g.Numel(), len(tn.F32))
		}
		ps = append(ps, Param{Name: p.Name, Value: append([]float32(nil), tn.F32...), Grad: g.Float32()})
	}
	if len(ps) == 0 {
		t.Fatal("no parameters in the manifest")
	}
	return ps
}

func ulp(v float32) float64 {
	a := math.Abs(float64(v))
	return float64(math.Nextafter32(float32(a), float32(math.Inf(1)))) - a
}

func TestSGDStepMatchesOfficial(t *testing.T) {
	for _, tc := range trainCases(t) {
		ps := fixtureParams(t, tc)
		theta0 := make([][]float32, len(ps))
		for i, p := range ps {
			theta0[i] = append([]float32(nil), p.Value...)
		}
		o, err := New(OfficialSGD(40000), ps)
		if err != nil {
			t.Fatal(err)
		}
		if o.LR() != 0.001 {
			t.Errorf("lr of step 1 = %v, want 0.001", o.LR())
		}
		o.Step()
		if got, want := o.LR(), 0.0009999774999718746; math.Abs(got-want) > 1e-15 {
			t.Errorf("lr after one step %.16g, want %.16g", got, want)
		}
		worst := 0.0
		for i, p := range ps {
			ref, err := npy.ReadFile(filepath.Join(tc.dir, tc.Manifest.Parameters[i].SGDStepFile))
			if err != nil {
				t.Fatal(err)
			}
			r := ref.Float32()
			maxUpd := 0.0
			for j := range r {
				maxUpd = math.Max(maxUpd, math.Abs(float64(r[j])-float64(theta0[i][j])))
			}
			for j := range r {
				want := float64(r[j]) - float64(theta0[i][j])
				got := float64(p.Value[j]) - float64(theta0[i][j])
				tol := 1e-4*maxUpd + 2*ulp(theta0[i][j])
				if e := math.Abs(got - want); e > tol {
					t.Errorf("%s %s[%d]: update %.9g, want %.9g", filepath.Base(tc.dir), p.Name, j, got, want)
					break
				} else if maxUpd > 0 {
					worst = math.Max(worst, e/maxUpd)
				}
			}
		}
		t.Logf("%s: %d parameters, worst |update error|/max|update| %.2g", filepath.Base(tc.dir), len(ps), worst)
	}
}

func TestAdamWStepMatchesReference(t *testing.T) {
	for _, tc := range trainCases(t) {
		ps := fixtureParams(t, tc)
		var ref struct {
			Samples map[string]struct {
				Index  []int     `json:"index"`
				Theta0 []float32 `json:"theta0"`
				Grad   []float32 `json:"grad"`
				Theta1 []float32 `json:"theta1"`
			} `json:"samples"`
		}
		b, err := os.ReadFile(filepath.Join(tc.dir, "adamw_step.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatal(err)
		}
		o, err := New(DefaultAdamW(40000), ps)
		if err != nil {
			t.Fatal(err)
		}
		theta0 := map[string][]float32{}
		for _, p := range ps {
			theta0[p.Name] = append([]float32(nil), p.Value...)
		}
		o.Step()
		checked := 0
		for _, p := range ps {
			s, ok := ref.Samples[p.Name]
			if !ok {
				t.Errorf("adamw_step.json has no samples of %s", p.Name)
				continue
			}
			for k, idx := range s.Index {
				if theta0[p.Name][idx] != s.Theta0[k] || p.Grad[idx] != s.Grad[k] {
					t.Fatalf("%s[%d]: θ0/grad %v/%v differ from the sample %v/%v", p.Name, idx, theta0[p.Name][idx], p.Grad[idx], s.Theta0[k], s.Grad[k])
				}
				want := float64(s.Theta1[k]) - float64(s.Theta0[k])
				got := float64(p.Value[idx]) - float64(s.Theta0[k])
				// The update is ~lr; allow 1e-4 of lr plus 2 ulp of θ0, as for SGD.
				if math.Abs(got-want) > 1e-4*1e-3+2*ulp(s.Theta0[k]) {
					t.Errorf("%s %s[%d]: update %.9g, want %.9g", filepath.Base(tc.dir), p.Name, idx, got, want)
				}
				checked++
			}
		}
		t.Logf("%s: %d sampled entries", filepath.Base(tc.dir), checked)
	}
}

func TestOptimizerStateRoundTrip(t *testing.T) {
	for _, cfg := range []Config{OfficialSGD(100), DefaultAdamW(100)} {
		mk := func() []Param {
			return []Param{{Name: "a", Value: []float32{1, -2, 3}, Grad: []float32{0.5, 0.25, -1}},
				{Name: "b", Value: []float32{0.1}, Grad: []float32{2}}}
		}
		pa, pb := mk(), mk()
		oa, err := New(cfg, pa)
		if err != nil {
			t.Fatal(err)
		}
		oa.Step()
		oa.Step()
		var buf bytes.Buffer
		if err := oa.WriteState(&buf); err != nil {
			t.Fatal(err)
		}
		ob, err := New(cfg, pb)
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.ReadState(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatal(err)
		}
		for i := range pb {
			copy(pb[i].Value, pa[i].Value)
		}
		oa.Step()
		ob.Step()
		if ob.Steps() != 3 {
			t.Errorf("%s: %d steps after resume, want 3", cfg.Method, ob.Steps())
		}
		for i := range pa {
			for j := range pa[i].Value {
				if pa[i].Value[j] != pb[i].Value[j] {
					t.Errorf("%s: resumed %s[%d] = %v, uninterrupted %v", cfg.Method, pa[i].Name, j, pb[i].Value[j], pa[i].Value[j])
				}
			}
		}
		// A state of other parameters is refused.
		other, _ := New(cfg, []Param{{Name: "a", Value: []float32{1, 2}, Grad: []float32{0, 0}}, {Name: "b", Value: []float32{0}, Grad: []float32{0}}})
		if err := other.ReadState(bytes.NewReader(buf.Bytes())); err == nil {
			t.Errorf("%s: state of a 3-value parameter accepted for a 2-value one", cfg.Method)
		}
		if err := ob.ReadState(bytes.NewReader(buf.Bytes()[:buf.Len()-1])); err == nil {
			t.Errorf("%s: truncated state accepted", cfg.Method)
		}
	}
}

func TestScheduleWarmup(t *testing.T) {
	c := OfficialSGD(40000)
	c.WarmupSteps = 10
	if got := c.lrAt(0); math.Abs(got-0.0001) > 1e-12 {
		t.Errorf("warm-up lr at step 0 = %v, want 1e-4", got)
	}
	if got, want := c.lrAt(10), 0.001*math.Pow(1-10.0/40000, 0.9); math.Abs(got-want) > 1e-15 {
		t.Errorf("lr after warm-up %v, want %v", got, want)
	}
	if got := c.lrAt(40000); got != 0 {
		t.Errorf("lr at the end %v, want 0", got)
	}
}

// TestLRMult: a parameter's learning-rate multiplier scales its update (both methods).
func TestLRMult(t *testing.T) {
	for _, cfg := range []Config{OfficialSGD(100), DefaultAdamW(100)} {
		ps := []Param{{Name: "a", Value: []float32{1, -2}, Grad: []float32{0.5, 0.25}},
			{Name: "b", Value: []float32{1, -2}, Grad: []float32{0.5, 0.25}, LRMult: 2}}
		o, err := New(cfg, ps)
		if err != nil {
			t.Fatal(err)
		}
		o.Step()
		for j := range ps[0].Value {
			ua, ub := float64(ps[0].Value[j])-[]float64{1, -2}[j], float64(ps[1].Value[j])-[]float64{1, -2}[j]
			if math.Abs(ub-2*ua) > 1e-6*math.Abs(ua)+4*ulp(2) { // θ1 is rounded to float32
				t.Errorf("%s: update with multiplier 2 is %v, without %v", cfg.Method, ub, ua)
			}
		}
	}
	if _, err := New(OfficialSGD(10), []Param{{Name: "a", Value: []float32{1}, Grad: []float32{1}, LRMult: -1}}); err == nil {
		t.Error("negative multiplier accepted")
	}
}
