package cpu

import "github.com/demt-web/demt/model"

// epilogue is the per-element tail of Linear and Conv2D (see model.Op):
// y = act2(act1((acc + bias)·outScale)·scale + shift + residual).
type epilogue struct {
	bias         []float32
	outScale     float32
	act1, act2   model.Act
	scale, shift []float32
	residual     []float32 // same layout as the output, or nil
}

// apply runs the epilogue (all but the bias, which gemm adds) on rows [r0, r1) of y (m channels per row).
func (e *epilogue) apply(y []float32, m, r0, r1 int) {
	if e.outScale == 0 && e.act1 == model.ActNone && e.scale == nil && e.residual == nil && e.act2 == model.ActNone {
		return
	}
	for r := r0; r < r1; r++ {
		row := y[r*m : (r+1)*m]
		if e.outScale != 0 && e.outScale != 1 {
			for j := range row {
				row[j] *= e.outScale
			}
		}
		activate(row, e.act1)
		if e.scale != nil {
			sc, sh := e.scale[:len(row)], e.shift[:len(row)]
			for j := range row {
				row[j] = row[j]*sc[j] + sh[j]
			}
		}
		if e.residual != nil {
			res := e.residual[r*m : (r+1)*m]
			for j := range row {
				row[j] += res[j]
			}
		}
		activate(row, e.act2)
	}
}

func activate(v []float32, a model.Act) {
	switch a {
	case model.ActReLU:
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
	case model.ActGELU:
		i := 0
		if haveSIMD && len(v) >= 8 {
			i = len(v) &^ 7
			geluAVX(&v[0], i, &geluConsts)
		}
		for ; i < len(v); i++ {
			v[i] = gelu(v[i])
		}
	}
}
