package cpu

import (
	"testing"
	"unsafe"

	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// TestBufferPlanNoOverlap checks the buffer plan of every fixture's plain and optimized plan:
// no op writes memory that holds a tensor still to be read (including ops that read one
// tensor twice, as shared-KV task attention does).
func TestBufferPlanNoOverlap(t *testing.T) {
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
			e, err := New(p, Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			e.Close()
			checkNoOverlap(t, m.Name, e)
		}
	}
}

func checkNoOverlap(t *testing.T, name string, e *Executor) {
	p := e.plan
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
		if op.Residual != model.NoTensor {
			last[op.Residual] = max(last[op.Residual], i)
		}
	}
	span := func(id int) (uintptr, uintptr) {
		b := e.bufs[id]
		a := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		return a, a + uintptr(len(b))*4
	}
	written := map[int]bool{p.Input: true}
	for i, op := range p.Ops {
		o0, o1 := span(op.Output)
		for id := range written {
			if id == op.Output || last[id] < i {
				continue
			}
			a0, a1 := span(id)
			if o0 < a1 && a0 < o1 {
				t.Fatalf("%s: op #%d %s writes %s over %s, still read by op #%d",
					name, i, op.Name, p.Tensors[op.Output].Name, p.Tensors[id].Name, last[id])
			}
		}
		written[op.Output] = true
	}
}

// TestBufferPlanTwiceReadInput: a tensor read twice by its last reader is freed once.
func TestBufferPlanTwiceReadInput(t *testing.T) {
	s := model.Shape{H: 2, W: 3, C: 4}
	p := &model.Plan{InH: 2, InW: 3, Consts: map[string]*model.Const{
		"w": {Name: "w", Shape: []int{4, 4}, Data: []float32{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}},
	}}
	for _, n := range []string{"input", "a", "b", "c", "d", "e"} {
		p.Tensors = append(p.Tensors, model.TensorInfo{Name: n, Shape: s})
	}
	lin := func(in, out int) model.Op {
		return model.Op{Kind: model.OpLinear, Name: p.Tensors[out].Name, Inputs: []int{in}, Output: out, Weight: "w", Residual: model.NoTensor}
	}
	p.Ops = []model.Op{
		lin(0, 1),
		{Kind: model.OpAdd, Name: "b", Inputs: []int{1, 1}, Output: 2, Residual: model.NoTensor},
		lin(2, 3),
		lin(2, 4),
		{Kind: model.OpAdd, Name: "e", Inputs: []int{3, 4}, Output: 5, Residual: model.NoTensor},
	}
	p.Outputs = []model.Output{{Task: "e", Tensor: 5}}
	e, err := New(p, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	checkNoOverlap(t, "synthetic", e)
	in := make([]float32, s.Numel())
	for i := range in {
		in[i] = float32(i)
	}
	if err := e.Run(in); err != nil {
		t.Fatal(err)
	}
	for i, v := range e.Tensor(5) {
		if v != 4*in[i] {
			t.Fatalf("e[%d] = %v, want %v", i, v, 4*in[i])
		}
	}
}
