package cpu_test

import (
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// TestOfficialFixtures runs every model fixture from its checkpoint and compares every
// array of its manifest (intermediates and outputs) with the official reference.
func TestOfficialFixtures(t *testing.T) {
	for _, f := range fixturemodel.All(t) {
		t.Run(f.Name, func(t *testing.T) {
			plan := f.Plan(t)
			ex := runPlan(t, plan, f.Input, cpu.Options{KeepAll: true})
			fixturemodel.Check(t, plan, &f.Model, func(id int) ([]float32, error) { return ex.Tensor(id), nil })
		})
	}
}

// TestOptimizedPlanFixtures: the rewritten plan (model.Optimize) reproduces every official
// output within the same tolerance as the plain plan.
func TestOptimizedPlanFixtures(t *testing.T) {
	for _, f := range fixturemodel.All(t) {
		t.Run(f.Name, func(t *testing.T) {
			plain := f.Plan(t)
			plan, err := model.Optimize(plain)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ops %d → %d, MACs %d → %d", len(plain.Ops), len(plan.Ops), plain.TotalMACs(), plan.TotalMACs())
			ex := runPlan(t, plan, f.Input, cpu.Options{})
			outs := f.OutputsOnly()
			fixturemodel.Check(t, plan, &outs, func(id int) ([]float32, error) { return ex.Tensor(id), nil })
		})
	}
}

// runPlan builds a CPU executor of p, runs it on in and closes it when the test ends.
func runPlan(t testing.TB, p *model.Plan, in []float32, opt cpu.Options) *cpu.Executor {
	t.Helper()
	ex, err := cpu.New(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ex.Close)
	if err := ex.Run(in); err != nil {
		t.Fatal(err)
	}
	return ex
}
