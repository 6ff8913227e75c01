// Package model holds what every part of demt-web shares about the DeMT network:
// the weights of a checkpoint (Weights), the architecture inferred from their
// shapes (Config), and the executable description of one forward pass (Plan)
// with its MAC count and its rewrites. It contains no numerics of its own:
// executors (cpu/, gpu/) compute what a Plan says.
package model

import (
	"fmt"
	"sort"
)

// DType names the element type a tensor had where it came from (checkpoint or .demt).
// Float tensors are always held as float32 in memory; integer buffers as int64.
type DType string

// Source element types.
const (
	F32  DType = "float32"
	F16  DType = "float16"
	BF16 DType = "bfloat16"
	F64  DType = "float64"
	I64  DType = "int64"
	I8   DType = "int8"
)

// Tensor is one named array of a state dict, in the official (PyTorch) layout and
// row-major order. Exactly one of F32 and I64 is set.
type Tensor struct {
	Name  string
	Shape []int
	DType DType // element type in the source file
	F32   []float32
	I64   []int64
}

// Numel returns the number of elements the shape describes.
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// Numel returns the product of the dimensions (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Weights is an ordered set of named tensors: a state dict.
type Weights struct {
	Tensors []*Tensor
	index   map[string]int
}

// NewWeights builds a Weights from tensors in state-dict order; duplicate names are an error.
func NewWeights(ts []*Tensor) (*Weights, error) {
	w := &Weights{Tensors: ts, index: make(map[string]int, len(ts))}
	for i, t := range ts {
		if _, dup := w.index[t.Name]; dup {
			return nil, fmt.Errorf("duplicate tensor %q", t.Name)
		}
		if t.F32 != nil && len(t.F32) != t.Numel() || t.I64 != nil && len(t.I64) != t.Numel() {
			return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.Name, max(len(t.F32), len(t.I64)), t.Shape)
		}
		w.index[t.Name] = i
	}
	return w, nil
}

// Get returns the tensor called name, or nil.
func (w *Weights) Get(name string) *Tensor {
	i, ok := w.index[name]
	if !ok {
		return nil
	}
	return w.Tensors[i]
}

// Names returns the tensor names in state-dict order.
func (w *Weights) Names() []string {
	out := make([]string, len(w.Tensors))
	for i, t := range w.Tensors {
		out[i] = t.Name
	}
	return out
}

// SortedNames returns the tensor names sorted, for stable listings.
func (w *Weights) SortedNames() []string {
	out := w.Names()
	sort.Strings(out)
	return out
}

// NumParams counts the float elements (parameters and float buffers).
func (w *Weights) NumParams() int {
	n := 0
	for _, t := range w.Tensors {
		if t.F32 != nil {
			n += len(t.F32)
		}
	}
	return n
}
