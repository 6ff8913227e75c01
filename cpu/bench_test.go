package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// benchModel returns one of the full-size models of the benchmarks: the HRNet18-S PASCAL fixture
// checkpoint (a full official model) and Swin-T NYUD from the official key list with
// random weights.
func benchModel(b *testing.B, name string) (*model.Config, *model.Weights) {
	root := fixture.Root(b)
	switch name {
	case "hrnet18s-pascal":
		m := fixturemodel.Named(b, "hrnet18s-pascal")
		return m.Config, m.Weights
	case "swin-t-nyud":
		cfg, w, err := fixture.RandomModel(filepath.Join(root, "keys", "swin_t-nyud.json"), 1)
		if err != nil {
			b.Fatal(err)
		}
		return cfg, w
	}
	b.Fatalf("unknown model %s", name)
	return nil, nil
}

func randomInput(h, w int) []float32 {
	r := rand.New(rand.NewPCG(7, 7))
	in := make([]float32, h*w*3)
	for i := range in {
		in[i] = float32(r.NormFloat64())
	}
	return in
}

// BenchmarkForward times the whole forward pass of the plain plan on all cores.
// Sizes: 256×256 (the comparison size) and 512×512 (PASCAL's eval size).
func BenchmarkForward(b *testing.B) {
	for _, name := range []string{"hrnet18s-pascal", "swin-t-nyud"} {
		for _, size := range []int{256, 512} {
			for _, kind := range []string{"optimized", "plain"} {
				b.Run(fmt.Sprintf("%s/%dx%d/%s", name, size, size, kind), func(b *testing.B) {
					benchForward(b, name, size, kind == "optimized")
				})
			}
		}
	}
}

func benchForward(b *testing.B, name string, size int, optimize bool) {
	cfg, w := benchModel(b, name)
	plan, err := model.Build(cfg, w, size, size)
	if err != nil {
		b.Fatal(err)
	}
	if optimize {
		if plan, err = model.Optimize(plan); err != nil {
			b.Fatal(err)
		}
	}
	in := randomInput(size, size)
	ex := runPlan(b, plan, in, cpu.Options{}) // the first run warms up
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocs := ms.Mallocs
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ex.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(plan.TotalMACs())/1e9, "GMAC/op")
	b.ReportMetric(float64(plan.TotalMACs())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	b.ReportMetric(float64(ex.Bytes())/(1<<20), "act-MiB")
	b.ReportMetric(float64(ms.Mallocs-allocs)/float64(b.N), "mallocs/op")
}

// TestRunAllocatesNothing: a second run of the same plan allocates no memory.
func TestRunAllocatesNothing(t *testing.T) {
	m := fixturemodel.Named(t, "swin-nyud-small")
	plan, err := model.Build(m.Config, m.Weights, 40, 44)
	if err != nil {
		t.Fatal(err)
	}
	in := randomInput(40, 44)
	ex := runPlan(t, plan, in, cpu.Options{})
	if n := testing.AllocsPerRun(3, func() { ex.Run(in) }); n > 0 {
		t.Fatalf("Run allocates %v times per call", n)
	}
}
