package model

import (
	"fmt"
	"math"
	"strings"
)

// MinInputSize is the smallest input side the plan accepts.
const MinInputSize = 16

const normEps = 1e-5

// Build makes the canonical plan of the whole eval forward at batch 1 for an input of h×w
// pixels: every module as the official code computes it — Conv2D/Linear with their bias only,
// explicit BatchNorm (running statistics), Activation and Add ops where the official code has
// them. Optimize rewrites it into the fused plan executors run fast. Every tensor a fixture
// manifest names is an observable tensor of the canonical plan. Weights are shared with w,
// not copied.
func Build(c *Config, w *Weights, h, wd int) (*Plan, error) {
	if h < MinInputSize || wd < MinInputSize {
		return nil, fmt.Errorf("input %dx%d is smaller than %dx%d", h, wd, MinInputSize, MinInputSize)
	}
	b := &builder{w: w, p: &Plan{Config: *c, InH: h, InW: wd, Consts: map[string]*Const{}}}
	b.p.Input = b.tensor("input", Shape{h, wd, 3})
	var feats []int
	switch c.Backbone.Kind {
	case Swin:
		feats = b.swin(&c.Backbone, b.p.Input)
	case HRNet:
		feats = b.hrnet(&c.Backbone, b.p.Input)
	default:
		return nil, fmt.Errorf("unknown backbone kind %q", c.Backbone.Kind)
	}
	b.head(&c.Head, feats)
	if b.err != nil {
		return nil, b.err
	}
	return b.p, nil
}

type builder struct {
	w   *Weights
	p   *Plan
	err error
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

func (b *builder) tensor(name string, s Shape) int {
	b.p.Tensors = append(b.p.Tensors, TensorInfo{Name: name, Shape: s})
	return len(b.p.Tensors) - 1
}

func (b *builder) shape(id int) Shape { return b.p.Tensors[id].Shape }

func (b *builder) alias(id int, name string) {
	b.p.Tensors[id].Aliases = append(b.p.Tensors[id].Aliases, name)
}

// weight registers the checkpoint tensor name as a plan constant (shared data).
func (b *builder) weight(name string) string {
	if _, ok := b.p.Consts[name]; ok {
		return name
	}
	t := b.w.Get(name)
	if t == nil || t.F32 == nil {
		b.fail("missing float tensor %s", name)
		return name
	}
	b.p.Consts[name] = &Const{Name: name, Shape: t.Shape, Data: t.F32, Param: name}
	return name
}

// rows registers rows [r0, r1) of a 2-D (or 1-D) checkpoint tensor as a constant.
func (b *builder) rows(name string, r0, r1 int) string {
	cn := fmt.Sprintf("%s[%d:%d]", name, r0, r1)
	if _, ok := b.p.Consts[cn]; ok {
		return cn
	}
	t := b.w.Get(name)
	if t == nil || t.F32 == nil {
		b.fail("missing float tensor %s", name)
		return cn
	}
	cols := t.Numel() / t.Shape[0]
	shape := append([]int{r1 - r0}, t.Shape[1:]...)
	b.p.Consts[cn] = &Const{Name: cn, Shape: shape, Data: t.F32[r0*cols : r1*cols], Param: name, Rows: [2]int{r0, r1}}
	return cn
}

// op appends o and returns its output.
func (b *builder) op(o Op) int {
	b.p.Ops = append(b.p.Ops, o)
	return o.Output
}

// epi describes what the official code computes after a conv or linear, in this order:
// y = act2(bn(act1(y·outScale)) + residual).
type epi struct {
	bias     string
	bn       string // BatchNorm module prefix, or ""
	act1     Act
	act2     Act
	residual int
	outScale float32
}

func noRes() epi { return epi{residual: NoTensor} }

// unit appends a Conv2D or Linear op o (its Output unset) and the canonical ops of its tail e,
// one op each: Activation act1, Affine outScale, BatchNorm, Add residual, Activation act2. The
// last tensor is called name; the others are named after their modules.
func (b *builder) unit(name string, o Op, out Shape, e epi) int {
	module := strings.TrimSuffix(o.Weight, ".weight")
	if c := b.p.Consts[o.Weight]; c != nil && c.Param != "" {
		module = strings.TrimSuffix(c.Param, "_weight") // MultiheadAttention in_proj rows
		module = strings.TrimSuffix(module, ".weight")
		if c.Rows[1] > 0 {
			module = name
		}
	}
	type step struct {
		name string
		mk   func(x, y int) Op
	}
	var steps []step
	if e.act1 != ActNone {
		a := e.act1
		steps = append(steps, step{module + "." + a.String(), func(x, y int) Op {
			return Op{Kind: OpActivation, Act1: a, Inputs: []int{x}, Output: y}
		}})
	}
	if e.outScale != 0 {
		sc, sh := b.uniform(module+".scaling", out.C, e.outScale), b.uniform(module+".scaling#shift", out.C, 0)
		steps = append(steps, step{module + ".scaling", func(x, y int) Op {
			return Op{Kind: OpAffine, Scale: sc, Shift: sh, Inputs: []int{x}, Output: y}
		}})
	}
	if e.bn != "" {
		bn := e.bn
		steps = append(steps, step{bn, func(x, y int) Op { return b.batchNorm(bn, x, y) }})
	}
	if e.residual != NoTensor {
		r := e.residual
		steps = append(steps, step{name + ".add", func(x, y int) Op {
			return Op{Kind: OpAdd, Inputs: []int{x, r}, Output: y}
		}})
	}
	if e.act2 != ActNone {
		a := e.act2
		steps = append(steps, step{name + "." + a.String(), func(x, y int) Op {
			return Op{Kind: OpActivation, Act1: a, Inputs: []int{x}, Output: y}
		}})
	}
	tname := func(i int, own string) string {
		if i == len(steps) {
			return name
		}
		if own == name {
			return own + "." + strings.ToLower(o.Kind.String())
		}
		return own
	}
	o.Name = tname(0, module)
	o.Bias = e.bias
	o.Output = b.tensor(o.Name, out)
	x := b.op(o)
	for i, s := range steps {
		n := tname(i+1, s.name)
		so := s.mk(x, b.tensor(n, out))
		so.Name = n
		x = b.op(so)
	}
	return x
}

// uniform registers a derived constant of n copies of v.
func (b *builder) uniform(name string, n int, v float32) string {
	d := make([]float32, n)
	for i := range d {
		d[i] = v
	}
	b.p.Consts[name] = &Const{Name: name, Shape: []int{n}, Data: d, Param: name, Derived: true}
	return name
}

// batchNorm returns the eval-mode BatchNorm op of module prefix from x to y.
func (b *builder) batchNorm(prefix string, x, y int) Op {
	return Op{Kind: OpBatchNorm, Inputs: []int{x}, Output: y, Weight: b.weight(prefix + ".weight"),
		Bias: b.weight(prefix + ".bias"), Mean: b.weight(prefix + ".running_mean"), Var: b.weight(prefix + ".running_var"), Eps: normEps}
}

func (b *builder) conv(name string, x int, wname string, cout, k, stride, pad int, groups int, out Shape, e epi) int {
	if out.C == 0 {
		in := b.shape(x)
		out = Shape{(in.H+2*pad-k)/stride + 1, (in.W+2*pad-k)/stride + 1, cout}
	}
	return b.unit(name, Op{Kind: OpConv2D, Inputs: []int{x}, Weight: b.weight(wname), KH: k, KW: k, Stride: stride,
		PadT: pad, PadL: pad, Groups: groups}, out, e)
}

func (b *builder) linear(name string, x int, wname string, cout int, e epi) int {
	in := b.shape(x)
	if _, ok := b.p.Consts[wname]; !ok {
		wname = b.weight(wname)
	}
	return b.unit(name, Op{Kind: OpLinear, Inputs: []int{x}, Weight: wname}, Shape{in.H, in.W, cout}, e)
}

// layerNorm appends LayerNorm (and, with a residual, the Add after it).
func (b *builder) layerNorm(name string, x int, prefix string, residual int) int {
	o := Op{Kind: OpLayerNorm, Name: name, Inputs: []int{x}, Weight: b.weight(prefix + ".weight"),
		Bias: b.weight(prefix + ".bias"), Eps: normEps}
	if residual == NoTensor {
		o.Output = b.tensor(name, b.shape(x))
		return b.op(o)
	}
	o.Name = prefix
	o.Output = b.tensor(prefix, b.shape(x))
	y := b.op(o)
	return b.add(name, ActNone, y, residual)
}

func (b *builder) resize(name string, x int, h, w int) int {
	in := b.shape(x)
	if in.H == h && in.W == w {
		return x // exact identity (λ = 0 everywhere)
	}
	return b.op(Op{Kind: OpResize, Name: name, Inputs: []int{x}, Output: b.tensor(name, Shape{h, w, in.C})})
}

// add appends the sum of xs (in order) and, if act is set, the activation after it.
func (b *builder) add(name string, act Act, xs ...int) int {
	if act == ActNone {
		return b.op(Op{Kind: OpAdd, Name: name, Inputs: xs, Output: b.tensor(name, b.shape(xs[0]))})
	}
	s := b.op(Op{Kind: OpAdd, Name: name + ".add", Inputs: xs, Output: b.tensor(name+".add", b.shape(xs[0]))})
	return b.op(Op{Kind: OpActivation, Name: name, Act1: act, Inputs: []int{s}, Output: b.tensor(name, b.shape(s))})
}

// ---------------------------------------------------------------------------------------
// HRNet (notes §3.2)

func (b *builder) hrnet(c *BackboneConfig, x int) []int {
	const p = "backbone."
	relu := func(bn string) epi { return epi{bn: bn, act2: ActReLU, residual: NoTensor} }
	x = b.conv(p+"conv1", x, p+"conv1.weight", c.StemChannels, 3, 2, 1, 1, Shape{}, relu(p+"bn1"))
	x = b.conv(p+"stem", x, p+"conv2.weight", c.StemChannels, 3, 2, 1, 1, Shape{}, relu(p+"bn2"))
	planes := c.Layer1Planes
	for n := 0; n < c.Layer1Blocks; n++ {
		q := fmt.Sprintf("%slayer1.%d", p, n)
		id := x
		if n == 0 {
			id = b.linear(q+".downsample", x, q+".downsample.0.weight", 4*planes, epi{bn: q + ".downsample.1", residual: NoTensor})
		}
		y := b.linear(q+".conv1", x, q+".conv1.weight", planes, relu(q+".bn1"))
		y = b.conv(q+".conv2", y, q+".conv2.weight", planes, 3, 1, 1, 1, Shape{}, relu(q+".bn2"))
		x = b.linear(q, y, q+".conv3.weight", 4*planes, epi{bn: q + ".bn3", residual: id, act2: ActReLU})
	}
	b.alias(x, p+"layer1")
	W := c.BranchWidths
	xs := []int{
		b.conv(p+"transition1.0", x, p+"transition1.0.0.weight", W[0], 3, 1, 1, 1, Shape{}, relu(p+"transition1.0.1")),
		b.conv(p+"transition1.1", x, p+"transition1.1.0.0.weight", W[1], 3, 2, 1, 1, Shape{}, relu(p+"transition1.1.0.1")),
	}
	for s := 0; s < 3; s++ {
		nb := s + 2
		if s > 0 {
			q := fmt.Sprintf("%stransition%d.%d.0", p, s+1, nb-1)
			xs = append(xs, b.conv(q, xs[nb-2], q+".0.weight", W[nb-1], 3, 2, 1, 1, Shape{}, relu(q+".1")))
		}
		for m := 0; m < c.StageModules[s]; m++ {
			q := fmt.Sprintf("%sstage%d.%d", p, s+2, m)
			for br := 0; br < nb; br++ {
				for k := 0; k < c.BranchBlocks[s]; k++ {
					r := fmt.Sprintf("%s.branches.%d.%d", q, br, k)
					y := b.conv(r+".conv1", xs[br], r+".conv1.weight", W[br], 3, 1, 1, 1, Shape{}, relu(r+".bn1"))
					xs[br] = b.conv(r, y, r+".conv2.weight", W[br], 3, 1, 1, 1, Shape{},
						epi{bn: r + ".bn2", residual: xs[br], act2: ActReLU})
				}
			}
			fused := make([]int, nb)
			for i := 0; i < nb; i++ {
				terms := make([]int, nb)
				ti := b.shape(xs[i])
				for j := 0; j < nb; j++ {
					r := fmt.Sprintf("%s.fuse_layers.%d.%d", q, i, j)
					switch {
					case j == i:
						terms[j] = xs[j]
					case j > i:
						y := b.linear(r, xs[j], r+".0.weight", W[i], epi{bn: r + ".1", residual: NoTensor})
						f := 1 << (j - i)
						sy := b.shape(y)
						y = b.resize(r+".2", y, sy.H*f, sy.W*f)
						terms[j] = b.resize(r+".resize", y, ti.H, ti.W)
					default:
						y := xs[j]
						for k := 0; k < i-j; k++ {
							e := relu(fmt.Sprintf("%s.%d.1", r, k))
							out := W[j]
							if k == i-j-1 {
								e.act2, out = ActNone, W[i]
							}
							y = b.conv(fmt.Sprintf("%s.%d", r, k), y, fmt.Sprintf("%s.%d.0.weight", r, k), out, 3, 2, 1, 1, Shape{}, e)
						}
						terms[j] = y
					}
				}
				fused[i] = b.add(fmt.Sprintf("%s[%d]", q, i), ActReLU, terms...)
			}
			xs = fused
		}
		for i, id := range xs {
			b.alias(id, fmt.Sprintf("%sstage%d[%d]", p, s+2, i))
		}
	}
	return xs
}

// ---------------------------------------------------------------------------------------
// Swin (notes §3.1)

func (b *builder) swin(c *BackboneConfig, x int) []int {
	const p = "backbone."
	in := b.shape(x)
	ps := c.PatchSize
	C := c.EmbedDim
	pe := Shape{(in.H + ps - 1) / ps, (in.W + ps - 1) / ps, C}
	x = b.conv(p+"patch_embed.projection", x, p+"patch_embed.projection.weight", C, ps, ps, 0, 1, pe,
		epi{bias: b.weight(p + "patch_embed.projection.bias"), residual: NoTensor})
	x = b.layerNorm(p+"patch_embed", x, p+"patch_embed.norm", NoTensor)
	var outs []int
	for s, depth := range c.Depths {
		cs := C << s
		for j := 0; j < depth; j++ {
			q := fmt.Sprintf("%sstages.%d.blocks.%d", p, s, j)
			y := b.layerNorm(q+".norm1", x, q+".norm1", NoTensor)
			shift := 0
			if j%2 == 1 {
				shift = c.Window / 2
			}
			a := b.op(Op{Kind: OpWindowAttention, Name: q + ".attn", Inputs: []int{y},
				QKVWeight: b.weight(q + ".attn.w_msa.qkv.weight"), QKVBias: b.weight(q + ".attn.w_msa.qkv.bias"),
				Weight: b.weight(q + ".attn.w_msa.proj.weight"), Bias: b.weight(q + ".attn.w_msa.proj.bias"),
				Table: b.weight(q + ".attn.w_msa.relative_position_bias_table"), Heads: c.Heads[s],
				Window: c.Window, ShiftSize: shift, Output: b.tensor(q+".attn", b.shape(y))})
			x = b.add(q+".attn_residual", ActNone, x, a)
			y = b.layerNorm(q+".norm2", x, q+".norm2", NoTensor)
			y = b.linear(q+".ffn.layers.0", y, q+".ffn.layers.0.0.weight", c.MLPHidden[s],
				epi{bias: b.weight(q + ".ffn.layers.0.0.bias"), act1: ActGELU, residual: NoTensor})
			x = b.linear(q, y, q+".ffn.layers.1.weight", cs, epi{bias: b.weight(q + ".ffn.layers.1.bias"), residual: x})
		}
		b.alias(x, fmt.Sprintf("%sstages.%d[2]", p, s))
		outs = append(outs, b.layerNorm(fmt.Sprintf("%s[%d]", p[:len(p)-1], s), x, fmt.Sprintf("%snorm%d", p, s), NoTensor))
		if s < len(c.Depths)-1 {
			q := fmt.Sprintf("%sstages.%d.downsample", p, s)
			sh := b.shape(x)
			m := b.op(Op{Kind: OpPatchMerge, Name: q + ".unfold", Inputs: []int{x},
				Output: b.tensor(q+".unfold", Shape{(sh.H + 1) / 2, (sh.W + 1) / 2, 4 * cs})})
			m = b.layerNorm(q+".norm", m, q+".norm", NoTensor)
			x = b.linear(fmt.Sprintf("%sstages.%d[0]", p, s), m, q+".reduction.weight", 2*cs, noRes())
		}
	}
	return outs
}

// ---------------------------------------------------------------------------------------
// DemtHead (notes §4)

func (b *builder) head(c *HeadConfig, feats []int) {
	const p = "head."
	f0 := b.shape(feats[0])
	var parts []int
	for i, f := range feats {
		parts = append(parts, b.resize(fmt.Sprintf("%s_transform_inputs.%d", p, i), f, f0.H, f0.W))
	}
	X := b.op(Op{Kind: OpConcat, Name: p + "_transform_inputs", Inputs: parts,
		Output: b.tensor(p+"_transform_inputs", Shape{f0.H, f0.W, c.InChannels})})
	E := c.Dim
	X = b.linear(p+"linear1.0", X, p+"linear1.0.weight", E, epi{bias: b.weight(p + "linear1.0.bias"), residual: NoTensor})
	X = b.layerNorm(p+"linear1", X, p+"linear1.1", NoTensor)

	T := len(c.Tasks)
	D := make([]int, T)
	for i := range c.Tasks {
		x := X
		for j := 0; j < c.MixerDepth; j++ {
			x = b.defMixerBlock(c, i, j, x)
		}
		b.alias(x, fmt.Sprintf("%sdefor_mixers.%d", p, i))
		D[i] = x
	}
	cat := b.op(Op{Kind: OpStack, Name: p + "task_cat", Inputs: D, Output: b.tensor(p+"task_cat", Shape{T * f0.H, f0.W, E})})
	tf := p + "task_fusion"
	v := b.linear(tf+".v_proj", cat, b.rows(tf+".in_proj_weight", 2*E, 3*E), E,
		epi{bias: b.rows(tf+".in_proj_bias", 2*E, 3*E), residual: NoTensor})
	v = b.linear(tf, v, tf+".out_proj.weight", E, epi{bias: b.weight(tf + ".out_proj.bias"), residual: NoTensor})
	v = b.linear(p+"smlp.0", v, p+"smlp.0.weight", E, epi{bias: b.weight(p + "smlp.0.bias"), residual: NoTensor})
	F := b.layerNorm(p+"smlp", v, p+"smlp.1", NoTensor)

	scale := float32(1 / math.Sqrt(float64(E/c.AttnHeads)))
	for i, task := range c.Tasks {
		q := fmt.Sprintf("%stask_querys.%d", p, i)
		qq := b.linear(q+".q_proj", D[i], b.rows(q+".in_proj_weight", 0, E), E,
			epi{bias: b.rows(q+".in_proj_bias", 0, E), outScale: scale, residual: NoTensor})
		kk := b.linear(q+".k_proj", F, b.rows(q+".in_proj_weight", E, 2*E), E,
			epi{bias: b.rows(q+".in_proj_bias", E, 2*E), residual: NoTensor})
		vv := b.linear(q+".v_proj", F, b.rows(q+".in_proj_weight", 2*E, 3*E), E,
			epi{bias: b.rows(q+".in_proj_bias", 2*E, 3*E), residual: NoTensor})
		o := b.op(Op{Kind: OpTaskAttention, Name: q + ".attn", Inputs: []int{qq, kk, vv}, Heads: c.AttnHeads,
			Output: b.tensor(q+".attn", b.shape(qq))})
		a := b.linear(q, o, q+".out_proj.weight", E, epi{bias: b.weight(q + ".out_proj.bias"), residual: NoTensor})
		s2 := fmt.Sprintf("%ssmlp2.%d", p, i)
		a = b.linear(s2+".0", a, s2+".0.weight", E, epi{bias: b.weight(s2 + ".0.bias"), residual: NoTensor})
		r := b.layerNorm(fmt.Sprintf("%souts_ls.%d", p, i), a, s2+".1", D[i])

		bt := p + "bottleneck." + task.Name
		y := b.conv(bt, r, bt+".conv.weight", c.BottleneckChannels, 3, 1, 1, 1, Shape{},
			epi{bn: bt + ".bn", act2: ActReLU, residual: NoTensor})
		fl := p + "final_logits." + task.Name
		y = b.linear(fl, y, fl+".weight", task.Channels, epi{bias: b.weight(fl + ".bias"), residual: NoTensor})
		out := b.resize("out_"+task.Name, y, b.p.InH, b.p.InW)
		if out == y { // head map already at the input size: give the output its own name
			b.alias(out, "out_"+task.Name)
		}
		b.p.Outputs = append(b.p.Outputs, Output{Task: task.Name, Tensor: out})
	}
}

// chlSpl adds the channel-split deformable 1×1 conv (Offset module + deformable sampling +
// 1×1 conv) on x; it returns the ChlSpl output before its GELU.
func (b *builder) chlSpl(prefix string, x int) int {
	s := b.shape(x)
	off := prefix + ".get_offset"
	pc := b.conv(off+".p_conv", x, off+".p_conv.weight", 18, 3, 1, 1, 1, Shape{},
		epi{bias: b.weight(off + ".p_conv.bias"), residual: NoTensor})
	pp := b.op(Op{Kind: OpOffsetCoords, Name: off + ".p", Inputs: []int{pc}, Output: b.tensor(off+".p", b.shape(pc))})
	o := b.conv(off, pp, off+".opt.weight", 2*s.C, 3, 1, 1, 2, Shape{},
		epi{bias: b.weight(off + ".opt.bias"), residual: NoTensor})
	sm := b.op(Op{Kind: OpDeformSample, Name: prefix + ".sample", Inputs: []int{x, o}, Output: b.tensor(prefix+".sample", s)})
	return b.linear(prefix, sm, prefix+".weight", s.C, epi{bias: b.weight(prefix + ".bias"), residual: NoTensor})
}

func (b *builder) defMixerBlock(c *HeadConfig, i, j, x int) int {
	conv, convBN, chl, chlBN := MixerPrefixes(c.MixerOrder, i, j)
	blk := fmt.Sprintf("head.defor_mixers.%d.blocks.%d", i, j)
	E := c.Dim
	// res + BN(GELU(in)): the residual wrapper around ChlSpl and its GELU and BatchNorm.
	affine := func(name string, in, res int, bn string) int {
		g := b.op(Op{Kind: OpActivation, Name: chl + ".gelu", Act1: ActGELU, Inputs: []int{in}, Output: b.tensor(chl+".gelu", b.shape(in))})
		n := b.op(b.batchNorm(bn, g, b.tensor(bn, b.shape(in))))
		b.p.Ops[len(b.p.Ops)-1].Name = bn
		return b.add(name, ActNone, n, res)
	}
	if c.MixerOrder == MixerV1 {
		// D = BN(GELU(Conv(x + BN(GELU(ChlSpl(x))))))
		r := affine(blk+".0", b.chlSpl(chl, x), x, chlBN)
		return b.linear(blk, r, conv+".weight", E, epi{bias: b.weight(conv + ".bias"), act1: ActGELU, bn: convBN, residual: NoTensor})
	}
	// a = BN(GELU(Conv(x))); D = a + BN(GELU(ChlSpl(a)))
	a := b.linear(convBN, x, conv+".weight", E, epi{bias: b.weight(conv + ".bias"), act1: ActGELU, bn: convBN, residual: NoTensor})
	return affine(blk, b.chlSpl(chl, a), a, chlBN)
}
