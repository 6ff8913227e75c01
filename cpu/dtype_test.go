package cpu_test

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/demt-web/demt/calibrate"
	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/npy"
)

// TestStoredDTypes converts every fixture to .demt in f16 and int8, runs it, and compares each
// output with the official float32 output: relative L2 and, for the classification outputs,
// the agreement of the per-pixel argmax.
func TestStoredDTypes(t *testing.T) {
	cases := []struct {
		dtype     string
		maxRelL2  float64
		minArgmax float64
	}{
		{demtfile.DTypeF16, 3e-3, 0.99},
		{demtfile.DTypeInt8, 3e-2, 0.97},
	}
	for _, m := range fixturemodel.All(t) {
		cfg, w, in, h, wd := m.Config, m.Weights, m.Input, m.H, m.W
		for _, c := range cases {
			t.Run(m.Name+"/"+c.dtype, func(t *testing.T) {
				rep, err := calibrate.Choose(cfg, w, calibrate.Options{DType: c.dtype})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("calibration: %d of %d modules kept precise (%.1f%% of their parameters), estimated %.2g, measured %.2g",
					rep.PreciseModules, len(rep.Modules), 100*float64(rep.PreciseParams)/float64(max(1, rep.Params)), rep.Estimated, rep.Measured)
				var buf bytes.Buffer
				meta := &demtfile.Metadata{Config: *cfg, Normalization: demtfile.ImageNetNormalization()}
				if err := demtfile.Write(&buf, meta, w, demtfile.WriteOptions{DType: c.dtype, Precise: rep.Precise}); err != nil {
					t.Fatal(err)
				}
				f, err := demtfile.Read(&buf, nil)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := model.Build(&f.Meta.Config, f.Weights, h, wd)
				if err != nil {
					t.Fatal(err)
				}
				ex := runPlan(t, plan, in, cpu.Options{})
				for _, o := range plan.Outputs {
					ref, err := npy.ReadFile(filepath.Join(m.Dir, "out_"+o.Task+".npy"))
					if err != nil {
						t.Fatal(err)
					}
					s := plan.Tensors[o.Tensor].Shape
					got := model.CHWFromHWC(ex.Tensor(o.Tensor), s.H, s.W, s.C)
					d := fixture.Compare(got, ref.Float32())
					msg := ""
					ok := d.RelL2 <= c.maxRelL2
					if o.Task == "semseg" || o.Task == "human_parts" || o.Task == "sal" {
						agree := argmaxAgreement(got, ref.Float32(), s.C, s.H*s.W)
						ok = ok && agree >= c.minArgmax
						msg = " argmax agreement " + fmtPct(agree)
					}
					if !ok {
						t.Errorf("%s: relL2 %.3g (limit %.0e)%s", o.Task, d.RelL2, c.maxRelL2, msg)
					} else {
						t.Logf("%s: relL2 %.3g%s", o.Task, d.RelL2, msg)
					}
				}
			})
		}
	}
}

func argmaxAgreement(a, b []float32, c, n int) float64 {
	agree := 0
	for p := 0; p < n; p++ {
		ia, ib := 0, 0
		for ch := 1; ch < c; ch++ {
			if a[ch*n+p] > a[ia*n+p] {
				ia = ch
			}
			if b[ch*n+p] > b[ib*n+p] {
				ib = ch
			}
		}
		if ia == ib {
			agree++
		}
	}
	return float64(agree) / float64(n)
}

func fmtPct(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }
