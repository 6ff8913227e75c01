package gpu

import (
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/verify"
)

// TestOfficialFixtures runs every model fixture on the GPU and compares every array of its
// manifest (intermediates and outputs) with the official reference, with the same
// tolerances as the CPU path (cpu/fixture_test.go).
func TestOfficialFixtures(t *testing.T) {
	d := testDevice(t)
	models, err := fixture.Models(fixture.Root(t))
	if err != nil || len(models) == 0 {
		t.Fatalf("no model fixtures: %v", err)
	}
	for _, m := range models {
		t.Run(m.Name, func(t *testing.T) {
			plan, in, err := fixturemodel.Plan(&m)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := New(d, plan, Options{KeepAll: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			if err := ex.Run(in); err != nil {
				t.Fatal(err)
			}
			res, err := verify.Compare(plan, &m, ex.Read)
			if err != nil {
				t.Fatal(err)
			}
			// The executor without KeepAll (buffer reuse) gives the same outputs.
			lean, err := New(d, plan, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer lean.Close()
			if err := lean.Run(in); err != nil {
				t.Fatal(err)
			}
			for _, o := range plan.Outputs {
				a, err := ex.Read(o.Tensor)
				if err != nil {
					t.Fatal(err)
				}
				b, err := lean.Read(o.Tensor)
				if err != nil {
					t.Fatal(err)
				}
				if diff, mx := maxDiff(b, a); diff > 1e-5*max(1, mx) {
					t.Errorf("%s: lean executor differs by %.3g", o.Task, diff)
				}
			}
			t.Logf("%d ops, %d activation buffers (KeepAll: %d)", len(plan.Ops), len(lean.slabs), len(ex.slabs))
			// f16-packed weights: reported, not asserted (the fixture tolerances are for f32).
			half, err := New(d, plan, Options{KeepAll: true, F16Weights: true})
			if err != nil {
				t.Fatal(err)
			}
			defer half.Close()
			if err := half.Run(in); err != nil {
				t.Fatal(err)
			}
			if hres, err := verify.Compare(plan, &m, half.Read); err != nil {
				t.Fatal(err)
			} else {
				worst := hres[0]
				for _, r := range hres {
					if r.Diff.RelL2 > worst.Diff.RelL2 {
						worst = r
					}
				}
				t.Logf("F16Weights: worst relL2 %.3g (%s), max|diff| %.3g", worst.Diff.RelL2, worst.Name, worst.Diff.MaxAbs)
			}
			// The optimized plan (what infer runs) meets the tolerance on every output.
			opt, err := model.Optimize(plan)
			if err != nil {
				t.Fatal(err)
			}
			oex, err := New(d, opt, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer oex.Close()
			if err := oex.Run(in); err != nil {
				t.Fatal(err)
			}
			outs := m.OutputsOnly()
			ores, err := verify.Compare(opt, &outs, oex.Read)
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, ores...)
			for _, r := range res {
				if !r.OK {
					t.Errorf("%-50s max|diff| %.3g (max|ref| %.3g) relL2 %.3g", r.Name, r.Diff.MaxAbs, r.Diff.MaxRef, r.Diff.RelL2)
				} else {
					t.Logf("%-50s max|diff| %.3g relL2 %.3g", r.Name, r.Diff.MaxAbs, r.Diff.RelL2)
				}
			}
		})
	}
}
