package optest

import (
	"hash/fnv"
	"math"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/model"
)

// Backend is an executor under test, as Run drives it.
type Backend struct {
	// Run runs plan p on input in and returns the values of tensor id (which it must keep).
	// f16 asks for the backend's f16-stored-weights variant; it is true only when F16 is set.
	Run func(t testing.TB, p *model.Plan, in []float32, id int, f16 bool) []float32
	// F16 also runs every case with weights (HasWeights) with f16 set, against the
	// reference on the plan with those weights rounded to f16 (RoundWeightsF16).
	F16 bool
}

// Run runs every case of the parity table on b, one subtest per case named by it (with
// "/f16" for the f16 variant), and fails those whose result is further from the CPU
// reference executor's than the case's tolerance.
func Run(t *testing.T, b Backend) {
	for _, c := range Cases() {
		for _, half := range []bool{false, true} {
			if half && (!b.F16 || !c.HasWeights()) {
				continue
			}
			name := c.Name
			if half {
				name += "/f16"
			}
			t.Run(name, func(t *testing.T) {
				p, in, id := c.Plan(c.Seed())
				ref := p
				if half {
					ref = RoundWeightsF16(p)
				}
				want := Reference(t, ref, in, id)
				got := b.Run(t, p, in, id, half)
				if len(got) != len(want) {
					t.Fatalf("got %d values, want %d", len(got), len(want))
				}
				diff, mx := MaxDiff(got, want)
				t.Logf("max|got−cpu| = %.3g (max|cpu| %.3g)", diff, mx)
				if diff > c.Tol*max(1, mx) || math.IsNaN(diff) {
					t.Errorf("max|got−cpu| = %.3g (max|cpu| %.3g), tolerance %.3g", diff, mx, c.Tol*max(1, mx))
				}
			})
		}
	}
}

// Find returns the case of the table with the given name.
func Find(t testing.TB, name string) Case {
	t.Helper()
	for _, c := range Cases() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("optest: no case %q", name)
	return Case{}
}

// Seed returns the seed of the case's random input and weights, derived from its name so
// that a case keeps its values wherever it stands in the table.
func (c *Case) Seed() uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.Name))
	return h.Sum64()
}

// HasWeights reports whether the case runs a matrix weight that an f16 variant stores as
// f16: a Linear, Conv2D or window attention op, or a Then op.
func (c *Case) HasWeights() bool {
	k := c.Op.Kind
	return k == model.OpLinear || k == model.OpConv2D || k == model.OpWindowAttention || c.Then != nil
}

// Reference runs p on the CPU reference executor and returns a copy of tensor id.
func Reference(t testing.TB, p *model.Plan, in []float32, id int) []float32 {
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

// RoundWeightsF16 returns a copy of p whose Linear, Conv2D and window-attention weights are
// rounded to f16: the values an f16-weights variant computes with.
func RoundWeightsF16(p *model.Plan) *model.Plan {
	q := *p
	q.Consts = map[string]*model.Const{}
	for k, v := range p.Consts {
		q.Consts[k] = v
	}
	for _, op := range p.Ops {
		if op.Kind != model.OpLinear && op.Kind != model.OpConv2D && op.Kind != model.OpWindowAttention {
			continue
		}
		for _, name := range []string{op.Weight, op.QKVWeight} {
			if c, ok := p.Consts[name]; ok {
				r := *c
				r.Data = f16.RoundSlice(c.Data)
				q.Consts[name] = &r
			}
		}
	}
	return &q
}

// MaxDiff returns max |a − b| (NaN if any difference is NaN) and max |b|.
func MaxDiff(a, b []float32) (diff, ref float64) {
	for i := range b {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > diff || math.IsNaN(d) {
			diff = d
		}
		ref = max(ref, math.Abs(float64(b[i])))
	}
	return diff, ref
}
