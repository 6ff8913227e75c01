package model_test

import (
	"testing"

	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// TestMemoryPlanNoOverlap checks the memory plan of every fixture's plain and optimized plan:
// no op writes a slot that holds a tensor still to be read (including ops that read one
// tensor twice, as shared-KV task attention does).
func TestMemoryPlanNoOverlap(t *testing.T) {
	for _, m := range fixturemodel.All(t) {
		plain, err := model.Build(m.Config, m.Weights, 40, 48)
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

// TestMemoryPlanExtraReads: a tensor an op reads through the ExtraReads hook keeps its slot
// until that op has run, and the hook's reads are checked like inputs.
func TestMemoryPlanExtraReads(t *testing.T) {
	s := model.Shape{H: 4, W: 4, C: 64}
	p := &model.Plan{InH: 4, InW: 4}
	for _, n := range []string{"input", "a", "b", "c"} {
		p.Tensors = append(p.Tensors, model.TensorInfo{Name: n, Shape: s})
	}
	act := func(in, out int) model.Op {
		return model.Op{Kind: model.OpActivation, Act1: model.ActReLU, Name: p.Tensors[out].Name, Inputs: []int{in}, Output: out}
	}
	p.Ops = []model.Op{act(0, 1), act(1, 2), act(2, 3)}
	p.Outputs = []model.Output{{Task: "c", Tensor: 3}}
	plain, err := model.PlanMemory(p, model.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Slot[3] != plain.Slot[1] {
		t.Fatalf("without the hook c should reuse a's slot: slots %v", plain.Slot)
	}
	hooked, err := model.PlanMemory(p, model.MemoryOptions{ExtraReads: func(i int) []int {
		if i == 2 {
			return []int{1} // op #2 also reads a
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if hooked.Slot[3] == hooked.Slot[1] {
		t.Fatalf("c overwrites a, which op #2 still reads: slots %v", hooked.Slot)
	}
	if _, err := model.PlanMemory(p, model.MemoryOptions{ExtraReads: func(i int) []int {
		if i == 0 {
			return []int{3} // read before it is written
		}
		return nil
	}}); err == nil {
		t.Fatal("a read of a tensor before any op writes it was accepted")
	}
}
