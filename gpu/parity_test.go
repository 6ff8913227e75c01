package gpu

import (
	"math"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
)

// roundWeightsF16 returns a copy of p whose Linear/Conv2D/attention weights are rounded to
// f16, the values the F16Weights variant computes with.
func roundWeightsF16(p *model.Plan) *model.Plan {
	q := *p
	q.Consts = map[string]*model.Const{}
	for k, v := range p.Consts {
		q.Consts[k] = v
	}
	for _, op := range p.Ops {
		if op.Kind != model.OpLinear && op.Kind != model.OpConv2D && op.Kind != model.OpDeformLinear && op.Kind != model.OpWindowAttention {
			continue
		}
		for _, name := range []string{op.Weight, op.QKVWeight} {
			c, ok := p.Consts[name]
			if !ok {
				continue
			}
			r := &model.Const{Name: c.Name, Shape: c.Shape, Data: make([]float32, len(c.Data))}
			for i, v := range c.Data {
				r.Data[i] = npy.HalfToFloat(npy.FloatToHalf(v))
			}
			q.Consts[name] = r
		}
	}
	return &q
}

func runCPU(t testing.TB, p *model.Plan, in []float32, id int) []float32 {
	t.Helper()
	ex, err := cpu.New(p, cpu.Options{Keep: []int{id}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if err := ex.Run(in); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), ex.Tensor(id)...)
}

func runGPU(t testing.TB, d *Device, p *model.Plan, in []float32, id int, opt Options) []float32 {
	t.Helper()
	opt.Keep = append(opt.Keep, id)
	ex, err := New(d, p, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if err := ex.Run(in); err != nil {
		t.Fatal(err)
	}
	got, err := ex.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// maxDiff returns max |a − b| and max |b|.
func maxDiff(a, b []float32) (diff, ref float64) {
	for i := range b {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > diff || math.IsNaN(d) {
			diff = d
		}
		ref = max(ref, math.Abs(float64(b[i])))
	}
	return diff, ref
}

// TestParity runs the parity table on the GPU (f32 weights and f16-packed weights) against
// the CPU reference executor.
func TestParity(t *testing.T) {
	d := testDevice(t)
	for i, c := range optest.Cases() {
		for _, f16 := range []bool{false, true} {
			hasWeights := c.Op.Kind == model.OpLinear || c.Op.Kind == model.OpConv2D || c.Op.Kind == model.OpDeformLinear || c.Op.Kind == model.OpWindowAttention || c.Then != nil
			if f16 && !hasWeights {
				continue
			}
			name := c.Name
			if f16 {
				name += "/f16"
			}
			t.Run(name, func(t *testing.T) {
				p, in, id := c.Plan(uint64(i + 1))
				ref := p
				if f16 {
					ref = roundWeightsF16(p)
				}
				want := runCPU(t, ref, in, id)
				got := runGPU(t, d, p, in, id, Options{F16Weights: f16})
				if len(got) != len(want) {
					t.Fatalf("got %d values, want %d", len(got), len(want))
				}
				diff, mx := maxDiff(got, want)
				t.Logf("max|gpu−cpu| = %.3g (max|cpu| %.3g)", diff, mx)
				if diff > c.Tol*max(1, mx) || math.IsNaN(diff) {
					t.Errorf("max|gpu−cpu| = %.3g (max|cpu| %.3g), tolerance %.3g", diff, mx, c.Tol*max(1, mx))
				}
			})
		}
	}
}
