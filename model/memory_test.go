package model_test

import (
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// TestMemoryPlanNoOverlap checks the memory plan of every fixture's plain and optimized plan:
// no op writes a slot that holds a tensor still to be read (including ops that read one
// tensor twice, as shared-KV task attention does).
func TestMemoryPlanNoOverlap(t *testing.T) {
	models, err := fixture.Models(fixture.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		cfg, w, err := fixturemodel.Load(&m)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := model.Build(cfg, w, 40, 48)
		if err != nil {
			t.Fatal(err)
		}
		opt, err := model.Optimize(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*model.Plan{plain, opt} {
			checkNoOverlap(t, m.Name, p)
		}
	}
}

func checkNoOverlap(t *testing.T, name string, p *model.Plan) {
	t.Helper()
	mem, err := model.PlanMemory(p, model.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	last := make([]int, len(p.Tensors))
	for i := range last {
		last[i] = -1
	}
	for _, o := range p.Outputs {
		last[o.Tensor] = len(p.Ops)
	}
	for i, op := range p.Ops {
		for _, id := range op.Inputs {
			last[id] = max(last[id], i)
		}
		if r, ok := op.Residual.Get(); ok {
			last[r] = max(last[r], i)
		}
	}
	written := map[int]bool{p.Input: true}
	for i, op := range p.Ops {
		if n := p.Tensors[op.Output].Shape.Numel(); mem.SlotElems[mem.Slot[op.Output]] < n {
			t.Fatalf("%s: op #%d: slot of %d elements for %d", name, i, mem.SlotElems[mem.Slot[op.Output]], n)
		}
		for id := range written {
			if id == op.Output || last[id] < i {
				continue
			}
			if mem.Slot[id] == mem.Slot[op.Output] {
				t.Fatalf("%s: op #%d %s writes %s over %s, still read by op #%d",
					name, i, op.Name, p.Tensors[op.Output].Name, p.Tensors[id].Name, last[id])
			}
		}
		written[op.Output] = true
	}
}

// TestMemoryPlanTwiceReadInput: a tensor read twice by its last reader is freed once.
func TestMemoryPlanTwiceReadInput(t *testing.T) {
	s := model.Shape{H: 2, W: 3, C: 4}
	p := &model.Plan{InH: 2, InW: 3, Consts: map[string]*model.Const{
		"w": {Name: "w", Shape: []int{4, 4}, Data: []float32{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}},
	}}
	for _, n := range []string{"input", "a", "b", "c", "d", "e"} {
		p.Tensors = append(p.Tensors, model.TensorInfo{Name: n, Shape: s})
	}
	lin := func(in, out int) model.Op {
		return model.Op{Kind: model.OpLinear, Name: p.Tensors[out].Name, Inputs: []int{in}, Output: out, Weight: "w"}
	}
	p.Ops = []model.Op{
		lin(0, 1),
		{Kind: model.OpAdd, Name: "b", Inputs: []int{1, 1}, Output: 2},
		lin(2, 3),
		lin(2, 4),
		{Kind: model.OpAdd, Name: "e", Inputs: []int{3, 4}, Output: 5},
	}
	p.Outputs = []model.Output{{Task: "e", Tensor: 5}}
	checkNoOverlap(t, "synthetic", p)
}
