package model

import (
	"math"
	"math/rand/v2"
	"strings"
)

// RandomWeights makes a full model of the given configuration with seeded random values of a
// sensible scale (weights N(0, 1/fan_in), BatchNorm variances positive, LayerNorm weights near
// 1) and the real relative_position_index buffers. Timings and MAC counts do not depend on the
// values; benchmarks and tests of full-size models use it.
func RandomWeights(c *Config, seed uint64) *Weights {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var ts []*Tensor
	for _, k := range ExpectedKeys(c) {
		t := &Tensor{Name: k.Name, Shape: k.Shape, DType: F32}
		n := Numel(k.Shape)
		if k.Int {
			t.DType = I64
			t.I64 = make([]int64, n)
			if strings.HasSuffix(k.Name, "relative_position_index") {
				w := int(math.Round(math.Sqrt(float64(k.Shape[0]))))
				copy(t.I64, RelativePositionIndex(w))
			}
			ts = append(ts, t)
			continue
		}
		t.F32 = make([]float32, n)
		fan := 1
		if len(k.Shape) > 1 {
			fan = n / k.Shape[0]
		}
		std := float32(1 / math.Sqrt(float64(fan)))
		switch {
		case strings.HasSuffix(k.Name, "running_var"):
			for i := range t.F32 {
				t.F32[i] = 0.5 + r.Float32()
			}
		case strings.HasSuffix(k.Name, "running_mean"), strings.HasSuffix(k.Name, "bias") && len(k.Shape) == 1:
			for i := range t.F32 {
				t.F32[i] = float32(r.NormFloat64()) * 0.1
			}
		case len(k.Shape) == 1 && strings.HasSuffix(k.Name, "weight"):
			for i := range t.F32 {
				t.F32[i] = 1 + float32(r.NormFloat64())*0.1
			}
		default:
			for i := range t.F32 {
				t.F32[i] = float32(r.NormFloat64()) * std
			}
		}
		ts = append(ts, t)
	}
	w, err := NewWeights(ts)
	if err != nil {
		panic(err) // ExpectedKeys never repeats a name
	}
	return w
}

// RelativePositionIndex returns the Swin (w², w²) index (ya−yb+w−1)·(2w−1) + (xa−xb+w−1).
func RelativePositionIndex(w int) []int64 {
	out := make([]int64, w*w*w*w)
	for a := 0; a < w*w; a++ {
		for b := 0; b < w*w; b++ {
			ya, xa, yb, xb := a/w, a%w, b/w, b%w
			out[a*w*w+b] = int64((ya-yb+w-1)*(2*w-1) + (xa - xb + w - 1))
		}
	}
	return out
}
