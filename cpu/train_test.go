package cpu

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/torchckpt"
)

// trainFixtureModel loads the small Swin of the NYUD training fixture (its official
// train-mode numbers are checked in package verify).
func trainFixtureModel(t *testing.T) (*model.Config, *model.Weights) {
	t.Helper()
	raw, err := torchckpt.ReadFile(filepath.Join(fixture.Root(t), "train", "swin-nyud-train", "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := model.NormalizeKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.InferConfig(w)
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// TestTrainerDropPathGradients checks the whole backward schedule with DropPath on (masks
// held fixed) against central finite differences of J = Σ outputs·r.
func TestTrainerDropPathGradients(t *testing.T) {
	c, w := trainFixtureModel(t)
	checkTrainerGradients(t, c, w, 32, 48, 0.5, 1e-3, 2e-2, []string{
		"backbone.patch_embed.projection.weight", "backbone.stages.0.blocks.1.attn.w_msa.relative_position_bias_table",
		"backbone.stages.1.blocks.0.ffn.layers.0.0.weight", "backbone.stages.2.blocks.1.norm2.weight",
		"backbone.stages.3.blocks.1.attn.w_msa.qkv.weight", "head.linear1.0.weight",
	})
}

// TestTrainerHRNetGradients does the same on a narrow HRNet (BatchNorm in train mode
// everywhere, ReLU adds, the fuse layers' resizes and strided convs). The ReLU kinks of the
// deep random network and float32 noise limit the finite differences to a few percent
// (they converge towards the backward as the step shrinks, 1e-2 → 1e-4).
func TestTrainerHRNetGradients(t *testing.T) {
	c := &model.Config{
		Backbone: model.BackboneConfig{Kind: model.HRNet, StemChannels: 8, Layer1Blocks: 1, Layer1Planes: 4,
			BranchBlocks: []int{1, 1, 1}, StageModules: []int{1, 1, 1}, BranchWidths: []int{4, 8, 12, 16}, OutChannels: []int{4, 8, 12, 16}},
		Head: model.HeadConfig{InChannels: 40, Dim: 8, AttnHeads: 4, BottleneckChannels: 5, MixerDepth: 1, MixerOrder: model.MixerV2,
			Tasks: []model.Task{{Name: "semseg", Channels: 5}, {Name: "depth", Channels: 1}}},
	}
	w := model.RandomWeights(c, 3)
	checkTrainerGradients(t, c, w, 48, 64, 0, 3e-4, 4e-2, []string{
		"backbone.conv1.weight", "backbone.bn1.weight", "backbone.layer1.0.conv2.weight",
		"backbone.stage2.0.fuse_layers.0.1.0.weight", "backbone.stage4.0.branches.3.0.bn2.bias",
		"backbone.stage4.0.fuse_layers.1.0.0.0.weight", "head.bottleneck.depth.bn.weight",
	})
}

// checkTrainerGradients compares the largest-|g| entry of each named parameter with a
// central difference of relative step h (float32 forward: the tolerance tol is relative).
func checkTrainerGradients(t *testing.T, c *model.Config, w *model.Weights, h, wd int, dropPath, rel, tol float64, names []string) {
	t.Helper()
	const n = 2
	p, err := model.Build(c, w, h, wd)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(p, w, TrainerOptions{Images: n, DropPath: dropPath, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([][]float32, n)
	for i := range inputs {
		inputs[i] = make([]float32, h*wd*3)
		for j := range inputs[i] {
			inputs[i][j] = float32(rng.NormFloat64())
		}
	}
	if err := tr.Forward(inputs); err != nil {
		t.Fatal(err)
	}
	if dropPath > 0 {
		dropped, kept := 0, 0
		for _, d := range tr.drops {
			switch {
			case d.scale == 0:
				dropped++
			case d.scale > 1:
				kept++
			}
		}
		if len(tr.drops) != 2*n*8 || dropped == 0 || kept == 0 {
			t.Fatalf("%d drop-path adds, %d dropped, %d kept and scaled", len(tr.drops), dropped, kept)
		}
	}
	r := make([][][]float32, n)
	for img := range r {
		for k := range p.Outputs {
			g := make([]float32, len(tr.Output(img, k)))
			for j := range g {
				g[j] = float32(rng.NormFloat64())
			}
			r[img] = append(r[img], g)
		}
	}
	objective := func() float64 {
		tr.forward()
		var s float64
		for img := range r {
			for k := range p.Outputs {
				for j, v := range tr.Output(img, k) {
					s += float64(v) * float64(r[img][k][j])
				}
			}
		}
		return s
	}
	objective()
	for img := range r {
		for k := range p.Outputs {
			copy(tr.OutputGrad(img, k), r[img][k])
		}
	}
	tr.ZeroGrad()
	tr.Backward()
	params := map[string]TrainParam{}
	var all []string
	for _, tp := range tr.Params() {
		params[tp.Name] = tp
		all = append(all, tp.Name)
	}
	sort.Strings(all)
	for _, name := range names {
		tp, ok := params[name]
		if !ok {
			t.Fatalf("no parameter %s among %d", name, len(all))
		}
		best, gmax := 0, 0.0
		for j, g := range tp.Grad {
			if a := math.Abs(float64(g)); a > gmax {
				best, gmax = j, a
			}
		}
		if gmax == 0 {
			t.Errorf("%s: zero gradient", name)
			continue
		}
		v := tp.Value[best]
		step := rel * math.Max(1, math.Abs(float64(v)))
		tp.Value[best] = v + float32(step)
		tr.Refresh()
		jp := objective()
		tp.Value[best] = v - float32(step)
		tr.Refresh()
		jm := objective()
		tp.Value[best] = v
		tr.Refresh()
		fd := (jp - jm) / (float64(v+float32(step)) - float64(v-float32(step)))
		g := float64(tp.Grad[best])
		t.Logf("%s[%d]: backward %.6g, finite difference %.6g", name, best, g, fd)
		if math.Abs(fd-g) > tol*math.Abs(g) {
			t.Errorf("%s[%d]: backward %.6g, finite difference %.6g", name, best, g, fd)
		}
	}
}

func TestTrainerStepAllocatesNothing(t *testing.T) {
	c, w := trainFixtureModel(t)
	p, err := model.Build(c, w, 32, 48)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(p, w, TrainerOptions{Images: 2, DropPath: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	inputs := [][]float32{make([]float32, 32*48*3), make([]float32, 32*48*3)}
	allocs := testing.AllocsPerRun(3, func() {
		if err := tr.Forward(inputs); err != nil {
			t.Fatal(err)
		}
		tr.ZeroGrad()
		tr.Backward()
		tr.Refresh()
	})
	if allocs != 0 {
		t.Fatalf("a step allocates %v times", allocs)
	}
}

// TestTrainerFrozenBackbone checks that freezing the backbone leaves exactly the head's
// parameters with the same gradients as the full backward, and skips the backbone's ops.
func TestTrainerFrozenBackbone(t *testing.T) {
	c, w := trainFixtureModel(t)
	p, err := model.Build(c, w, 32, 48)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := make([][]float32, 2)
	for i := range inputs {
		inputs[i] = make([]float32, 32*48*3)
		for j := range inputs[i] {
			inputs[i][j] = float32(rng.NormFloat64())
		}
	}
	grads := func(frozen func(string) bool) (map[string][]float32, int) {
		tr, err := NewTrainer(p, w, TrainerOptions{Images: 2, Frozen: frozen, DropPath: 0.3, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if err := tr.Forward(inputs); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		for img := 0; img < 2; img++ {
			for k := range p.Outputs {
				g := tr.OutputGrad(img, k)
				for j := range g {
					g[j] = float32(r.NormFloat64())
				}
			}
		}
		tr.ZeroGrad()
		tr.Backward()
		out := map[string][]float32{}
		for _, tp := range tr.Params() {
			out[tp.Name] = append([]float32(nil), tp.Grad...)
		}
		ran := 0
		for i := range p.Ops {
			if tr.bwd[0][i] != nil || tr.bnBwd[i] != nil {
				ran++
			}
		}
		return out, ran
	}
	full, fullOps := grads(nil)
	head, headOps := grads(func(name string) bool { return strings.HasPrefix(name, "backbone.") })
	n := 0
	for name, g := range full {
		if !strings.HasPrefix(name, "head.") {
			continue
		}
		n++
		h, ok := head[name]
		if !ok {
			t.Fatalf("frozen backbone: head parameter %s missing", name)
		}
		for j := range g {
			if g[j] != h[j] {
				t.Fatalf("%s[%d]: %v with the backbone trained, %v frozen", name, j, g[j], h[j])
			}
		}
	}
	if n != len(head) || n == 0 {
		t.Fatalf("%d head parameters, %d with the backbone frozen", n, len(head))
	}
	t.Logf("backward ops: %d full, %d with the backbone frozen", fullOps, headOps)
	if headOps >= fullOps {
		t.Fatalf("backward ops: %d full, %d with the backbone frozen", fullOps, headOps)
	}
}
