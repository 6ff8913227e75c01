package gpu

import (
	"testing"

	"github.com/demt-web/demt/internal/optest/parity"
	"github.com/demt-web/demt/model"
)

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

// TestParity runs the parity table on the GPU (f32 weights and f16-packed weights) against
// the CPU reference executor.
func TestParity(t *testing.T) {
	d := testDevice(t)
	parity.Run(t, parity.Backend{F16: true, Run: func(t testing.TB, p *model.Plan, in []float32, id int, f16 bool) []float32 {
		return runGPU(t, d, p, in, id, Options{F16Weights: f16})
	}})
}
