package train

import (
	"math/rand/v2"
	"testing"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/model"
)

// nanoBench is the nano preset with the six synthetic tasks at 128×160.
func nanoBench(b *testing.B) (*model.Config, *model.Weights) { return presetBench(b, "nano", 0) }

// presetBench is a preset with the six synthetic tasks.
func presetBench(b *testing.B, arch string, headWidth int) (*model.Config, *model.Weights) {
	tasks := []model.Task{{Name: "semseg", Channels: 16}, {Name: "human_parts", Channels: 7}, {Name: "sal", Channels: 2},
		{Name: "normals", Channels: 3}, {Name: "edge", Channels: 1}, {Name: "depth", Channels: 1}}
	c, err := Preset(arch, tasks, headWidth)
	if err != nil {
		b.Fatal(err)
	}
	return c, InitWeights(c, 1)
}

// BenchmarkTrainStep times one training step at 128×160, batch 8: train-mode forward, the
// six losses, backward, SGD and the weight refresh. nano, and HRNet18-S with a width-64 head
// (the model PyTorch's step time is in ../shared/notes/training.md §4).
func BenchmarkTrainStep(b *testing.B) {
	b.Run("nano", func(b *testing.B) { benchTrainStep(b, "nano", 0, 128, 160, 8) })
	b.Run("hrnet18-s-w64", func(b *testing.B) { benchTrainStep(b, "hrnet18-s", 64, 128, 160, 8) })
	// The official HRNet18-S DeMT (width-256 head, six tasks) at 256², one image: PyTorch 1.13
	// takes 4.84 s here for its five PASCAL tasks (notes/training.md §4).
	b.Run("hrnet18-s/256x256/batch1", func(b *testing.B) { benchTrainStep(b, "hrnet18-s", 0, 256, 256, 1) })
}

func benchTrainStep(b *testing.B, arch string, headWidth, h, w, n int) {
	c, wt := presetBench(b, arch, headWidth)
	p, err := model.Build(c, wt, h, w)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := cpu.NewTrainer(p, wt, cpu.TrainerOptions{Images: n, DropPath: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	inputs := make([][]float32, n)
	labels := make([][][]float32, n)
	var losses []Loss
	for _, t := range c.Head.Tasks {
		l, _ := NewLoss(t.Name, 0.8)
		losses = append(losses, l)
	}
	for i := range inputs {
		inputs[i] = make([]float32, h*w*3)
		for j := range inputs[i] {
			inputs[i][j] = float32(rng.NormFloat64())
		}
		for _, t := range c.Head.Tasks {
			lab := make([]float32, h*w*LabelChannels(t.Name))
			for j := range lab {
				switch t.Name {
				case "normals":
					lab[j] = float32(rng.Float64()*2 - 1)
				case "depth":
					lab[j] = float32(rng.Float64() * 10)
				default:
					lab[j] = float32(rng.IntN(min(t.Channels, 2)))
				}
			}
			labels[i] = append(labels[i], lab)
		}
	}
	var params []Param
	for _, tp := range tr.Params() {
		params = append(params, Param{Name: tp.Name, Value: tp.Value, Grad: tp.Grad})
	}
	opt, err := New(OfficialSGD(1000), params)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		if err := tr.Forward(inputs); err != nil {
			b.Fatal(err)
		}
		for ti, l := range losses {
			for img := 0; img < n; img++ {
				if _, err := l.Eval(tr.Output(img, ti), labels[img][ti], h, w, c.Head.Tasks[ti].Channels, l.Weight/float64(n), tr.OutputGrad(img, ti)); err != nil {
					b.Fatal(err)
				}
			}
		}
		tr.ZeroGrad()
		tr.Backward()
		opt.Step()
		tr.Refresh()
	}
	b.ReportMetric(float64(tr.Bytes())/(1<<20), "MiB")
}

// BenchmarkTrainForward times the train-mode forward alone (batch 8).
func BenchmarkTrainForward(b *testing.B) {
	const h, w, n = 128, 160, 8
	c, wt := nanoBench(b)
	p, err := model.Build(c, wt, h, w)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := cpu.NewTrainer(p, wt, cpu.TrainerOptions{Images: n})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	inputs := make([][]float32, n)
	for i := range inputs {
		inputs[i] = make([]float32, h*w*3)
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		if err := tr.Forward(inputs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalForward times the inference forward of nano (the fused plan, one image) at
// 128×160: the unit of BenchmarkTrainStep's step/forward ratio (× 8 images). "canonical"
// is the unfused eval plan.
func BenchmarkEvalForward(b *testing.B) {
	for _, fused := range []bool{true, false} {
		name := "fused"
		if !fused {
			name = "canonical"
		}
		b.Run(name, func(b *testing.B) {
			c, wt := nanoBench(b)
			p, err := model.Build(c, wt, 128, 160)
			if err != nil {
				b.Fatal(err)
			}
			if fused {
				if p, err = model.Optimize(p); err != nil {
					b.Fatal(err)
				}
			}
			e, err := cpu.New(p, cpu.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			in := make([]float32, 128*160*3)
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				if err := e.Run(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(p.TotalMACs())/1e9, "GMAC")
		})
	}
}
