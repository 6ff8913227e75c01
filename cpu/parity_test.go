//go:build amd64 && !noasm

package cpu_test

import (
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/optest/parity"
	"github.com/demt-web/demt/model"
)

// TestPortableParity runs the parity table on the portable kernels (the ones the wasm build
// and non-amd64 machines run) against the reference executor with the AVX2 kernels. The
// portable kernels also run the official fixtures in `go test -tags noasm ./cpu` (make test).
func TestPortableParity(t *testing.T) {
	if !cpu.HasSIMD() {
		t.Fatal("this CPU has no AVX2+FMA: there are no assembly kernels to compare the portable ones with")
	}
	parity.Run(t, parity.Backend{Run: func(t testing.TB, p *model.Plan, in []float32, id int, _ bool) []float32 {
		defer cpu.DisableSIMD()()
		return parity.Reference(t, p, in, id)
	}})
}
