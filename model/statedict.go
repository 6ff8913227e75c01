package model

import (
	"fmt"
	"math"
)

// StateDict returns w as the state dict of the official PyTorch model of configuration c:
// every key of ExpectedKeys(c) in that (the official) order, nothing else, float entries as
// float32 values (whatever type they were stored in) and the integer buffers
// (num_batches_tracked, relative_position_index) as int64. Values are shared with w, not
// copied, where they are already of the right kind.
func StateDict(c *Config, w *Weights) (*Weights, error) {
	if err := CheckKeys(w, c); err != nil {
		return nil, err
	}
	keys := ExpectedKeys(c)
	out := make([]*Tensor, 0, len(keys))
	for _, k := range keys {
		t := *w.Get(k.Name)
		switch {
		case k.Int && t.I64 == nil:
			vals := make([]int64, len(t.F32))
			for i, v := range t.F32 {
				if v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<53 {
					return nil, fmt.Errorf("%s: integer buffer holds %g", k.Name, v)
				}
				vals[i] = int64(v)
			}
			t.F32, t.I64 = nil, vals
		case !k.Int && t.F32 == nil:
			return nil, fmt.Errorf("%s: want a float tensor", k.Name)
		}
		t.DType = F32
		if k.Int {
			t.DType = I64
		}
		out = append(out, &t)
	}
	return NewWeights(out)
}
