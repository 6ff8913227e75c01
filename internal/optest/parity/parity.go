// Package parity runs the one parity table of plan ops (internal/optest) on an executor
// against the CPU reference executor: a backend runs parity.Run(t, backend) rather than
// copying the loop. It lives beside optest so that the cpu package's own tests can use the
// table without an import cycle.
package parity

import (
	"math"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
)

// Backend is an executor under test, as Run drives it.
type Backend struct {
	// Run runs plan p on input in and returns the values of tensor id (which it must keep).
	// f16 asks for the backend's f16-stored-weights variant; it is true only when F16 is set.
	Run func(t testing.TB, p *model.Plan, in []float32, id int, f16 bool) []float32
	// F16 also runs every case with weights (HasWeights) with f16 set, against the
	// reference on the plan with those weights rounded to f16 (optest.RoundWeightsF16).
	F16 bool
}

// Run runs every case of the parity table on b, one subtest per case named by it (with
// "/f16" for the f16 variant), and fails those whose result is further from the CPU
// reference executor's than the case's tolerance.
func Run(t *testing.T, b Backend) {
	for _, c := range optest.Cases() {
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
					ref = optest.RoundWeightsF16(p)
				}
				want := Reference(t, ref, in, id)
				got := b.Run(t, p, in, id, half)
				if len(got) != len(want) {
					t.Fatalf("got %d values, want %d", len(got), len(want))
				}
				diff, mx := optest.MaxDiff(got, want)
				t.Logf("max|got−cpu| = %.3g (max|cpu| %.3g)", diff, mx)
				if diff > c.Tol*max(1, mx) || math.IsNaN(diff) {
					t.Errorf("max|got−cpu| = %.3g (max|cpu| %.3g), tolerance %.3g", diff, mx, c.Tol*max(1, mx))
				}
			})
		}
	}
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
