package demtfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/demt-web/demt/model"
)

// Bounds on the architecture fields of the metadata: far above every DeMT variant, low enough
// that no field can make the plan builder loop or allocate without end.
const (
	maxWidth      = 1 << 14 // channels of any layer
	maxDepth      = 64      // blocks per stage, modules, DefMixer depth
	maxStages     = 8       // Swin stages
	maxKernel     = 64      // patch size, window
	maxTasks      = 16
	maxClassBytes = 256 // one class name, UTF-8
)

// knownTasks are the task names a .demt file may hold: the outputs of the official DeMT heads.
var knownTasks = []string{"semseg", "human_parts", "sal", "normals", "edge", "depth"}

// UnmarshalJSON reads a normalisation whose mean and std have exactly three entries each
// (encoding/json would silently zero-fill a shorter array and drop the rest of a longer one).
func (n *Normalization) UnmarshalJSON(b []byte) error {
	var raw struct {
		Mean []float64 `json:"mean"`
		Std  []float64 `json:"std"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw.Mean) != 3 || len(raw.Std) != 3 {
		return fmt.Errorf("normalization: mean has %d and std %d values, want 3 each (R, G, B)", len(raw.Mean), len(raw.Std))
	}
	copy(n.Mean[:], raw.Mean)
	copy(n.Std[:], raw.Std)
	return nil
}

// Check reports a normalisation that would make inputs non-finite or meaningless: a mean that
// is not finite, or a std that is not a finite positive number (also in float32).
func (n Normalization) Check() error {
	for c := range 3 {
		if m := n.Mean[c]; math.IsNaN(m) || math.IsInf(m, 0) || math.IsInf(float64(float32(m)), 0) {
			return fmt.Errorf("normalization.mean[%d] = %v is not finite", c, m)
		}
		if s := n.Std[c]; !(s > 0) || math.IsInf(float64(float32(s)), 0) || float32(s) == 0 {
			return fmt.Errorf("normalization.std[%d] = %v is not a finite positive number", c, s)
		}
	}
	return nil
}

// Validate checks the metadata against what the architecture needs before anything is built
// from it: known kinds, orders and task names, positive bounded sizes, attention heads that
// divide their widths, consistent widths, one printable class name per channel and a sane
// normalisation. The error names the field. (That the tensors have the shapes the config
// implies is model.CheckKeys, run on the weights.)
func (m *Metadata) Validate() error {
	if err := m.Normalization.Check(); err != nil {
		return err
	}
	if err := checkBackbone(&m.Config.Backbone); err != nil {
		return fmt.Errorf("config.backbone.%w", err)
	}
	if err := checkHead(&m.Config.Head, m.Config.Backbone.OutChannels); err != nil {
		return fmt.Errorf("config.head.%w", err)
	}
	return nil
}

func inRange(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: %d outside [%d, %d]", field, v, lo, hi)
	}
	return nil
}

func listInRange(field string, vs []int, n, lo, hi int) error {
	if len(vs) != n {
		return fmt.Errorf("%s: %d entries, want %d", field, len(vs), n)
	}
	for i, v := range vs {
		if err := inRange(fmt.Sprintf("%s[%d]", field, i), v, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

func checkBackbone(b *model.BackboneConfig) error {
	switch b.Kind {
	case model.Swin:
		if err := inRange("embed_dim", b.EmbedDim, 1, maxWidth>>(maxStages-1)); err != nil {
			return err
		}
		if err := inRange("patch_size", b.PatchSize, 1, maxKernel); err != nil {
			return err
		}
		if err := inRange("window", b.Window, 1, maxKernel); err != nil {
			return err
		}
		if err := inRange("depths (count)", len(b.Depths), 1, maxStages); err != nil {
			return err
		}
		n := len(b.Depths)
		if err := listInRange("depths", b.Depths, n, 1, maxDepth); err != nil {
			return err
		}
		if err := listInRange("heads", b.Heads, n, 1, maxWidth); err != nil {
			return err
		}
		if err := listInRange("mlp_hidden", b.MLPHidden, n, 1, maxWidth); err != nil {
			return err
		}
		for s, h := range b.Heads {
			if w := b.EmbedDim << s; w%h != 0 {
				return fmt.Errorf("heads[%d]: %d heads do not divide the stage width %d", s, h, w)
			}
		}
		want := make([]int, n)
		for s := range want {
			want[s] = b.EmbedDim << s
		}
		if !slices.Equal(b.OutChannels, want) {
			return fmt.Errorf("out_channels: %v, the stages give %v", b.OutChannels, want)
		}
	case model.HRNet:
		for _, f := range []struct {
			name string
			v    int
		}{{"stem_channels", b.StemChannels}, {"layer1_planes", b.Layer1Planes}} {
			if err := inRange(f.name, f.v, 1, maxWidth); err != nil {
				return err
			}
		}
		if err := inRange("layer1_blocks", b.Layer1Blocks, 1, maxDepth); err != nil {
			return err
		}
		if err := listInRange("branch_widths", b.BranchWidths, 4, 1, maxWidth); err != nil {
			return err
		}
		if err := listInRange("stage_modules", b.StageModules, 3, 1, maxDepth); err != nil {
			return err
		}
		if err := listInRange("branch_blocks", b.BranchBlocks, 3, 1, maxDepth); err != nil {
			return err
		}
		if !slices.Equal(b.OutChannels, b.BranchWidths) {
			return fmt.Errorf("out_channels: %v, the branches give %v", b.OutChannels, b.BranchWidths)
		}
	default:
		return fmt.Errorf("kind: unknown backbone %q (want %q or %q)", b.Kind, model.Swin, model.HRNet)
	}
	return nil
}

func checkHead(h *model.HeadConfig, feats []int) error {
	sum := 0
	for _, c := range feats {
		sum += c
	}
	if h.InChannels != sum {
		return fmt.Errorf("in_channels: %d, the backbone gives %d", h.InChannels, sum)
	}
	if err := inRange("dim", h.Dim, 1, maxWidth); err != nil {
		return err
	}
	if err := inRange("attn_heads", h.AttnHeads, 1, h.Dim); err != nil {
		return err
	}
	if h.Dim%h.AttnHeads != 0 {
		return fmt.Errorf("attn_heads: %d heads do not divide dim %d", h.AttnHeads, h.Dim)
	}
	if err := inRange("bottleneck_channels", h.BottleneckChannels, 1, maxWidth); err != nil {
		return err
	}
	if err := inRange("mixer_depth", h.MixerDepth, 1, maxDepth); err != nil {
		return err
	}
	if h.MixerOrder != model.MixerV1 && h.MixerOrder != model.MixerV2 {
		return fmt.Errorf("mixer_order: unknown order %q (want %q or %q)", h.MixerOrder, model.MixerV1, model.MixerV2)
	}
	if err := inRange("tasks (count)", len(h.Tasks), 1, maxTasks); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, t := range h.Tasks {
		if !slices.Contains(knownTasks, t.Name) {
			return fmt.Errorf("tasks[%d].name: unknown task %q (want one of %v)", i, t.Name, knownTasks)
		}
		if seen[t.Name] {
			return fmt.Errorf("tasks[%d].name: task %q listed twice", i, t.Name)
		}
		seen[t.Name] = true
		if err := inRange(fmt.Sprintf("tasks[%d].channels", i), t.Channels, 1, maxWidth); err != nil {
			return err
		}
		if len(t.ClassNames) != 0 && len(t.ClassNames) != t.Channels {
			return fmt.Errorf("tasks[%d].class_names: %d names for %d channels", i, len(t.ClassNames), t.Channels)
		}
		for j, name := range t.ClassNames {
			if err := checkClassName(name); err != nil {
				return fmt.Errorf("tasks[%d].class_names[%d]: %w", i, j, err)
			}
		}
	}
	return nil
}

// checkClassName accepts a non-empty printable UTF-8 name of at most maxClassBytes bytes
// (legend files hold one name per line, tab-separated).
func checkClassName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty name")
	case len(s) > maxClassBytes:
		return fmt.Errorf("name of %d bytes exceeds %d", len(s), maxClassBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("name %q is not UTF-8", s)
	case bytes.ContainsFunc([]byte(s), unicode.IsControl):
		return fmt.Errorf("name %q has a control character (tab, newline, ...)", s)
	}
	return nil
}
