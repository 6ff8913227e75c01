package gpu

import (
	"testing"

	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/verify"
)

// intermediatesFixture is the fixture whose every intermediate array is checked on the GPU:
// the smallest that records the intermediates stage by stage (swin-nyud2-defmixer-v1 records
// one). The others check their outputs only, which keeps the package within CI's time on
// lavapipe; the CPU checks every intermediate of every fixture (cpu/fixture_test.go).
const intermediatesFixture = "swin-nyud-small"

// startFixture builds an executor of p, runs it on in and closes it when the test ends.
func startFixture(t *testing.T, d *Device, p *model.Plan, in []float32, opt Options) *Executor {
	t.Helper()
	ex, err := New(d, p, opt)
	if err == nil {
		t.Cleanup(ex.Close)
		err = ex.Run(in)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// TestOfficialFixtures runs every model fixture on the GPU and compares the outputs of the
// plain plan (buffer reuse, fused deformable sampling) and of the optimized plan with the
// official reference, with the same tolerances as the CPU path. On intermediatesFixture it
// also checks every intermediate (KeepAll), that the lean executor gives the same outputs,
// and reports f16-packed weights.
func TestOfficialFixtures(t *testing.T) {
	d := testDevice(t)
	seen := false
	for _, f := range fixturemodel.All(t) {
		seen = seen || f.Name == intermediatesFixture
		t.Run(f.Name, func(t *testing.T) {
			plan := f.Plan(t)
			outs := f.OutputsOnly()
			lean := startFixture(t, d, plan, f.Input, Options{})
			fixturemodel.Check(t, plan, &outs, lean.Read)
			opt, err := model.Optimize(plan)
			if err != nil {
				t.Fatal(err)
			}
			fixturemodel.Check(t, opt, &outs, startFixture(t, d, opt, f.Input, Options{}).Read)
			if f.Name != intermediatesFixture {
				return
			}
			all := startFixture(t, d, plan, f.Input, Options{KeepAll: true})
			fixturemodel.Check(t, plan, &f.Model, all.Read)
			for _, o := range plan.Outputs {
				a, err := all.Read(o.Tensor)
				if err != nil {
					t.Fatal(err)
				}
				b, err := lean.Read(o.Tensor)
				if err != nil {
					t.Fatal(err)
				}
				if diff, mx := optest.MaxDiff(b, a); diff > 1e-5*max(1, mx) {
					t.Errorf("%s: lean executor differs by %.3g", o.Task, diff)
				}
			}
			t.Logf("%d ops, %d activation buffers (KeepAll: %d)", len(plan.Ops), len(lean.slabs), len(all.slabs))
			// f16-packed weights: reported, not asserted (the fixture tolerances are for f32).
			half := startFixture(t, d, plan, f.Input, Options{KeepAll: true, F16Weights: true})
			hres, err := verify.Compare(plan, &f.Model, half.Read)
			if err != nil {
				t.Fatal(err)
			}
			worst := hres[0]
			for _, r := range hres {
				if r.Diff.RelL2 > worst.Diff.RelL2 {
					worst = r
				}
			}
			t.Logf("F16Weights: worst relL2 %.3g (%s), max|diff| %.3g", worst.Diff.RelL2, worst.Name, worst.Diff.MaxAbs)
		})
	}
	if !seen {
		t.Errorf("no fixture %s to check the intermediates on", intermediatesFixture)
	}
}
