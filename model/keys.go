package model

import "fmt"

// KeySpec is one state-dict entry a Config implies.
type KeySpec struct {
	Name  string
	Shape []int
	Int   bool // int64 buffer (num_batches_tracked, relative_position_index)
}

type keyList []KeySpec

func (l *keyList) f(name string, shape ...int) { *l = append(*l, KeySpec{Name: name, Shape: shape}) }
func (l *keyList) i(name string, shape ...int) {
	*l = append(*l, KeySpec{Name: name, Shape: shape, Int: true})
}

// bn adds the five entries of a BatchNorm2d.
func (l *keyList) bn(p string, c int) {
	l.f(p+".weight", c)
	l.f(p+".bias", c)
	l.f(p+".running_mean", c)
	l.f(p+".running_var", c)
	l.i(p + ".num_batches_tracked")
}

// ln adds a LayerNorm (or any weight+bias vector pair).
func (l *keyList) ln(p string, c int) {
	l.f(p+".weight", c)
	l.f(p+".bias", c)
}

// ExpectedKeys lists, in state-dict order, every key (with the "backbone."/"head." prefixes)
// and shape that a model of this configuration has.
func ExpectedKeys(c *Config) []KeySpec {
	var l keyList
	switch c.Backbone.Kind {
	case Swin:
		swinKeys(&l, &c.Backbone)
	case HRNet:
		hrnetKeys(&l, &c.Backbone)
	}
	headKeys(&l, &c.Head)
	return l
}

func swinKeys(l *keyList, b *BackboneConfig) {
	p := "backbone."
	C := b.EmbedDim
	l.f(p+"patch_embed.projection.weight", C, 3, b.PatchSize, b.PatchSize)
	l.f(p+"patch_embed.projection.bias", C)
	l.ln(p+"patch_embed.norm", C)
	w := b.Window
	for s, depth := range b.Depths {
		cs := C << s
		for j := 0; j < depth; j++ {
			q := fmt.Sprintf("%sstages.%d.blocks.%d.", p, s, j)
			l.ln(q+"norm1", cs)
			l.f(q+"attn.w_msa.relative_position_bias_table", (2*w-1)*(2*w-1), b.Heads[s])
			l.i(q+"attn.w_msa.relative_position_index", w*w, w*w)
			l.f(q+"attn.w_msa.qkv.weight", 3*cs, cs)
			l.f(q+"attn.w_msa.qkv.bias", 3*cs)
			l.f(q+"attn.w_msa.proj.weight", cs, cs)
			l.f(q+"attn.w_msa.proj.bias", cs)
			l.ln(q+"norm2", cs)
			l.f(q+"ffn.layers.0.0.weight", b.MLPHidden[s], cs)
			l.f(q+"ffn.layers.0.0.bias", b.MLPHidden[s])
			l.f(q+"ffn.layers.1.weight", cs, b.MLPHidden[s])
			l.f(q+"ffn.layers.1.bias", cs)
		}
		if s < len(b.Depths)-1 {
			q := fmt.Sprintf("%sstages.%d.downsample.", p, s)
			l.ln(q+"norm", 4*cs)
			l.f(q+"reduction.weight", 2*cs, 4*cs)
		}
	}
	for s := range b.Depths {
		l.ln(fmt.Sprintf("%snorm%d", p, s), C<<s)
	}
}

func hrnetKeys(l *keyList, b *BackboneConfig) {
	p := "backbone."
	st := b.StemChannels
	l.f(p+"conv1.weight", st, 3, 3, 3)
	l.bn(p+"bn1", st)
	l.f(p+"conv2.weight", st, st, 3, 3)
	l.bn(p+"bn2", st)
	planes := b.Layer1Planes
	in := st
	for n := 0; n < b.Layer1Blocks; n++ {
		q := fmt.Sprintf("%slayer1.%d.", p, n)
		l.f(q+"conv1.weight", planes, in, 1, 1)
		l.bn(q+"bn1", planes)
		l.f(q+"conv2.weight", planes, planes, 3, 3)
		l.bn(q+"bn2", planes)
		l.f(q+"conv3.weight", 4*planes, planes, 1, 1)
		l.bn(q+"bn3", 4*planes)
		if n == 0 {
			l.f(q+"downsample.0.weight", 4*planes, in, 1, 1)
			l.bn(q+"downsample.1", 4*planes)
		}
		in = 4 * planes
	}
	W := b.BranchWidths
	// transition1: branch 0 directly (conv, bn), branch 1 nested (0.conv, 0.bn).
	l.f(p+"transition1.0.0.weight", W[0], in, 3, 3)
	l.bn(p+"transition1.0.1", W[0])
	l.f(p+"transition1.1.0.0.weight", W[1], in, 3, 3)
	l.bn(p+"transition1.1.0.1", W[1])
	for s := 0; s < 3; s++ { // stage2..4
		nb := s + 2
		if s > 0 {
			q := fmt.Sprintf("%stransition%d.%d.0.", p, s+1, nb-1)
			l.f(q+"0.weight", W[nb-1], W[nb-2], 3, 3)
			l.bn(q+"1", W[nb-1])
		}
		for m := 0; m < b.StageModules[s]; m++ {
			q := fmt.Sprintf("%sstage%d.%d.", p, s+2, m)
			for br := 0; br < nb; br++ {
				for k := 0; k < b.BranchBlocks[s]; k++ {
					r := fmt.Sprintf("%sbranches.%d.%d.", q, br, k)
					l.f(r+"conv1.weight", W[br], W[br], 3, 3)
					l.bn(r+"bn1", W[br])
					l.f(r+"conv2.weight", W[br], W[br], 3, 3)
					l.bn(r+"bn2", W[br])
				}
			}
			for i := 0; i < nb; i++ {
				for j := 0; j < nb; j++ {
					r := fmt.Sprintf("%sfuse_layers.%d.%d.", q, i, j)
					switch {
					case j > i:
						l.f(r+"0.weight", W[i], W[j], 1, 1)
						l.bn(r+"1", W[i])
					case j < i:
						for k := 0; k < i-j; k++ {
							out := W[j]
							if k == i-j-1 {
								out = W[i]
							}
							l.f(fmt.Sprintf("%s%d.0.weight", r, k), out, W[j], 3, 3)
							l.bn(fmt.Sprintf("%s%d.1", r, k), out)
						}
					}
				}
			}
		}
	}
}

// MixerPrefixes returns the key prefixes of DefMixer i block j: the 1×1 channel-mixing conv,
// its BN, the ChlSpl (deformable) module and the ChlSpl's BN, for the given module order.
func MixerPrefixes(order string, i, j int) (conv, convBN, chl, chlBN string) {
	q := fmt.Sprintf("head.defor_mixers.%d.blocks.%d.", i, j)
	if order == MixerV1 {
		return q + "1", q + "3", q + "0.fn.0", q + "0.fn.2"
	}
	return q + "0", q + "2", q + "3.fn.0", q + "3.fn.2"
}

func headKeys(l *keyList, h *HeadConfig) {
	p := "head."
	E := h.Dim
	for _, t := range h.Tasks {
		l.f(p+"bottleneck."+t.Name+".conv.weight", h.BottleneckChannels, E, 3, 3)
		l.bn(p+"bottleneck."+t.Name+".bn", h.BottleneckChannels)
	}
	for _, t := range h.Tasks {
		l.f(p+"final_logits."+t.Name+".weight", t.Channels, h.BottleneckChannels, 1, 1)
		l.f(p+"final_logits."+t.Name+".bias", t.Channels)
	}
	for i := range h.Tasks {
		for j := 0; j < h.MixerDepth; j++ {
			conv, convBN, chl, chlBN := MixerPrefixes(h.MixerOrder, i, j)
			chlKeys := func() {
				l.f(chl+".weight", E, E, 1, 1)
				l.f(chl+".bias", E)
				l.f(chl+".offset", 1, 2*E, 1, 1)
				l.f(chl+".get_offset.p_conv.weight", 18, E, 3, 3)
				l.f(chl+".get_offset.p_conv.bias", 18)
				l.f(chl+".get_offset.opt.weight", 2*E, 9, 3, 3)
				l.f(chl+".get_offset.opt.bias", 2*E)
				l.bn(chlBN, E)
			}
			if h.MixerOrder == MixerV1 {
				chlKeys()
			}
			l.f(conv+".weight", E, E, 1, 1)
			l.f(conv+".bias", E)
			l.bn(convBN, E)
			if h.MixerOrder != MixerV1 {
				chlKeys()
			}
		}
	}
	l.f(p+"linear1.0.weight", E, h.InChannels)
	l.f(p+"linear1.0.bias", E)
	l.ln(p+"linear1.1", E)
	l.f(p+"task_fusion.in_proj_weight", 3*E, E)
	l.f(p+"task_fusion.in_proj_bias", 3*E)
	l.f(p+"task_fusion.out_proj.weight", E, E)
	l.f(p+"task_fusion.out_proj.bias", E)
	l.f(p+"smlp.0.weight", E, E)
	l.f(p+"smlp.0.bias", E)
	l.ln(p+"smlp.1", E)
	for i := range h.Tasks {
		q := fmt.Sprintf("%ssmlp2.%d.", p, i)
		l.f(q+"0.weight", E, E)
		l.f(q+"0.bias", E)
		l.ln(q+"1", E)
	}
	for i := range h.Tasks {
		q := fmt.Sprintf("%stask_querys.%d.", p, i)
		l.f(q+"in_proj_weight", 3*E, E)
		l.f(q+"in_proj_bias", 3*E)
		l.f(q+"out_proj.weight", E, E)
		l.f(q+"out_proj.bias", E)
	}
}
