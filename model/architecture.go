package model

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// NormalizeKeys returns the state dict a DeMT model uses: a leading "module." or "model." is
// stripped from every key, and "metrics_dict." / "criterion." entries are dropped.
func NormalizeKeys(w *Weights) (*Weights, error) {
	var out []*Tensor
	for _, t := range w.Tensors {
		name := t.Name
		for _, pre := range []string{"module.", "model."} {
			name = strings.TrimPrefix(name, pre)
		}
		if strings.HasPrefix(name, "metrics_dict.") || strings.HasPrefix(name, "criterion.") {
			continue
		}
		c := *t
		c.Name = name
		out = append(out, &c)
	}
	return NewWeights(out)
}

var (
	reSwinBlock  = regexp.MustCompile(`^backbone\.stages\.(\d+)\.blocks\.(\d+)\.`)
	reLayer1     = regexp.MustCompile(`^backbone\.layer1\.(\d+)\.`)
	reHRModule   = regexp.MustCompile(`^backbone\.stage([234])\.(\d+)\.branches\.(\d+)\.(\d+)\.`)
	reBottleneck = regexp.MustCompile(`^head\.bottleneck\.([^.]+)\.`)
	reMixerBlock = regexp.MustCompile(`^head\.defor_mixers\.0\.blocks\.(\d+)\.`)
)

// InferConfig reads the architecture from the key names and shapes of a normalised state
// dict (see Normalize) and checks that the state dict is exactly that architecture: every
// missing, unknown or misshapen key is listed in one error.
func InferConfig(w *Weights) (*Config, error) {
	c := &Config{}
	if err := inferBackbone(w, &c.Backbone); err != nil {
		return nil, err
	}
	if err := inferHead(w, c); err != nil {
		return nil, err
	}
	if err := CheckKeys(w, c); err != nil {
		return nil, err
	}
	return c, nil
}

func shapeOf(w *Weights, name string) ([]int, error) {
	t := w.Get(name)
	if t == nil {
		return nil, fmt.Errorf("missing key %s", name)
	}
	return t.Shape, nil
}

// count returns 1 + the largest value of capture group g over keys matching re (and
// filter on the other groups), or 0.
func count(w *Weights, re *regexp.Regexp, g int, filter func(m []string) bool) int {
	n := 0
	for _, t := range w.Tensors {
		m := re.FindStringSubmatch(t.Name)
		if m == nil || filter != nil && !filter(m) {
			continue
		}
		v, _ := strconv.Atoi(m[g])
		n = max(n, v+1)
	}
	return n
}

func inferBackbone(w *Weights, b *BackboneConfig) error {
	switch {
	case w.Get("backbone.patch_embed.projection.weight") != nil:
		b.Kind = Swin
		s := w.Get("backbone.patch_embed.projection.weight").Shape
		if len(s) != 4 || s[1] != 3 || s[2] != s[3] {
			return fmt.Errorf("backbone.patch_embed.projection.weight: unexpected shape %v", s)
		}
		b.EmbedDim, b.PatchSize = s[0], s[2]
		nst := count(w, reSwinBlock, 1, nil)
		if nst == 0 {
			return errors.New("swin backbone without stages.*.blocks")
		}
		for st := 0; st < nst; st++ {
			d := count(w, reSwinBlock, 2, func(m []string) bool { return m[1] == strconv.Itoa(st) })
			q := fmt.Sprintf("backbone.stages.%d.blocks.0.", st)
			tab, err := shapeOf(w, q+"attn.w_msa.relative_position_bias_table")
			if err != nil {
				return err
			}
			if len(tab) != 2 {
				return fmt.Errorf("%sattn.w_msa.relative_position_bias_table: unexpected shape %v", q, tab)
			}
			side := int(math.Round(math.Sqrt(float64(tab[0]))))
			if side*side != tab[0] || side%2 != 1 {
				return fmt.Errorf("%sattn.w_msa.relative_position_bias_table: %d rows is not (2w-1)^2", q, tab[0])
			}
			win := (side + 1) / 2
			if st == 0 {
				b.Window = win
			} else if win != b.Window {
				return fmt.Errorf("stage %d window %d differs from stage 0 window %d", st, win, b.Window)
			}
			fc1, err := shapeOf(w, q+"ffn.layers.0.0.weight")
			if err != nil {
				return err
			}
			cs := b.EmbedDim << st
			if tab[1] <= 0 || cs%tab[1] != 0 {
				return fmt.Errorf("stage %d: %d channels not divisible by %d heads", st, cs, tab[1])
			}
			b.Depths = append(b.Depths, d)
			b.Heads = append(b.Heads, tab[1])
			b.MLPHidden = append(b.MLPHidden, fc1[0])
			b.OutChannels = append(b.OutChannels, cs)
		}
		b.Name = swinName(b)
	case w.Get("backbone.conv1.weight") != nil && w.Get("backbone.stage4.0.branches.0.0.conv1.weight") != nil:
		b.Kind = HRNet
		s := w.Get("backbone.conv1.weight").Shape
		if len(s) != 4 || s[1] != 3 {
			return fmt.Errorf("backbone.conv1.weight: unexpected shape %v", s)
		}
		b.StemChannels = s[0]
		b.Layer1Blocks = count(w, reLayer1, 1, nil)
		l1, err := shapeOf(w, "backbone.layer1.0.conv1.weight")
		if err != nil {
			return err
		}
		b.Layer1Planes = l1[0]
		for st := 2; st <= 4; st++ {
			ss := strconv.Itoa(st)
			b.StageModules = append(b.StageModules, count(w, reHRModule, 2, func(m []string) bool { return m[1] == ss }))
			b.BranchBlocks = append(b.BranchBlocks, count(w, reHRModule, 4, func(m []string) bool { return m[1] == ss && m[2] == "0" && m[3] == "0" }))
		}
		for br := 0; br < 4; br++ {
			s, err := shapeOf(w, fmt.Sprintf("backbone.stage4.0.branches.%d.0.conv1.weight", br))
			if err != nil {
				return err
			}
			b.BranchWidths = append(b.BranchWidths, s[0])
		}
		b.OutChannels = append([]int(nil), b.BranchWidths...)
		if b.BranchWidths[0] == 18 && b.StageModules[0] == 1 && b.StageModules[1] == 3 && b.StageModules[2] == 2 &&
			b.BranchBlocks[0] == 2 && b.Layer1Blocks == 2 {
			b.Name = "HRNet18-S"
		} else {
			b.Name = fmt.Sprintf("HRNet%d", b.BranchWidths[0])
		}
	default:
		return errors.New("unknown backbone: neither Swin (backbone.patch_embed.projection.weight) nor HRNet (backbone.conv1.weight + backbone.stage4.*) keys found")
	}
	return nil
}

func swinName(b *BackboneConfig) string {
	eq := func(a []int, v ...int) bool {
		if len(a) != len(v) {
			return false
		}
		for i := range a {
			if a[i] != v[i] {
				return false
			}
		}
		return true
	}
	switch {
	case b.EmbedDim == 96 && b.Window == 7 && eq(b.Depths, 2, 2, 6, 2) && eq(b.Heads, 3, 6, 12, 24):
		return "Swin-T"
	case b.EmbedDim == 96 && b.Window == 7 && eq(b.Depths, 2, 2, 18, 2) && eq(b.Heads, 3, 6, 12, 24):
		return "Swin-S"
	case b.EmbedDim == 128 && b.Window == 7 && eq(b.Depths, 2, 2, 18, 2) && eq(b.Heads, 4, 8, 16, 32):
		return "Swin-B"
	case b.EmbedDim == 192 && b.Window == 12 && eq(b.Depths, 2, 2, 18, 2) && eq(b.Heads, 6, 12, 24, 48):
		return "Swin-L"
	}
	return fmt.Sprintf("Swin(C%d,d%v)", b.EmbedDim, b.Depths)
}

func inferHead(w *Weights, c *Config) error {
	h := &c.Head
	l1, err := shapeOf(w, "head.linear1.0.weight")
	if err != nil {
		return err
	}
	if len(l1) != 2 {
		return fmt.Errorf("head.linear1.0.weight: unexpected shape %v", l1)
	}
	h.Dim, h.InChannels = l1[0], l1[1]
	h.AttnHeads = 4
	if h.Dim%h.AttnHeads != 0 {
		return fmt.Errorf("head width %d not divisible by %d attention heads", h.Dim, h.AttnHeads)
	}
	sum := 0
	for _, v := range c.Backbone.OutChannels {
		sum += v
	}
	if sum != h.InChannels {
		return fmt.Errorf("head.linear1.0.weight takes %d channels, the backbone gives %d", h.InChannels, sum)
	}
	seen := map[string]bool{}
	for _, t := range w.Tensors {
		m := reBottleneck.FindStringSubmatch(t.Name)
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		fl, err := shapeOf(w, "head.final_logits."+m[1]+".weight")
		if err != nil {
			return err
		}
		bn, err := shapeOf(w, "head.bottleneck."+m[1]+".conv.weight")
		if err != nil {
			return err
		}
		h.BottleneckChannels = bn[0]
		h.Tasks = append(h.Tasks, Task{Name: m[1], Channels: fl[0], ClassNames: ClassNames(m[1], fl[0])})
	}
	if len(h.Tasks) == 0 {
		return errors.New("no head.bottleneck.<task> keys: not a DeMT head")
	}
	h.MixerDepth = count(w, reMixerBlock, 1, nil)
	switch {
	case w.Get("head.defor_mixers.0.blocks.0.3.fn.0.weight") != nil:
		h.MixerOrder = MixerV2
	case w.Get("head.defor_mixers.0.blocks.0.0.fn.0.weight") != nil:
		h.MixerOrder = MixerV1
	default:
		return errors.New("cannot tell the DefMixer order: neither head.defor_mixers.0.blocks.0.3.fn.0.weight (v2) nor ...0.0.fn.0.weight (v1) present")
	}
	return nil
}

// CheckKeys compares a state dict with the keys the configuration implies and returns one
// error listing every missing, unknown and misshapen key.
func CheckKeys(w *Weights, c *Config) error {
	want := ExpectedKeys(c)
	have := map[string]bool{}
	var problems []string
	for _, k := range want {
		t := w.Get(k.Name)
		if t == nil {
			problems = append(problems, "missing "+k.Name)
			continue
		}
		have[k.Name] = true
		if !sameShape(t.Shape, k.Shape) {
			problems = append(problems, fmt.Sprintf("%s: unexpected shape %v, want %v", k.Name, t.Shape, k.Shape))
		} else if k.Int && t.I64 == nil && k.Name[len(k.Name)-5:] == "index" {
			problems = append(problems, k.Name+": want an integer tensor")
		} else if !k.Int && t.F32 == nil {
			problems = append(problems, k.Name+": want a float tensor")
		}
	}
	var unknown []string
	for _, t := range w.Tensors {
		if !have[t.Name] {
			unknown = append(unknown, "unknown "+t.Name)
		}
	}
	sort.Strings(unknown)
	problems = append(problems, unknown...)
	if len(problems) > 0 {
		const show = 40
		msg := strings.Join(problems[:min(len(problems), show)], "; ")
		if len(problems) > show {
			msg += fmt.Sprintf("; ... and %d more", len(problems)-show)
		}
		return fmt.Errorf("state dict does not match the inferred %s DeMT (%d problems): %s", c.Backbone.Name, len(problems), msg)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
