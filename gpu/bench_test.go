package gpu

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
)

// benchRun times Run + Wait of plan p and reports GMAC/s from the plan's MAC count.
func benchRun(b *testing.B, d *Device, p *model.Plan, in []float32, macs int64) {
	e, err := New(d, p, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	run := func() {
		if err := e.Run(in); err != nil {
			b.Fatal(err)
		}
		if err := e.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	run() // warm-up
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(macs)*float64(b.N)/s/1e9, "GMAC/s")
	}
}

// BenchmarkKernel times single ops (shapes sized for lavapipe: tens of MMACs).
func BenchmarkKernel(b *testing.B) {
	d := testDevice(b)
	cases := []optest.Case{
		optest.EpilogueCase("linear/1024x256x256", model.OpLinear, optest.Sh(32, 32, 256), optest.Sh(32, 32, 256), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.Act1 = "w", "b", model.ActGELU
			k["w"], k["b"] = []int{256, 256}, []int{256}
		}),
		optest.EpilogueCase("conv2d/3x3/32x32x64", model.OpConv2D, optest.Sh(32, 32, 64), optest.Sh(32, 32, 64), func(o *model.Op, k map[string][]int) {
			o.Weight, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups, o.Act2 = "w", 3, 3, 1, 1, 1, 1, model.ActReLU
			k["w"] = []int{64, 64, 3, 3}
		}),
		optest.EpilogueCase("layer_norm/4096x256", model.OpLayerNorm, optest.Sh(64, 64, 256), optest.Sh(64, 64, 256), func(o *model.Op, k map[string][]int) {
			o.Weight, o.Bias, o.Eps = "w", "b", 1e-5
			k["w"], k["b"] = []int{256}, []int{256}
		}),
		optest.EpilogueCase("resize/32x32x256-64x64", model.OpResize, optest.Sh(32, 32, 256), optest.Sh(64, 64, 256), func(*model.Op, map[string][]int) {}),
		{Name: "window_attention/28x28x96", In: []model.Shape{optest.Sh(28, 28, 96)}, Out: optest.Sh(28, 28, 96),
			Op: model.Op{Kind: model.OpWindowAttention, Inputs: []int{0}, QKVWeight: "qkv.w", QKVBias: "qkv.b",
				Weight: "proj.w", Bias: "proj.b", Table: "table", Heads: 3, Window: 7, ShiftSize: 3},
			Consts: map[string][]int{"qkv.w": {288, 96}, "qkv.b": {288}, "proj.w": {96, 96}, "proj.b": {96}, "table": {169, 3}}},
	}
	for _, c := range cases {
		b.Run(c.Name, func(b *testing.B) {
			p, in, _ := c.Plan(1)
			benchRun(b, d, p, in, p.TotalMACs())
		})
	}
}

// BenchmarkForward times the whole forward, plain and optimized plans: the HRNet fixture at
// its size, and full-size models with random weights at 64×64 (lavapipe manages ~0.1–1
// GMAC/s), and with DEMT_BENCH_LARGE=1 (real GPUs) also at 256×256 and 512×512.
func BenchmarkForward(b *testing.B) {
	d := testDevice(b)
	root := fixture.Root(b)
	run := func(b *testing.B, p *model.Plan, in []float32, optimize bool) {
		if optimize {
			var err error
			if p, err = model.Optimize(p); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("%d ops, %.3g GMAC", len(p.Ops), float64(p.TotalMACs())/1e9)
		benchRun(b, d, p, in, p.TotalMACs())
	}
	for _, kind := range []string{"optimized", "plain"} {
		b.Run("hrnet18s-pascal/33x49/"+kind, func(b *testing.B) {
			m := fixturemodel.Named(b, "hrnet18s-pascal")
			run(b, m.Plan(b), m.Input, kind == "optimized")
		})
	}
	sizes := []int{64}
	if os.Getenv("DEMT_BENCH_LARGE") == "1" { // real GPUs only
		sizes = append(sizes, 256, 512)
	}
	for _, name := range []string{"hrnet18_s-pascal", "swin_t-nyud"} {
		for _, size := range sizes {
			for _, kind := range []string{"optimized", "plain"} {
				b.Run(fmt.Sprintf("%s/%dx%d/%s", name, size, size, kind), func(b *testing.B) {
					cfg, w, err := fixture.RandomModel(filepath.Join(root, "keys", name+".json"), 1)
					if err != nil {
						b.Fatal(err)
					}
					p, err := model.Build(cfg, w, size, size)
					if err != nil {
						b.Fatal(err)
					}
					in := make([]float32, size*size*3)
					for i := range in {
						in[i] = float32(i%17-8) * 0.1
					}
					run(b, p, in, kind == "optimized")
				})
			}
		}
	}
}
