// Package verify compares the tensors of a plan run with the reference arrays of an
// official fixture folder, applying each array's layout (NCHW, NHWC, N,L,C).
package verify

import (
	"fmt"
	"path/filepath"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
)

// Result is the comparison of one fixture array.
type Result struct {
	Name string
	Diff fixture.Diff
	OK   bool
}

// Input loads a fixture's input.npy, (1,3,H,W), as a channels-last [H,W,3] image.
func Input(m *fixture.Model) (data []float32, h, w int, err error) {
	a, err := npy.ReadFile(filepath.Join(m.Dir, "input.npy"))
	if err != nil {
		return nil, 0, 0, err
	}
	if len(a.Shape) != 4 || a.Shape[0] != 1 || a.Shape[1] != 3 {
		return nil, 0, 0, fmt.Errorf("%s: input shape %v, want (1,3,H,W)", m.Dir, a.Shape)
	}
	h, w = a.Shape[2], a.Shape[3]
	return model.HWCFromCHW(a.Float32(), 3, h, w), h, w, nil
}

// Compare reads every array the manifest lists and compares it with the plan tensor of the
// same (official) name; get returns a tensor's channels-last data after the run.
func Compare(p *model.Plan, m *fixture.Model, get func(id int) ([]float32, error)) ([]Result, error) {
	var out []Result
	for _, a := range m.Manifest.Arrays {
		id := p.TensorByName(a.Name)
		if id == model.NoTensor {
			return out, fmt.Errorf("fixture array %s: no plan tensor of that name", a.Name)
		}
		ref, err := npy.ReadFile(filepath.Join(m.Dir, a.File))
		if err != nil {
			return out, err
		}
		got, err := get(id)
		if err != nil {
			return out, fmt.Errorf("%s: %w", a.Name, err)
		}
		s := p.Tensors[id].Shape
		if len(got) != ref.Numel() {
			return out, fmt.Errorf("%s: plan tensor %s has %d values, reference %v has %d", a.Name, s, len(got), ref.Shape, ref.Numel())
		}
		if a.Layout == "NCHW" {
			if len(ref.Shape) != 4 || ref.Shape[1] != s.C || ref.Shape[2] != s.H || ref.Shape[3] != s.W {
				return out, fmt.Errorf("%s: reference shape %v, plan %s", a.Name, ref.Shape, s)
			}
			got = model.CHWFromHWC(got, s.H, s.W, s.C)
		}
		d := fixture.Compare(got, ref.Float32())
		out = append(out, Result{Name: a.Name, Diff: d, OK: d.OK()})
	}
	return out, nil
}
