package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/model"
	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

// Epilogue flags shared by linear.wgsl, conv2d.wgsl, affine.wgsl and layer_norm.wgsl.
const (
	flagBias     = 1
	flagScale    = 2
	flagResidual = 4
)

func f32bits(v float32) uint32 { return math.Float32bits(v) }

// grid returns a 2-D dispatch covering groups workgroups (the kernels index wy·nx + wx).
func grid(groups int) (x, y uint32) {
	if groups <= 0 {
		return 1, 1
	}
	nx := min(groups, maxGroups)
	return uint32(nx), uint32((groups + nx - 1) / nx)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// prepare adds the dispatches of one op.
func (e *Executor) prepare(op *model.Op, opt Options) error {
	p := e.plan
	out := p.Tensors[op.Output].Shape
	y := e.bufs[op.Output]
	in := func(i int) *wgpu.Buffer { return e.bufs[op.Inputs[i]] }
	ins := func(i int) model.Shape { return p.Tensors[op.Inputs[i]].Shape }
	switch op.Kind {
	case model.OpLinear:
		s := ins(0)
		return e.linear(in(0), s.H*s.W, s.C, out.C, op.Weight, op, opt.F16Weights, y)
	case model.OpConv2D:
		return e.conv2d(op, ins(0), in(0), out, opt.F16Weights, y)
	case model.OpLayerNorm:
		w, err := e.constBuf(op.Weight, out.C, "", false)
		if err != nil {
			return err
		}
		b, err := e.constBuf(op.Bias, out.C, "", false)
		if err != nil {
			return err
		}
		res, flags := e.d.dummy, uint32(0)
		if r, ok := op.Residual.Get(); ok {
			res, flags = e.bufs[r], flagResidual
		}
		k, err := e.d.kernel("layer_norm", 4)
		if err != nil {
			return err
		}
		gx, gy := grid(out.H * out.W)
		return e.add(k, []uint32{uint32(out.H * out.W), uint32(out.C), flags, f32bits(op.Eps)}, gx, gy, 1, in(0), w, b, res, y)
	case model.OpAffine:
		sc, err := e.constBuf(op.Scale, out.C, "", false)
		if err != nil {
			return err
		}
		sh, err := e.constBuf(op.Shift, out.C, "", false)
		if err != nil {
			return err
		}
		res, flags := e.d.dummy, uint32(0)
		if r, ok := op.Residual.Get(); ok {
			res, flags = e.bufs[r], flagResidual
		}
		k, err := e.d.kernel("affine", 4)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(out.Numel()), uint32(out.C), flags, uint32(op.Act1), uint32(op.Act2), 0, 0, 0},
			gx, gy, 1, in(0), sc, sh, res, y)
	case model.OpAdd:
		if op.Act2 != model.ActNone && op.Act2 != model.ActReLU {
			return fmt.Errorf("add supports ReLU only, got %s", op.Act2)
		}
		k, err := e.d.kernel("add", 4)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		for i := 0; i < len(op.Inputs); i += 4 {
			xs := [4]*wgpu.Buffer{e.d.dummy, e.d.dummy, e.d.dummy, e.d.dummy}
			n := min(4, len(op.Inputs)-i)
			for j := 0; j < n; j++ {
				xs[j] = in(i + j)
			}
			var accumulate, act uint32
			if i > 0 {
				accumulate = 1
			}
			if i+4 >= len(op.Inputs) {
				act = uint32(op.Act2)
			}
			if err := e.add(k, []uint32{uint32(out.Numel()), uint32(n), accumulate, act}, gx, gy, 1, xs[0], xs[1], xs[2], xs[3], y); err != nil {
				return err
			}
		}
		return nil
	case model.OpResize:
		s := ins(0)
		taps, err := e.tapsBuf(s.H, s.W, out.H, out.W)
		if err != nil {
			return err
		}
		k, err := e.d.kernel("resize", 2)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(s.H), uint32(s.W), uint32(s.C), uint32(out.H), uint32(out.W), uint32(out.Numel()), 0, 0},
			gx, gy, 1, in(0), taps, y)
	case model.OpConcat:
		k, err := e.d.kernel("concat", 1)
		if err != nil {
			return err
		}
		off := 0
		for i := range op.Inputs {
			s := ins(i)
			gx, gy := grid(ceilDiv(s.Numel(), wgSize))
			if err := e.add(k, []uint32{uint32(s.Numel()), uint32(s.C), uint32(out.C), uint32(off)}, gx, gy, 1, in(i), y); err != nil {
				return err
			}
			off += s.C
		}
		return nil
	case model.OpStack:
		k, err := e.d.kernel("stack", 1)
		if err != nil {
			return err
		}
		off := 0
		for i := range op.Inputs {
			n := ins(i).Numel()
			gx, gy := grid(ceilDiv(n, wgSize))
			if err := e.add(k, []uint32{uint32(n), uint32(off), 0, 0}, gx, gy, 1, in(i), y); err != nil {
				return err
			}
			off += n
		}
		return nil
	case model.OpPatchMerge:
		s := ins(0)
		k, err := e.d.kernel("patch_merge", 1)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(s.H), uint32(s.W), uint32(s.C), uint32(out.W), uint32(out.Numel()), 0, 0, 0}, gx, gy, 1, in(0), y)
	case model.OpOffsetCoords:
		k, err := e.d.kernel("offset_coords", 1)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(out.W), uint32(out.Numel()), 0, 0}, gx, gy, 1, in(0), y)
	case model.OpDeformSample:
		k, err := e.d.kernel("deform_sample", 2)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(out.H), uint32(out.W), uint32(out.C), uint32(out.Numel())}, gx, gy, 1, in(0), in(1), y)
	case model.OpTaskAttention:
		qs, ks, vs := ins(0), ins(1), ins(2)
		t := ks.H / out.H
		if t > 8 {
			return fmt.Errorf("%d tasks: the kernel handles at most 8", t)
		}
		k, err := e.d.kernel("task_attention", 3)
		if err != nil {
			return err
		}
		shared := uint32(0)
		if op.SharedKV {
			shared = 1
		}
		gx, gy := grid(ceilDiv(out.H*out.W*op.Heads, wgSize))
		return e.add(k, []uint32{uint32(out.H * out.W), uint32(t), uint32(op.Heads), shared,
			uint32(qs.C), uint32(ks.C), uint32(vs.C), uint32(out.C)},
			gx, gy, 1, in(0), in(1), in(2), y)
	case model.OpWindowAttention:
		return e.windowAttention(op, in(0), out, opt.F16Weights, y)
	case model.OpDeformLinear:
		return e.deformLinear(op, opt.F16Weights)
	case model.OpBatchNorm:
		bufs := []*wgpu.Buffer{in(0)}
		for _, name := range []string{op.Weight, op.Bias, op.Mean, op.Var} {
			b, err := e.constBuf(name, out.C, "", false)
			if err != nil {
				return err
			}
			bufs = append(bufs, b)
		}
		k, err := e.d.kernel("batch_norm", 5)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(out.Numel()), uint32(out.C), f32bits(op.Eps), 0}, gx, gy, 1, append(bufs, y)...)
	case model.OpActivation:
		k, err := e.d.kernel("activation", 1)
		if err != nil {
			return err
		}
		gx, gy := grid(ceilDiv(out.Numel(), wgSize))
		return e.add(k, []uint32{uint32(out.Numel()), uint32(op.Act1), 0, 0}, gx, gy, 1, in(0), y)
	}
	return fmt.Errorf("unsupported op kind %s", op.Kind)
}

// linear adds a linear.wgsl dispatch: y (n×m) = epilogue(x (n×k)·wᵀ); the epilogue fields
// come from op (Bias, Scale/Shift, Residual, Act1/2, OutScale).
func (e *Executor) linear(x *wgpu.Buffer, n, k, m int, weight string, op *model.Op, f16 bool, y *wgpu.Buffer) error {
	w, err := e.constBuf(weight, m*k, "", f16)
	if err != nil {
		return err
	}
	ep, err := e.epilogueBufs(op, m)
	if err != nil {
		return err
	}
	kern, err := e.d.kernel("linear", 6, variant(f16)...)
	if err != nil {
		return err
	}
	return e.add(kern, []uint32{uint32(n), uint32(k), uint32(m), ep.flags, uint32(op.Act1), uint32(op.Act2), f32bits(op.OutScale), 0},
		uint32(ceilDiv(m, 64)), uint32(ceilDiv(n, 64)), 1, x, w, ep.bias, ep.scale, ep.shift, ep.residual, y)
}

// deformLinear adds a deform_linear.wgsl dispatch: op's Linear applied to the deformable
// sampling of its inputs (x, offsets) without storing the sampled map.
func (e *Executor) deformLinear(op *model.Op, f16 bool) error {
	p := e.plan
	s := p.Tensors[op.Inputs[0]].Shape
	out := p.Tensors[op.Output].Shape
	w, err := e.constBuf(op.Weight, out.C*s.C, "", f16)
	if err != nil {
		return err
	}
	ep, err := e.epilogueBufs(op, out.C)
	if err != nil {
		return err
	}
	kern, err := e.d.kernel("deform_linear", 7, variant(f16)...)
	if err != nil {
		return err
	}
	n := s.H * s.W
	return e.add(kern, []uint32{uint32(n), uint32(s.C), uint32(out.C), ep.flags, uint32(op.Act1), uint32(op.Act2), f32bits(op.OutScale), uint32(s.W)},
		uint32(ceilDiv(out.C, 64)), uint32(ceilDiv(n, 64)), 1,
		e.bufs[op.Inputs[0]], w, ep.bias, ep.scale, ep.shift, ep.residual, e.bufs[op.Inputs[1]], e.bufs[op.Output])
}

func (e *Executor) conv2d(op *model.Op, s model.Shape, x *wgpu.Buffer, out model.Shape, f16 bool, y *wgpu.Buffer) error {
	cing := s.C / op.Groups
	w, err := e.constBuf(op.Weight, out.C*cing*op.KH*op.KW, fmt.Sprintf("conv %d %d %d %d", out.C, cing, op.KH, op.KW), f16)
	if err != nil {
		return err
	}
	ep, err := e.epilogueBufs(op, out.C)
	if err != nil {
		return err
	}
	kern, err := e.d.kernel("conv2d", 6, variant(f16)...)
	if err != nil {
		return err
	}
	params := []uint32{uint32(s.H), uint32(s.W), uint32(s.C), uint32(out.H), uint32(out.W), uint32(out.C),
		uint32(op.KH), uint32(op.KW), uint32(op.Stride), uint32(int32(op.PadT)), uint32(int32(op.PadL)), uint32(op.Groups),
		ep.flags, uint32(op.Act1), uint32(op.Act2), f32bits(op.OutScale)}
	return e.add(kern, params, uint32(ceilDiv(out.C/op.Groups, 64)), uint32(ceilDiv(out.H*out.W, 64)), uint32(op.Groups),
		x, w, ep.bias, ep.scale, ep.shift, ep.residual, y)
}

func (e *Executor) windowAttention(op *model.Op, x *wgpu.Buffer, out model.Shape, f16 bool, y *wgpu.Buffer) error {
	c, win := out.C, op.Window
	if op.Heads <= 0 || c%op.Heads != 0 || win <= 0 || c/op.Heads > 64 || op.ShiftSize < 0 || op.ShiftSize >= win {
		return fmt.Errorf("bad window attention: %d channels, %d heads, window %d, shift %d (head dim ≤ 64)", c, op.Heads, win, op.ShiftSize)
	}
	n := out.H * out.W
	qkv, err := e.scratch(0, uint64(n*3*c)*4)
	if err != nil {
		return err
	}
	o, err := e.scratch(1, uint64(n*c)*4)
	if err != nil {
		return err
	}
	qkvOp := &model.Op{Bias: op.QKVBias}
	if err := e.linear(x, n, c, 3*c, op.QKVWeight, qkvOp, f16, qkv); err != nil {
		return err
	}
	qkvB, err := e.constBuf(op.QKVBias, 3*c, "", false)
	if err != nil {
		return err
	}
	table, err := e.constBuf(op.Table, (2*win-1)*(2*win-1)*op.Heads, fmt.Sprintf("gather %d %d", op.Heads, win), false)
	if err != nil {
		return err
	}
	k, err := e.d.kernel("window_attention", 3)
	if err != nil {
		return err
	}
	hp, wp := ceilDiv(out.H, win)*win, ceilDiv(out.W, win)*win
	scale := float32(1 / math.Sqrt(float64(c/op.Heads)))
	gx, gy := grid(ceilDiv(n*op.Heads, wgSize))
	if err := e.add(k, []uint32{uint32(out.H), uint32(out.W), uint32(c), uint32(op.Heads), uint32(win), uint32(op.ShiftSize),
		uint32(hp), uint32(wp), f32bits(scale), 0, 0, 0}, gx, gy, 1, qkv, qkvB, table, o); err != nil {
		return err
	}
	projOp := &model.Op{Bias: op.Bias}
	return e.linear(o, n, c, c, op.Weight, projOp, f16, y)
}

func variant(f16 bool) []string {
	if f16 {
		return []string{"F16"}
	}
	return nil
}

// epilogueBuffers are the optional epilogue bindings (the dummy buffer where absent).
type epilogueBuffers struct {
	bias, scale, shift, residual *wgpu.Buffer
	flags                        uint32
}

func (e *Executor) epilogueBufs(op *model.Op, cout int) (epilogueBuffers, error) {
	ep := epilogueBuffers{bias: e.d.dummy, scale: e.d.dummy, shift: e.d.dummy, residual: e.d.dummy}
	var err error
	if op.Bias != "" {
		if ep.bias, err = e.constBuf(op.Bias, cout, "", false); err != nil {
			return ep, err
		}
		ep.flags |= flagBias
	}
	if op.Scale != "" || op.Shift != "" {
		if ep.scale, err = e.constBuf(op.Scale, cout, "", false); err != nil {
			return ep, err
		}
		if ep.shift, err = e.constBuf(op.Shift, cout, "", false); err != nil {
			return ep, err
		}
		ep.flags |= flagScale
	}
	if r, ok := op.Residual.Get(); ok {
		ep.residual = e.bufs[r]
		ep.flags |= flagResidual
	}
	return ep, nil
}

// scratch returns the executor's i-th scratch buffer, at least size bytes. Ops run one after
// the other, so ops share scratch buffers; one op uses distinct indices.
func (e *Executor) scratch(i int, size uint64) (*wgpu.Buffer, error) {
	key := fmt.Sprintf("#scratch%d", i)
	if b, ok := e.consts[key]; ok && b.Size() >= size {
		return b, nil
	}
	if b, ok := e.consts[key]; ok {
		// Grow: dispatches recorded so far keep the old buffer, so keep it alive until Close.
		e.owned = append(e.owned, b)
		delete(e.consts, key)
	}
	b, err := e.d.createBuffer(fmt.Sprintf("scratch %d", i), poolSize(size), storageUsage)
	if err != nil {
		return nil, err
	}
	e.consts[key] = b
	return b, nil
}

// constBuf uploads constant name (want values) once per layout and dtype. layout "" keeps
// the plan's layout; "conv O I KH KW" re-lays a convolution weight out to (O, KH, KW, I);
// "gather H W" expands a relative position bias table to (H, W², W²).
func (e *Executor) constBuf(name string, want int, layout string, f16 bool) (*wgpu.Buffer, error) {
	key := name + "|" + layout
	if f16 {
		key += "|f16"
	}
	if b, ok := e.consts[key]; ok {
		return b, nil
	}
	c, ok := e.plan.Consts[name]
	if name == "" || !ok {
		return nil, fmt.Errorf("missing constant %q", name)
	}
	if len(c.Data) != want {
		return nil, fmt.Errorf("constant %s has %d values, want %d", name, len(c.Data), want)
	}
	data := c.Data
	var o, i, kh, kw, heads, win int
	switch {
	case layout == "":
	case scanLayout(layout, "conv %d %d %d %d", &o, &i, &kh, &kw):
		data = model.ConvWeightOHWI(data, o, i, kh, kw)
	case scanLayout(layout, "gather %d %d", &heads, &win):
		data = model.WindowBias(data, heads, win)
	default:
		return nil, fmt.Errorf("unknown layout %q", layout)
	}
	var raw []byte
	if f16 {
		raw = packF16(data)
	} else {
		raw = make([]byte, 4*len(data))
		for j, v := range data {
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
		}
	}
	b, err := e.d.createBuffer("constant "+name, uint64(len(raw)), gputypes.BufferUsageStorage|gputypes.BufferUsageCopyDst)
	if err != nil {
		return nil, err
	}
	e.consts[key] = b
	if err := e.d.dev.Queue().WriteBuffer(b, 0, padTo4(raw)); err != nil {
		return nil, fmt.Errorf("upload %s: %w", name, err)
	}
	return b, nil
}

func scanLayout(layout, format string, args ...any) bool {
	n, err := fmt.Sscanf(layout, format, args...)
	return err == nil && n == len(args)
}

func padTo4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// tapsBuf uploads the bilinear taps of an ih×iw → oh×ow resize: (i0, i1, λ0, λ1) per output
// row, then per output column.
func (e *Executor) tapsBuf(ih, iw, oh, ow int) (*wgpu.Buffer, error) {
	key := fmt.Sprintf("#taps %d %d %d %d", ih, iw, oh, ow)
	if b, ok := e.consts[key]; ok {
		return b, nil
	}
	raw := tapsBytes(ih, iw, oh, ow)
	b, err := e.d.createBuffer("resize taps", uint64(len(raw)), gputypes.BufferUsageStorage|gputypes.BufferUsageCopyDst)
	if err != nil {
		return nil, err
	}
	e.consts[key] = b
	if err := e.d.dev.Queue().WriteBuffer(b, 0, raw); err != nil {
		return nil, fmt.Errorf("upload resize taps: %w", err)
	}
	return b, nil
}

func tapsBytes(ih, iw, oh, ow int) []byte {
	var raw []byte
	put := func(v float32) { raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v)) }
	for _, ax := range [][2]int{{ih, oh}, {iw, ow}} {
		for _, t := range model.ResizeTaps(ax[0], ax[1]) {
			put(float32(t.I0))
			put(float32(t.I1))
			put(t.L0)
			put(t.L1)
		}
	}
	return raw
}

// packF16 rounds values to IEEE half precision (to nearest even) and packs two per u32,
// element i in the low half of word i/2 when i is even.
func packF16(data []float32) []byte {
	raw := make([]byte, 2*len(data)+2*(len(data)%2))
	for i, v := range data {
		binary.LittleEndian.PutUint16(raw[2*i:], f16.FromFloat32(v))
	}
	return raw
}
