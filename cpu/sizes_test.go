package cpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// TestAnyInputSize runs every fixture model at small, odd and non-square sizes (≥ 32×32):
// plain and optimized plans must build, run and agree, with finite outputs of the input size.
func TestAnyInputSize(t *testing.T) {
	for _, m := range fixturemodel.All(t) {
		cfg, w := m.Config, m.Weights
		for _, s := range [][2]int{{32, 32}, {33, 97}, {61, 35}, {64, 64}} {
			t.Run(fmt.Sprintf("%s/%dx%d", m.Name, s[0], s[1]), func(t *testing.T) {
				in := randomInput(s[0], s[1])
				plain, err := model.Build(cfg, w, s[0], s[1])
				if err != nil {
					t.Fatal(err)
				}
				opt, err := model.Optimize(plain)
				if err != nil {
					t.Fatal(err)
				}
				var outs [2][][]float32
				for i, p := range []*model.Plan{plain, opt} {
					ex := runPlan(t, p, in, cpu.Options{})
					for _, o := range p.Outputs {
						sh := p.Tensors[o.Tensor].Shape
						if sh.H != s[0] || sh.W != s[1] {
							t.Fatalf("%s output %s, want %dx%d", o.Task, sh, s[0], s[1])
						}
						outs[i] = append(outs[i], append([]float32(nil), ex.Tensor(o.Tensor)...))
					}
				}
				for j := range outs[0] {
					for _, v := range outs[1][j] {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("output %d not finite", j)
						}
					}
					if d := fixture.Compare(outs[1][j], outs[0][j]); d.RelL2 > 1e-4 {
						t.Errorf("output %d: optimized vs plain relL2 %.3g", j, d.RelL2)
					}
				}
			})
		}
	}
	if _, err := model.Build(&model.Config{}, nil, 31, 64); err == nil {
		t.Error("31×64 input accepted")
	}
}
