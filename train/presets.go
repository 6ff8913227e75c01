package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/demt-web/demt/model"
)

// Architecture presets of `demt-convert train --arch`. The official ones are the backbones of
// the official key lists (fixtures/official/keys/*.json, checked by TestPresetsMatchKeyLists)
// with the official head (width 256); nano is a small model of the same structure for CPU
// training: a Swin backbone of width 24 (depths 2,2,2,2, heads 1,2,4,8: head dim 24..), window 7,
// MLP ratio 4, and a DemtHead of width 64 (the head width is a parameter of every preset).
var presets = map[string]model.BackboneConfig{
	"nano": {Kind: model.Swin, EmbedDim: 24, PatchSize: 4, Window: 7, Depths: []int{2, 2, 2, 2},
		Heads: []int{1, 2, 4, 8}, MLPHidden: []int{96, 192, 384, 768}, OutChannels: []int{24, 48, 96, 192}},
	"swin-t": {Kind: model.Swin, Name: "Swin-T", EmbedDim: 96, PatchSize: 4, Window: 7, Depths: []int{2, 2, 6, 2},
		Heads: []int{3, 6, 12, 24}, MLPHidden: []int{384, 768, 1536, 3072}, OutChannels: []int{96, 192, 384, 768}},
	"swin-s": {Kind: model.Swin, Name: "Swin-S", EmbedDim: 96, PatchSize: 4, Window: 7, Depths: []int{2, 2, 18, 2},
		Heads: []int{3, 6, 12, 24}, MLPHidden: []int{384, 768, 1536, 3072}, OutChannels: []int{96, 192, 384, 768}},
	"swin-b": {Kind: model.Swin, Name: "Swin-B", EmbedDim: 128, PatchSize: 4, Window: 7, Depths: []int{2, 2, 18, 2},
		Heads: []int{4, 8, 16, 32}, MLPHidden: []int{512, 1024, 2048, 4096}, OutChannels: []int{128, 256, 512, 1024}},
	"hrnet18-s": {Kind: model.HRNet, Name: "HRNet18-S", StemChannels: 64, Layer1Blocks: 2, Layer1Planes: 64,
		BranchBlocks: []int{2, 2, 2}, StageModules: []int{1, 3, 2}, BranchWidths: []int{18, 36, 72, 144},
		OutChannels: []int{18, 36, 72, 144}},
}

// Default head widths: the official DemtHead is 256 wide; nano's is 64.
const (
	OfficialHeadWidth = 256
	NanoHeadWidth     = 64
)

// PresetNames lists the --arch presets.
func PresetNames() []string {
	var n []string
	for k := range presets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Preset returns the architecture of preset name with the given tasks and head width
// (0: the preset's default). The head is the official DemtHead (HEAD mixer order, one
// DefMixer block, 4 attention heads, bottleneck = backbone width sum / 8).
func Preset(name string, tasks []model.Task, headWidth int) (*model.Config, error) {
	b, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown architecture %q (presets: %s)", name, strings.Join(PresetNames(), ", "))
	}
	if headWidth == 0 {
		headWidth = OfficialHeadWidth
		if name == "nano" {
			headWidth = NanoHeadWidth
		}
	}
	if headWidth < 4 || headWidth%4 != 0 {
		return nil, fmt.Errorf("head width %d: want a positive multiple of 4 (4 attention heads)", headWidth)
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("no tasks")
	}
	in := 0
	for _, c := range b.OutChannels {
		in += c
	}
	b.Depths = append([]int(nil), b.Depths...)
	c := &model.Config{Backbone: b, Head: model.HeadConfig{InChannels: in, Dim: headWidth, AttnHeads: 4,
		BottleneckChannels: in / 8, MixerDepth: 1, MixerOrder: model.MixerV2, Tasks: append([]model.Task(nil), tasks...)}}
	return c, nil
}

// InitWeights returns fresh weights for training c from scratch: conv/linear weights
// N(0, 1/fan_in) (model.RandomWeights), their biases U(±1/√fan_in) (PyTorch's default), every
// norm weight 1 and bias 0, BatchNorm running mean 0 and variance 1, relative-position tables
// N(0, 0.02²) truncated at ±2σ (the official trunc_normal), MultiheadAttention biases 0.
func InitWeights(c *model.Config, seed uint64) *model.Weights {
	w := model.RandomWeights(c, seed)
	r := rand.New(rand.NewPCG(seed, 0x7ab1e))
	for _, t := range w.Tensors {
		if t.F32 == nil {
			continue
		}
		n := t.Name
		weight := w.Get(strings.TrimSuffix(n, "bias") + "weight")
		switch {
		case strings.HasSuffix(n, "bias") && weight != nil && len(weight.Shape) > 1 && !strings.Contains(n, "in_proj_bias") && !strings.Contains(n, "out_proj.bias"):
			// conv / linear bias: PyTorch's default U(−1/√fan_in, 1/√fan_in). (Zero biases let
			// a pixel whose bottleneck ReLUs are all off give normals logits of exactly 0,
			// where the normalisation's gradient is 1/eps = 1e12.)
			bound := 1 / math.Sqrt(float64(weight.Numel()/weight.Shape[0]))
			for i := range t.F32 {
				t.F32[i] = float32((2*r.Float64() - 1) * bound)
			}
		case strings.HasSuffix(n, "running_mean"), strings.HasSuffix(n, "bias") && len(t.Shape) == 1:
			clear(t.F32)
		case strings.HasSuffix(n, "running_var"), strings.HasSuffix(n, "weight") && len(t.Shape) == 1:
			for i := range t.F32 {
				t.F32[i] = 1
			}
		case strings.HasSuffix(n, "relative_position_bias_table"):
			for i := range t.F32 {
				t.F32[i] = float32(math.Max(-0.04, math.Min(0.04, r.NormFloat64()*0.02)))
			}
		}
	}
	return w
}
