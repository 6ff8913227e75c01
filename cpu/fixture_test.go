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

// TestEachRewriteFixtures applies the rewrites of model.Optimize one at a time, in its order,
// to the canonical plan: after each, every official output is still within tolerance.
func TestEachRewriteFixtures(t *testing.T) {
	steps := []struct {
		name string
		do   func(*model.Plan) error
	}{
		{"FoldBatchNorm", func(p *model.Plan) error { p.FoldBatchNorm(); return nil }},
		{"FuseEpilogue", func(p *model.Plan) error { p.FuseEpilogue(); return nil }},
		{"AbsorbTaskQuery", func(p *model.Plan) error { return p.AbsorbTaskQuery() }},
		{"FoldLinearChains", func(p *model.Plan) error { p.FoldLinearChains(); return nil }},
		{"FuseDeformLinear", func(p *model.Plan) error { p.FuseDeformLinear(); return nil }},
		{"DropDeadOps", func(p *model.Plan) error { p.DropDeadOps(); return nil }},
	}
	for _, f := range fixturemodel.All(t) {
		t.Run(f.Name, func(t *testing.T) {
			p := f.Plan(t).Clone()
			outs := f.OutputsOnly()
			for _, s := range steps {
				n := len(p.Ops)
				if err := s.do(p); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				t.Logf("%s: ops %d → %d", s.name, n, len(p.Ops))
				ex := runPlan(t, p, f.Input, cpu.Options{})
				fixturemodel.Check(t, p, &outs, func(id int) ([]float32, error) { return ex.Tensor(id), nil })
			}
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
