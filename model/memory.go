package model

import "fmt"

// MemoryOptions say which tensors a run must keep and which extra reads its kernels make.
type MemoryOptions struct {
	// Keep marks tensors (by id) that stay readable after the run, besides the input and the
	// outputs, which are always kept. Nil keeps nothing else.
	Keep []bool
	// KeepAll keeps every tensor (for verifying intermediates; uses more memory).
	KeepAll bool
	// ExtraReads, if set, returns the tensors op i reads besides its inputs and residual
	// (a kernel that reads an earlier tensor directly); they live until op i has run.
	ExtraReads func(i int) []int
}

// MemoryPlan assigns every activation tensor of a plan to a slot: tensors whose lifetimes do
// not overlap share one. Executors allocate one buffer per slot and view tensors into them.
type MemoryPlan struct {
	// Slot is the slot of each tensor (NoSlot for a tensor no op writes or reads).
	Slot []int
	// SlotElems is the size of each slot in float32 elements (a multiple of SlotGranule).
	SlotElems []int
	// Kept marks the tensors that stay readable after the run.
	Kept []bool
}

// NoSlot marks a tensor without memory.
const NoSlot = -1

// SlotGranule is the rounding of slot sizes in elements (256 bytes: the WebGPU storage
// binding offset alignment, so a GPU buffer pool can share sizes).
const SlotGranule = 64

// slotSlack is how many elements a free slot may exceed twice the tensor's size by and still
// be reused: reuse of a much larger slot would waste more than a new one costs.
const slotSlack = 1024

// PlanMemory plans the activation memory of p: walking the ops in order, each op's output
// takes the smallest free slot that fits (and is not more than about twice too big), else a
// new slot; a tensor's slot is freed after its last reader (an op reading a tensor twice
// frees it once). Kept tensors are never freed.
func PlanMemory(p *Plan, opt MemoryOptions) (*MemoryPlan, error) {
	n := len(p.Tensors)
	m := &MemoryPlan{Slot: make([]int, n), Kept: make([]bool, n)}
	for i := range m.Slot {
		m.Slot[i] = NoSlot
	}
	if opt.Keep != nil && len(opt.Keep) != n {
		return nil, fmt.Errorf("memory plan: keep has %d entries for %d tensors", len(opt.Keep), n)
	}
	for i := range m.Kept {
		m.Kept[i] = opt.KeepAll || opt.Keep != nil && opt.Keep[i]
	}
	m.Kept[p.Input] = true
	for _, o := range p.Outputs {
		m.Kept[o.Tensor] = true
	}
	reads := func(i int) []int {
		op := &p.Ops[i]
		ids := append([]int(nil), op.Inputs...)
		if r, ok := op.Residual.Get(); ok {
			ids = append(ids, r)
		}
		if opt.ExtraReads != nil {
			ids = append(ids, opt.ExtraReads(i)...)
		}
		return ids
	}
	last := make([]int, n)
	for i := range last {
		last[i] = -1
	}
	opReads := make([][]int, len(p.Ops))
	for i := range p.Ops {
		opReads[i] = reads(i)
		for _, id := range opReads[i] {
			if id < 0 || id >= n {
				return nil, fmt.Errorf("memory plan: op #%d %s reads tensor %d of %d", i, p.Ops[i].Name, id, n)
			}
			last[id] = i
		}
	}
	var free []int // slots
	take := func(id int) {
		if m.Slot[id] != NoSlot {
			return
		}
		need := (p.Tensors[id].Shape.Numel() + SlotGranule - 1) / SlotGranule * SlotGranule
		best := -1
		for j, s := range free {
			size := m.SlotElems[s]
			if size >= need && (best < 0 || size < m.SlotElems[free[best]]) {
				best = j
			}
		}
		if best >= 0 && m.SlotElems[free[best]] <= 2*need+slotSlack {
			m.Slot[id] = free[best]
			free = append(free[:best], free[best+1:]...)
			return
		}
		m.Slot[id] = len(m.SlotElems)
		m.SlotElems = append(m.SlotElems, need)
	}
	release := func(id int) {
		if !m.Kept[id] && m.Slot[id] != NoSlot {
			for _, s := range free {
				if s == m.Slot[id] {
					return // already freed (read twice by one op)
				}
			}
			free = append(free, m.Slot[id])
		}
	}
	take(p.Input)
	written := make([]bool, n)
	written[p.Input] = true
	for i := range p.Ops {
		op := &p.Ops[i]
		for _, id := range opReads[i] {
			if !written[id] {
				return nil, fmt.Errorf("memory plan: op #%d %s reads tensor %s before any op writes it", i, op.Name, p.Tensors[id].Name)
			}
		}
		take(op.Output)
		written[op.Output] = true
		for _, id := range opReads[i] {
			if last[id] == i {
				release(id)
			}
		}
		if last[op.Output] < 0 {
			release(op.Output)
		}
	}
	return m, nil
}

// Bytes returns the activation memory of the plan: the sum of its slots.
func (m *MemoryPlan) Bytes() int64 {
	var n int64
	for _, e := range m.SlotElems {
		n += int64(e) * 4
	}
	return n
}
