package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/torchckpt"
	"github.com/demt-web/demt/npy"
	"github.com/demt-web/demt/train"
)

// TrainCheck is one comparison of a training fixture: an output, a loss, a parameter
// gradient, a BatchNorm buffer or an SGD update, with the error measure the fixture README
// prescribes for its group.
type TrainCheck struct {
	Group   string // out_train, loss, grad, bn_after, sgd_step
	Name    string
	Err     float64 // the measure (Measure names it)
	Tol     float64
	Measure string
	OK      bool
}

// trainManifest is the part of a training fixture's manifest.json that is read.
type trainManifest struct {
	Kind    string `json:"kind"`
	Dataset string `json:"dataset"`
	Arrays  []struct {
		Name string `json:"name"`
		File string `json:"file"`
	} `json:"arrays"`
	Parameters []struct {
		Name        string  `json:"name"`
		GradFile    string  `json:"grad_file"`
		SGDFile     string  `json:"sgd_step_file"`
		GradF32vs64 float64 `json:"grad_f32_vs_f64_rel_l2"`
	} `json:"parameters"`
	BNAfter []struct {
		Name  string `json:"name"`
		File  string `json:"file"`
		DType string `json:"dtype"`
	} `json:"bn_after"`
	Losses struct {
		PerImage      []map[string]json.RawMessage `json:"per_image"`
		Objective     float64                      `json:"objective_float64"`
		EdgePosWeight float64                      `json:"edge_pos_weight"`
	} `json:"losses"`
	Optimizer struct {
		SGD struct {
			LRStep1 []float64 `json:"lr_step1"`
		} `json:"sgd"`
	} `json:"optimizer"`
}

// IsTrainFixture reports whether dir holds a training fixture (manifest "kind": "train").
func IsTrainFixture(dir string) bool {
	m, err := readTrainManifest(dir)
	return err == nil && m.Kind == "train"
}

func readTrainManifest(dir string) (*trainManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m trainManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	return &m, nil
}

// Train runs one official training step of a training fixture in Go — the train-mode
// forward of its batch (one image per emulated device, SyncBatchNorm), the official losses,
// the backward and one official SGD step — and compares every output, loss, parameter
// gradient, BatchNorm buffer and update with the reference (tolerances of the fixture
// README). threads is the CPU worker count (0 = all cores).
func Train(dir string, threads int) ([]TrainCheck, error) {
	man, err := readTrainManifest(dir)
	if err != nil {
		return nil, err
	}
	if man.Kind != "train" {
		return nil, fmt.Errorf("manifest kind %q, want \"train\"", man.Kind)
	}
	raw, err := torchckpt.ReadFile(filepath.Join(dir, "model.pth"))
	if err != nil {
		return nil, fmt.Errorf("model.pth: %w", err)
	}
	w, err := model.NormalizeKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("model.pth: %w", err)
	}
	cfg, err := model.InferConfig(w)
	if err != nil {
		return nil, fmt.Errorf("model.pth: %w", err)
	}
	in, err := npy.ReadFile(filepath.Join(dir, "input.npy"))
	if err != nil {
		return nil, err
	}
	if len(in.Shape) != 4 || in.Shape[1] != 3 {
		return nil, fmt.Errorf("input.npy: shape %v, want (N,3,H,W)", in.Shape)
	}
	n, h, wd := in.Shape[0], in.Shape[2], in.Shape[3]
	images := splitNCHW(in.Float32(), n, 3, h, wd)

	// θ0 of every parameter the fixture lists (before anything changes them).
	theta0 := map[string][]float32{}
	for _, p := range man.Parameters {
		t := w.Get(p.Name)
		if t == nil || t.F32 == nil {
			return nil, fmt.Errorf("parameter %s: not a float tensor of model.pth", p.Name)
		}
		theta0[p.Name] = append([]float32(nil), t.F32...)
	}
	tracked0 := map[string]int64{}
	for _, b := range man.BNAfter {
		if t := w.Get(b.Name); t != nil && len(t.I64) == 1 {
			tracked0[b.Name] = t.I64[0]
		}
	}

	p, err := model.Build(cfg, w, h, wd)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	tr, err := cpu.NewTrainer(p, w, cpu.TrainerOptions{Images: n, Threads: threads})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	if err := tr.Forward(images); err != nil {
		return nil, err
	}
	var checks []TrainCheck

	// Outputs.
	for k, o := range p.Outputs {
		ref, err := npy.ReadFile(filepath.Join(dir, "out_train_"+o.Task+".npy"))
		if err != nil {
			return nil, err
		}
		c := p.Tensors[o.Tensor].Shape.C
		var got []float32
		for img := 0; img < n; img++ {
			got = append(got, model.CHWFromHWC(tr.Output(img, k), h, wd, c)...)
		}
		if len(got) != ref.Numel() {
			return nil, fmt.Errorf("out_train_%s: %d values, reference %v", o.Task, len(got), ref.Shape)
		}
		d := fixture.Compare(got, ref.Float32())
		checks = append(checks, TrainCheck{Group: "out_train", Name: o.Task, Err: d.RelL2, Tol: 1e-4,
			Measure: fmt.Sprintf("relL2 (max|diff| %.2e)", d.MaxAbs), OK: d.OK()})
	}

	// Losses and the output gradients.
	pos := man.Losses.EdgePosWeight
	objective := 0.0
	for k, o := range p.Outputs {
		l, err := train.NewLoss(o.Task, pos)
		if err != nil {
			return nil, err
		}
		lc := train.LabelChannels(o.Task)
		lab, err := npy.ReadFile(filepath.Join(dir, "labels", o.Task+".npy"))
		if err != nil {
			return nil, err
		}
		if len(lab.Shape) != 4 || lab.Shape[0] != n || lab.Shape[1] != lc {
			return nil, fmt.Errorf("labels/%s.npy: shape %v", o.Task, lab.Shape)
		}
		labels := splitNCHW(lab.Float32(), n, lc, h, wd)
		c := p.Tensors[o.Tensor].Shape.C
		for img := 0; img < n; img++ {
			v, err := l.Eval(tr.Output(img, k), labels[img], h, wd, c, l.Weight/float64(n), tr.OutputGrad(img, k))
			if err != nil {
				return nil, fmt.Errorf("image %d: %w", img, err)
			}
			objective += l.Weight * v / float64(n)
			if img < len(man.Losses.PerImage) {
				var ref struct {
					Loss float64 `json:"loss"`
				}
				if r, ok := man.Losses.PerImage[img][o.Task]; ok && json.Unmarshal(r, &ref) == nil {
					e := relErr(v, ref.Loss)
					checks = append(checks, TrainCheck{Group: "loss", Name: fmt.Sprintf("%s[%d]", o.Task, img), Err: e, Tol: 1e-5, Measure: "rel", OK: e <= 1e-5})
				}
			}
		}
	}
	e := relErr(objective, man.Losses.Objective)
	checks = append(checks, TrainCheck{Group: "loss", Name: "objective", Err: e, Tol: 1e-5, Measure: "rel", OK: e <= 1e-5})

	// BatchNorm buffers after the forward.
	for _, b := range man.BNAfter {
		ref, err := npy.ReadFile(filepath.Join(dir, b.File))
		if err != nil {
			return nil, err
		}
		t := w.Get(b.Name)
		if t == nil {
			return nil, fmt.Errorf("bn_after %s: no such tensor in model.pth", b.Name)
		}
		if ref.I64 != nil || t.I64 != nil {
			ok := len(ref.I64) == 1 && len(t.I64) == 1 && ref.I64[0] == t.I64[0] && t.I64[0] == tracked0[b.Name]+1
			diff := math.Inf(1)
			if len(ref.I64) == 1 && len(t.I64) == 1 {
				diff = math.Abs(float64(t.I64[0] - ref.I64[0]))
			}
			checks = append(checks, TrainCheck{Group: "bn_after", Name: b.Name, Err: diff, Tol: 0, Measure: "exact", OK: ok})
			continue
		}
		if len(t.F32) != ref.Numel() {
			return nil, fmt.Errorf("bn_after %s: %d values, reference %v", b.Name, len(t.F32), ref.Shape)
		}
		d := fixture.Compare(t.F32, ref.Float32())
		checks = append(checks, TrainCheck{Group: "bn_after", Name: b.Name, Err: d.RelL2, Tol: 1e-5, Measure: "relL2", OK: d.RelL2 <= 1e-5})
	}

	// Backward.
	tr.ZeroGrad()
	tr.Backward()
	grads := map[string][]float32{}
	for _, tp := range tr.Params() {
		grads[tp.Name] = tp.Grad
	}
	var params []train.Param
	for _, mp := range man.Parameters {
		ref, err := npy.ReadFile(filepath.Join(dir, mp.GradFile))
		if err != nil {
			return nil, err
		}
		g := grads[mp.Name]
		if g == nil { // a parameter the plan never reads: its gradient is zero
			g = make([]float32, len(theta0[mp.Name]))
		}
		if len(g) != ref.Numel() {
			return nil, fmt.Errorf("grad %s: %d values, reference %v", mp.Name, len(g), ref.Shape)
		}
		d := fixture.Compare(g, ref.Float32())
		tol := math.Max(1e-4, 10*mp.GradF32vs64)
		checks = append(checks, TrainCheck{Group: "grad", Name: mp.Name, Err: d.RelL2, Tol: tol, Measure: "relL2", OK: d.RelL2 <= tol && !math.IsNaN(d.RelL2)})
		params = append(params, train.Param{Name: mp.Name, Value: w.Get(mp.Name).F32, Grad: g})
	}

	// One official SGD step.
	opt, err := train.New(train.OfficialSGD(40000), params)
	if err != nil {
		return nil, err
	}
	if lr := man.Optimizer.SGD.LRStep1; len(lr) > 0 && relErr(opt.LR(), lr[0]) > 1e-9 {
		return nil, fmt.Errorf("sgd: first learning rate %v, reference %v", opt.LR(), lr[0])
	}
	opt.Step()
	for _, mp := range man.Parameters {
		ref, err := npy.ReadFile(filepath.Join(dir, mp.SGDFile))
		if err != nil {
			return nil, err
		}
		t0, t1, r1 := theta0[mp.Name], w.Get(mp.Name).F32, ref.Float32()
		if len(r1) != len(t0) {
			return nil, fmt.Errorf("sgd_step %s: reference %v for %d values", mp.Name, ref.Shape, len(t0))
		}
		maxRef := 0.0
		for i := range t0 {
			maxRef = math.Max(maxRef, math.Abs(float64(r1[i])-float64(t0[i])))
		}
		worst, ok := 0.0, true
		for i := range t0 {
			got, want := float64(t1[i])-float64(t0[i]), float64(r1[i])-float64(t0[i])
			tol := 1e-4*maxRef + 2*ulp(t0[i])
			err := math.Abs(got - want)
			if !(err <= tol) {
				ok = false
			}
			if tol > 0 {
				worst = math.Max(worst, err/tol)
			} else if err > 0 {
				worst = math.Inf(1)
			}
		}
		checks = append(checks, TrainCheck{Group: "sgd_step", Name: mp.Name, Err: worst, Tol: 1,
			Measure: "max |err|/(1e-4·max|update| + 2 ulp θ0)", OK: ok})
	}
	return checks, nil
}

// splitNCHW returns the n images of an (N,C,H,W) array as channels-last [H,W,C] slices.
func splitNCHW(data []float32, n, c, h, w int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = model.HWCFromCHW(data[i*c*h*w:(i+1)*c*h*w], c, h, w)
	}
	return out
}

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// ulp is the spacing of float32 values at v.
func ulp(v float32) float64 {
	a := float32(math.Abs(float64(v)))
	return float64(math.Nextafter32(a, float32(math.Inf(1))) - a)
}
