package cpu_test

import (
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/verify"
)

// TestOfficialFixtures runs every model fixture from its checkpoint and compares every
// array of its manifest (intermediates and outputs) with the official reference.
func TestOfficialFixtures(t *testing.T) {
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
			ex, err := cpu.New(plan, cpu.Options{KeepAll: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			if err := ex.Run(in); err != nil {
				t.Fatal(err)
			}
			res, err := verify.Compare(plan, &m, func(id int) ([]float32, error) { return ex.Tensor(id), nil })
			if err != nil {
				t.Fatal(err)
			}
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

// TestOptimizedPlanFixtures: the rewritten plan (model.Optimize) reproduces every official
// output within the same tolerance as the plain plan.
func TestOptimizedPlanFixtures(t *testing.T) {
	models, err := fixture.Models(fixture.Root(t))
	if err != nil || len(models) == 0 {
		t.Fatalf("no model fixtures: %v", err)
	}
	for _, m := range models {
		t.Run(m.Name, func(t *testing.T) {
			plain, in, err := fixturemodel.Plan(&m)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := model.Optimize(plain)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ops %d → %d, MACs %d → %d", len(plain.Ops), len(plan.Ops), plain.TotalMACs(), plan.TotalMACs())
			ex, err := cpu.New(plan, cpu.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			if err := ex.Run(in); err != nil {
				t.Fatal(err)
			}
			outs := m.OutputsOnly()
			res, err := verify.Compare(plan, &outs, func(id int) ([]float32, error) { return ex.Tensor(id), nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(res) == 0 {
				t.Fatal("no outputs compared")
			}
			for _, r := range res {
				if !r.OK {
					t.Errorf("%s: max|diff| %.3g relL2 %.3g", r.Name, r.Diff.MaxAbs, r.Diff.RelL2)
				} else {
					t.Logf("%s: max|diff| %.3g relL2 %.3g", r.Name, r.Diff.MaxAbs, r.Diff.RelL2)
				}
			}
		})
	}
}
