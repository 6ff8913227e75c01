package cpu

import (
	"testing"

	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
)

// benchCases are training-sized ops (a small model at 128×160: head at 32×40).
func benchCases() []optest.Case {
	sh := optest.Sh
	conv := func(name string, in, out model.Shape, k, s, pad, groups int) optest.Case {
		return optest.EpilogueCase(name, model.OpConv2D, in, out, func(o *model.Op, c map[string][]int) {
			o.Weight, o.Bias, o.KH, o.KW, o.Stride, o.PadT, o.PadL, o.Groups = "w", "b", k, k, s, pad, pad, groups
			c["w"], c["b"] = []int{out.C, in.C / groups, k, k}, []int{out.C}
		})
	}
	cases := []optest.Case{
		conv("conv2d/3x3/32x40x64", sh(32, 40, 64), sh(32, 40, 64), 3, 1, 1, 1),
		conv("conv2d/3x3-stride2/64x80x32", sh(64, 80, 32), sh(32, 40, 64), 3, 2, 1, 1),
		conv("conv2d/1x1/32x40x256", sh(32, 40, 256), sh(32, 40, 64), 1, 1, 0, 1),
		conv("conv2d/3x3-grouped2/32x40x18", sh(32, 40, 18), sh(32, 40, 128), 3, 1, 1, 2),
		optest.EpilogueCase("linear/gelu/1280x96x384", model.OpLinear, sh(32, 40, 96), sh(32, 40, 384), func(o *model.Op, c map[string][]int) {
			o.Weight, o.Bias, o.Act1 = "w", "b", model.ActGELU
			c["w"], c["b"] = []int{384, 96}, []int{384}
		}),
		optest.EpilogueCase("linear/1280x384x96", model.OpLinear, sh(32, 40, 384), sh(32, 40, 96), func(o *model.Op, c map[string][]int) {
			o.Weight, o.Bias = "w", "b"
			c["w"], c["b"] = []int{96, 384}, []int{96}
		}),
		optest.EpilogueCase("layer_norm/1280x96", model.OpLayerNorm, sh(32, 40, 96), sh(32, 40, 96), func(o *model.Op, c map[string][]int) {
			o.Weight, o.Bias, o.Eps = "w", "b", 1e-5
			c["w"], c["b"] = []int{96}, []int{96}
		}),
		optest.EpilogueCase("resize/32x40x16-128x160", model.OpResize, sh(32, 40, 16), sh(128, 160, 16), func(*model.Op, map[string][]int) {}),
		{Name: "deform_sample/32x40x64", Op: model.Op{Kind: model.OpDeformSample, Inputs: []int{0, 1}},
			In: []model.Shape{sh(32, 40, 64), sh(32, 40, 128)}, Out: sh(32, 40, 64), InScale: 3},
		{Name: "task_attention/32x40x64-T6", Op: model.Op{Kind: model.OpTaskAttention, Inputs: []int{0, 1, 2}, Heads: 4},
			In: []model.Shape{sh(32, 40, 64), sh(6*32, 40, 64), sh(6*32, 40, 64)}, Out: sh(32, 40, 64)},
	}
	c := 96
	cases = append(cases, optest.Case{Name: "window_attention/32x40x96-w7-shift3", In: []model.Shape{sh(32, 40, c)}, Out: sh(32, 40, c),
		Op: model.Op{Kind: model.OpWindowAttention, Inputs: []int{0}, QKVWeight: "qkv.w", QKVBias: "qkv.b",
			Weight: "proj.w", Bias: "proj.b", Table: "table", Heads: 3, Window: 7, ShiftSize: 3},
		Consts: map[string][]int{"qkv.w": {3 * c, c}, "qkv.b": {3 * c}, "proj.w": {c, c}, "proj.b": {c}, "table": {13 * 13, 3}}})
	return cases
}

// BenchmarkBackward times each op's forward kernel and its backward (all gradients) on all
// cores; GMAC/s counts the forward's MACs (a conv/linear backward does twice as many).
func BenchmarkBackward(b *testing.B) {
	for _, c := range benchCases() {
		p, input, _ := c.Plan(1)
		e, err := New(p, Options{KeepAll: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Run(input); err != nil {
			b.Fatal(err)
		}
		oi := len(p.Ops) - 1
		op := &p.Ops[oi]
		og := opGrads{dy: make([]float32, p.Tensors[op.Output].Shape.Numel()), consts: map[string][]float32{}}
		for i := range og.dy {
			og.dy[i] = float32(i%7) - 3
		}
		for _, id := range op.Inputs {
			og.dx = append(og.dx, make([]float32, p.Tensors[id].Shape.Numel()))
		}
		for _, name := range []string{op.Weight, op.Bias, op.Table, op.QKVWeight, op.QKVBias} {
			if name != "" {
				og.consts[name] = make([]float32, len(p.Consts[name].Data))
			}
		}
		n := len(og.dy)
		og.z, og.dz = make([]float32, n), make([]float32, n)
		bk, err := e.prepareBackward(op, og)
		if err != nil {
			b.Fatal(err)
		}
		macs := float64(p.MACs(op))
		for _, dir := range []string{"forward", "backward"} {
			k := e.kernels[oi]
			if dir == "backward" {
				k = bk
			}
			b.Run(c.Name+"/"+dir, func(b *testing.B) {
				k.run(e.pool)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					k.run(e.pool)
				}
				if macs > 0 {
					b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "fwdGMAC/s")
				}
			})
		}
		e.Close()
	}
}
