package model

import (
	"fmt"
	"io"
	"strings"
)

// OpKind is the type of one plan operation. Each kind has one name used in every
// executor (cpu/<name>.go, shaders/<name>.wgsl).
type OpKind uint8

// Plan operations. Activations are channels-last: a tensor is [H, W, C].
const (
	// OpConv2D: y[oy,ox,o] = Σ x[oy·S−PadT+ky, ox·S−PadL+kx, g·Cin/G+ci]·W[o,ci,ky,kx]; reads outside
	// the input are zero; then the epilogue (see Op). Weight in torch layout (Cout, Cin/G, KH, KW).
	OpConv2D OpKind = iota
	// OpLinear: per-token y = x·Wᵀ (+ bias), W (Cout, Cin) (a 1×1 convolution), then the epilogue.
	OpLinear
	// OpLayerNorm: per-token LayerNorm over C with weight/bias, eps; plus Residual if set.
	OpLayerNorm
	// OpAffine: y = Act2(Act1(x)·Scale + Shift + Residual), per channel.
	OpAffine
	// OpAdd: y = Act2(Σ inputs), all of the output shape.
	OpAdd
	// OpResize: bilinear, align_corners=False (PyTorch), to the output shape.
	OpResize
	// OpConcat: channel concatenation of inputs with the output's H, W.
	OpConcat
	// OpStack: token (outermost-axis) concatenation: inputs [h,w,C] → [n·h, w, C].
	OpStack
	// OpWindowAttention: mmseg ShiftWindowMSA on LN1'd tokens (pad to the window, roll by
	// Shift, −100 region mask, relative position bias, softmax, proj, roll back, crop).
	OpWindowAttention
	// OpPatchMerge: nn.Unfold(2, stride 2) on [H,W,C] with zero pad of odd sides →
	// [ceil(H/2), ceil(W/2), 4C], channel index c·4 + kh·2 + kw.
	OpPatchMerge
	// OpOffsetCoords: adds the DeMT Offset module's absolute 1-based coordinates p_0 + p_n to
	// the 18 p_conv channels: ch k<9 += (y+1) + [-1,-1,-1,0,0,0,1,1,1][k]; ch 9+k += (x+1) + [-1,0,1,…][k].
	OpOffsetCoords
	// OpDeformSample: per channel c, S[y,x,c] = bilinear_tv(x[:,:,c], y+O[y,x,2c], x+O[y,x,2c+1])
	// (torchvision rule: zero outside, partial corners zero). Inputs: x, offsets [H,W,2C].
	OpDeformSample
	// OpTaskAttention: per pixel p and head g: softmax over the T tasks of q_g[p]·k_g[t·hw+p] (q
	// already scaled), output block g = Σ_t a_t·v_g[t·hw+p]. Inputs: q [h,w,Cq], k [T·h,w,Ck],
	// v [T·h,w,Cv]. Plain: q, k, v split into Heads blocks. SharedKV: head g uses its q block
	// (Cq/Heads = Ck channels) against all of k and v, and the output is Heads·Cv channels.
	OpTaskAttention
	// OpBatchNorm: eval-mode BatchNorm2d per channel, y = (x − mean)/√(var + Eps)·Weight + Bias with
	// the running statistics Mean and Var. FoldBatchNorm turns it into an Affine.
	OpBatchNorm
	// OpActivation: y = Act1(x) elementwise (ReLU or exact GELU).
	OpActivation
	// OpDeformLinear: DeformSample of inputs (x, offsets) followed by a Linear (Weight, Bias and the
	// epilogue) on the sampled map, without materialising it (FuseDeformLinear).
	OpDeformLinear
	numOpKinds
)

var opNames = [...]string{
	OpConv2D: "Conv2D", OpLinear: "Linear", OpLayerNorm: "LayerNorm", OpAffine: "Affine", OpAdd: "Add",
	OpResize: "Resize", OpConcat: "Concat", OpStack: "Stack", OpWindowAttention: "WindowAttention",
	OpPatchMerge: "PatchMerge", OpOffsetCoords: "OffsetCoords", OpDeformSample: "DeformSample",
	OpTaskAttention: "TaskAttention", OpBatchNorm: "BatchNorm", OpActivation: "Activation",
	OpDeformLinear: "DeformLinear",
}

// FileName is the op's name in files: cpu/<name>.go, shaders/<name>.wgsl and the parity
// cases "<name>/…" (DeformSample → deform_sample).
func (k OpKind) FileName() string {
	var b []byte
	for _, r := range k.String() {
		if r >= 'A' && r <= 'Z' {
			if len(b) > 0 && b[len(b)-1] >= 'a' && b[len(b)-1] <= 'z' {
				b = append(b, '_')
			}
			r += 'a' - 'A'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// NumOpKinds is the number of op kinds (OpKind values are 0 … NumOpKinds−1).
const NumOpKinds = int(numOpKinds)

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", k)
}

// Act is an elementwise activation of an epilogue.
type Act uint8

// Activations.
const (
	ActNone Act = iota
	ActReLU
	ActGELU // exact erf form
)

func (a Act) String() string {
	return [...]string{"", "relu", "gelu"}[a]
}

// Shape is the shape of an activation: H×W tokens of C channels.
type Shape struct{ H, W, C int }

// Numel returns H·W·C.
func (s Shape) Numel() int { return s.H * s.W * s.C }

func (s Shape) String() string { return fmt.Sprintf("[%d,%d,%d]", s.H, s.W, s.C) }

// TensorInfo describes one activation of a plan.
type TensorInfo struct {
	Name    string   // official module path of what produced it (or a plan-local name)
	Aliases []string // other official names of the same array (e.g. "backbone.stages.0[2]")
	Shape   Shape
}

// Const is a constant array of a plan: a weight of the checkpoint (shared, not copied), a
// row range of one, or an array derived from parameters (a BatchNorm folded into scale and
// shift, a folded chain of linear maps). Name is only its key in Plan.Consts; what it holds is
// said by Param, Rows and Derived.
type Const struct {
	Name  string
	Shape []int
	Data  []float32
	// Param is the checkpoint parameter the data is (a view of), or for a derived constant the
	// module it was derived from.
	Param string
	// Rows, when Rows[1] > 0, says the data is rows [Rows[0], Rows[1]) of Param.
	Rows [2]int
	// Derived says the data was computed (by Build or a rewrite), not read from the checkpoint.
	Derived bool
}

// NoTensor is what TensorByName returns for a name no tensor has.
const NoTensor = -1

// TensorRef is an optional tensor of an op (the Residual); its zero value refers to none.
type TensorRef struct {
	id  int
	set bool
}

// Ref returns a reference to tensor id.
func Ref(id int) TensorRef { return TensorRef{id: id, set: true} }

// Get returns the tensor id and whether there is one.
func (r TensorRef) Get() (int, bool) { return r.id, r.set }

// Is reports whether r refers to tensor id.
func (r TensorRef) Is(id int) bool { return r.set && r.id == id }

// Op is one operation of a plan. Fields that do not apply to its kind are zero.
//
// The epilogue of Conv2D and Linear is y = Act2(Act1((acc + Bias)·OutScale)·Scale + Shift + Residual),
// where a missing Scale/Shift means 1/0, a missing Bias/Residual 0 and OutScale 0 means 1.
type Op struct {
	Kind   OpKind
	Name   string // official module path
	Inputs []int
	Output int
	Weight string // const names
	Bias   string
	Scale  string
	Shift  string
	Act1   Act
	Act2   Act
	// Residual is a tensor added in the epilogue (the zero value: none).
	Residual TensorRef
	// BatchNorm: running statistics (Weight and Bias are γ and β).
	Mean, Var string

	// Conv2D.
	KH, KW, Stride, PadT, PadL, Groups int
	// LayerNorm, BatchNorm.
	Eps float32
	// WindowAttention.
	Heads, Window, ShiftSize int
	Table                    string // relative position bias table ((2w−1)², heads)
	QKVWeight, QKVBias       string
	// Linear: see the epilogue (0 means 1).
	OutScale float32
	// TaskAttention: keys and values shared by all heads (see OpTaskAttention).
	SharedKV bool
}

// Output is one task output of a plan: raw logits at the input size.
type Output struct {
	Task   string
	Tensor int
}

// Plan is the flat, topologically ordered forward pass of one model at one input size.
type Plan struct {
	Config  Config
	InH     int
	InW     int
	Tensors []TensorInfo
	Ops     []Op
	Consts  map[string]*Const
	Input   int // tensor id of the normalised input [H, W, 3]
	Outputs []Output
}

// TensorByName returns the id of the tensor called name, or NoTensor.
func (p *Plan) TensorByName(name string) int {
	for i, t := range p.Tensors {
		if t.Name == name {
			return i
		}
		for _, a := range t.Aliases {
			if a == name {
				return i
			}
		}
	}
	return NoTensor
}

// MACs returns the multiply-accumulates of one op (the dominant arithmetic; elementwise ops count 0).
func (p *Plan) MACs(op *Op) int64 {
	out := p.Tensors[op.Output].Shape
	switch op.Kind {
	case OpConv2D:
		in := p.Tensors[op.Inputs[0]].Shape
		return int64(out.H*out.W*out.C) * int64(op.KH*op.KW*in.C/op.Groups)
	case OpLinear:
		in := p.Tensors[op.Inputs[0]].Shape
		return int64(out.H*out.W) * int64(in.C*out.C)
	case OpDeformLinear:
		in := p.Tensors[op.Inputs[0]].Shape
		return int64(in.Numel())*4 + int64(out.H*out.W)*int64(in.C*out.C)
	case OpWindowAttention:
		c := out.C
		w := op.Window
		hp := (out.H + w - 1) / w * w
		wp := (out.W + w - 1) / w * w
		n := int64(hp * wp)
		// qkv projection, q·k and a·v, output projection.
		return n*int64(3*c*c) + n*int64(w*w)*int64(2*c) + n*int64(c*c)
	case OpTaskAttention:
		q, k := p.Tensors[op.Inputs[0]].Shape, p.Tensors[op.Inputs[1]].Shape
		t := k.H / out.H
		return int64(out.H*out.W) * int64(t) * int64(q.C+out.C)
	case OpDeformSample:
		return int64(out.H*out.W*out.C) * 4
	case OpResize:
		return int64(out.Numel()) * 4
	}
	return 0
}

// TotalMACs sums MACs over all ops.
func (p *Plan) TotalMACs() int64 {
	var n int64
	for i := range p.Ops {
		n += p.MACs(&p.Ops[i])
	}
	return n
}

// Print writes one line per op and a final `total MACs: N` line.
func (p *Plan) Print(w io.Writer) {
	for i := range p.Ops {
		op := &p.Ops[i]
		in := make([]string, len(op.Inputs))
		for j, id := range op.Inputs {
			in[j] = p.Tensors[id].Shape.String()
		}
		extra := ""
		if op.Kind == OpConv2D {
			extra = fmt.Sprintf(" k=%dx%d s=%d g=%d", op.KH, op.KW, op.Stride, op.Groups)
		}
		if op.Kind == OpActivation {
			extra = " " + op.Act1.String()
		} else if _, res := op.Residual.Get(); op.Act1 != ActNone || op.Act2 != ActNone || op.Scale != "" || res {
			var e []string
			if op.Act1 != ActNone {
				e = append(e, op.Act1.String())
			}
			if op.Scale != "" {
				e = append(e, "affine")
			}
			if res {
				e = append(e, "+res")
			}
			if op.Act2 != ActNone {
				e = append(e, op.Act2.String())
			}
			extra += " epilogue=" + strings.Join(e, ",")
		}
		fmt.Fprintf(w, "#%d %s  %s  in=%s out=%s%s  MACs=%d\n", i, op.Kind, op.Name,
			strings.Join(in, ","), p.Tensors[op.Output].Shape, extra, p.MACs(op))
	}
	fmt.Fprintf(w, "total MACs: %d\n", p.TotalMACs())
}
