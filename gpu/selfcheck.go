package gpu

import (
	"fmt"
	"math"

	"github.com/demt-web/demt/model"
)

// selfCheck runs a tiny plan (a linear with bias and GELU, then a bilinear resize) and
// compares it with a direct computation. In the browser, WebGPU validation errors never reach
// Go and a broken pipeline silently yields zeros: this makes such a device fail loudly.
func selfCheck(d *Device) error {
	const h, w, c, m, oh, ow = 3, 5, 4, 6, 4, 7
	p := &model.Plan{InH: h, InW: w, Consts: map[string]*model.Const{}}
	p.Tensors = []model.TensorInfo{{Name: "input", Shape: model.Shape{H: h, W: w, C: c}},
		{Name: "linear", Shape: model.Shape{H: h, W: w, C: m}}, {Name: "resize", Shape: model.Shape{H: oh, W: ow, C: m}}}
	wt := make([]float32, m*c)
	for i := range wt {
		wt[i] = float32(i%7-3) * 0.25
	}
	bias := []float32{0.5, -0.5, 0.25, 0, 1, -1}
	p.Consts["w"] = &model.Const{Name: "w", Shape: []int{m, c}, Data: wt}
	p.Consts["b"] = &model.Const{Name: "b", Shape: []int{m}, Data: bias}
	p.Ops = []model.Op{
		{Kind: model.OpLinear, Name: "linear", Inputs: []int{0}, Output: 1, Weight: "w", Bias: "b", Act1: model.ActGELU},
		{Kind: model.OpResize, Name: "resize", Inputs: []int{1}, Output: 2},
	}
	in := make([]float32, h*w*c)
	for i := range in {
		in[i] = float32(i%11-5) * 0.2
	}
	e, err := New(d, p, Options{Keep: []int{2}})
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Run(in); err != nil {
		return err
	}
	got, err := e.Read(2)
	if err != nil {
		return err
	}
	lin := make([]float64, h*w*m)
	for t := 0; t < h*w; t++ {
		for j := 0; j < m; j++ {
			s := float64(bias[j])
			for q := 0; q < c; q++ {
				s += float64(in[t*c+q]) * float64(wt[j*c+q])
			}
			lin[t*m+j] = 0.5 * s * (1 + math.Erf(s/math.Sqrt2))
		}
	}
	ty, tx := model.ResizeTaps(h, oh), model.ResizeTaps(w, ow)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			a, b := ty[oy], tx[ox]
			for j := 0; j < m; j++ {
				at := func(y, x int) float64 { return lin[(y*w+x)*m+j] }
				want := float64(a.L0)*(float64(b.L0)*at(a.I0, b.I0)+float64(b.L1)*at(a.I0, b.I1)) +
					float64(a.L1)*(float64(b.L0)*at(a.I1, b.I0)+float64(b.L1)*at(a.I1, b.I1))
				if g := float64(got[(oy*ow+ox)*m+j]); math.Abs(g-want) > 1e-4 || math.IsNaN(g) {
					return fmt.Errorf("pixel (%d,%d) channel %d: got %g, want %g", oy, ox, j, g, want)
				}
			}
		}
	}
	return nil
}
