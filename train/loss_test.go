package train

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/npy"
)

// trainCase is what the loss and optimiser tests read of a training fixture's manifest.
type trainCase struct {
	dir      string
	Manifest struct {
		Losses struct {
			PerImage      []map[string]json.RawMessage `json:"per_image"`
			Objective     float64                      `json:"objective"`
			Objective64   float64                      `json:"objective_float64"`
			TaskWeights   map[string]float64           `json:"task_weights"`
			EdgePosWeight float64                      `json:"edge_pos_weight"`
		} `json:"losses"`
		Parameters []struct {
			Name        string `json:"name"`
			Shape       []int  `json:"shape"`
			GradFile    string `json:"grad_file"`
			SGDStepFile string `json:"sgd_step_file"`
		} `json:"parameters"`
	}
}

func trainCases(t *testing.T) []*trainCase {
	t.Helper()
	root := filepath.Join(fixture.Root(t), "train")
	var cases []*trainCase
	for _, name := range []string{"swin-nyud-train", "swin-pascal-train"} {
		c := &trainCase{dir: filepath.Join(root, name)}
		b, err := os.ReadFile(filepath.Join(c.dir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &c.Manifest); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cases = append(cases, c)
	}
	return cases
}

// readNCHW reads an (N, C, H, W) float32 array and returns it channels-last [N, H, W, C].
func readNCHW(t *testing.T, path string) (data []float32, n, c, h, w int) {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 4 {
		t.Fatalf("%s: shape %v, want 4 dimensions", path, a.Shape)
	}
	n, c, h, w = a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]
	src := a.Float32()
	data = make([]float32, len(src))
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < h*w; p++ {
				data[(i*h*w+p)*c+ch] = src[((i*c+ch)*h*w)+p]
			}
		}
	}
	return data, n, c, h, w
}

func taskOrder(m map[string]float64) []string {
	var ts []string
	for _, t := range []string{"semseg", "human_parts", "sal", "normals", "depth", "edge"} {
		if _, ok := m[t]; ok {
			ts = append(ts, t)
		}
	}
	return ts
}

func TestLossesMatchOfficial(t *testing.T) {
	for _, tc := range trainCases(t) {
		m := tc.Manifest.Losses
		tasks := taskOrder(m.TaskWeights)
		var losses []Loss
		var logits, labels [][]float32
		var n, h, w int
		for _, task := range tasks {
			l, err := NewLoss(task, m.EdgePosWeight)
			if err != nil {
				t.Fatal(err)
			}
			if l.Weight != m.TaskWeights[task] {
				t.Errorf("%s weight %v, manifest %v", task, l.Weight, m.TaskWeights[task])
			}
			losses = append(losses, l)
			z, nn, _, hh, ww := readNCHW(t, filepath.Join(tc.dir, "out_train_"+task+".npy"))
			y, _, _, _, _ := readNCHW(t, filepath.Join(tc.dir, "labels", task+".npy"))
			n, h, w = nn, hh, ww
			logits, labels = append(logits, z), append(labels, y)
		}
		r, err := Batch(losses, n, h, w, logits, labels, nil)
		if err != nil {
			t.Fatal(err)
		}
		rel := func(got, want float64) float64 { return math.Abs(got-want) / math.Max(math.Abs(want), 1e-30) }
		worst := 0.0
		for i, per := range m.PerImage {
			for ti, task := range tasks {
				var ref struct{ Loss float64 }
				if err := json.Unmarshal(per[task], &ref); err != nil {
					t.Fatal(err)
				}
				got := r.PerImage[i][ti]
				if ref.Loss == 0 {
					if got != 0 {
						t.Errorf("%s image %d %s: got %v, want 0", filepath.Base(tc.dir), i, task, got)
					}
					continue
				}
				e := rel(got, ref.Loss)
				worst = math.Max(worst, e)
				if e > 1e-5 {
					t.Errorf("%s image %d %s: got %.9g, want %.9g (rel %.2g)", filepath.Base(tc.dir), i, task, got, ref.Loss, e)
				}
			}
			var tot float64
			if err := json.Unmarshal(per["total"], &tot); err != nil {
				t.Fatal(err)
			}
			if e := rel(r.Total[i], tot); e > 1e-5 {
				t.Errorf("%s image %d total %.9g, want %.9g", filepath.Base(tc.dir), i, r.Total[i], tot)
			}
		}
		if e := rel(r.Objective, m.Objective64); e > 1e-5 {
			t.Errorf("%s objective %.9g, want %.9g (rel %.2g)", filepath.Base(tc.dir), r.Objective, m.Objective64, e)
		}
		t.Logf("%s: objective %.9g (float64 reference %.9g), worst task rel. error %.2g", filepath.Base(tc.dir), r.Objective, m.Objective64, worst)
	}
}

// TestLossGradients checks d Objective / d logits against central differences in float64 on
// small random images, every task, including ignored pixels and an all-ignored image.
func TestLossGradients(t *testing.T) {
	const n, h, w = 2, 5, 7
	r := rand.New(rand.NewPCG(3, 4))
	channels := map[string]int{"semseg": 5, "human_parts": 7, "sal": 2, "normals": 3, "depth": 1, "edge": 1}
	var losses []Loss
	var logits, labels, grads [][]float32
	for _, task := range []string{"semseg", "human_parts", "sal", "normals", "depth", "edge"} {
		l, err := NewLoss(task, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		c, lc := channels[task], LabelChannels(task)
		z := make([]float32, n*h*w*c)
		for i := range z {
			z[i] = float32(r.NormFloat64() * 2)
		}
		y := make([]float32, n*h*w*lc)
		for p := 0; p < n*h*w; p++ {
			for j := 0; j < lc; j++ {
				switch task {
				case "normals":
					y[p*lc+j] = float32(r.Float64()*2 - 1)
				case "depth":
					y[p] = float32(r.Float64() * 3)
				case "edge", "sal":
					y[p] = float32(r.IntN(2))
				default:
					y[p] = float32(r.IntN(c))
				}
			}
			if r.IntN(5) == 0 || task == "human_parts" && p >= h*w {
				for j := 0; j < lc; j++ {
					y[p*lc+j] = Ignore
				}
			}
		}
		losses = append(losses, l)
		logits, labels = append(logits, z), append(labels, y)
		grads = append(grads, make([]float32, len(z)))
	}
	res, err := Batch(losses, n, h, w, logits, labels, grads)
	if err != nil {
		t.Fatal(err)
	}
	if res.PerImage[1][1] != 0 {
		t.Errorf("all-ignored human_parts image: loss %v, want 0", res.PerImage[1][1])
	}
	// The float32 logits are perturbed by ±eps; the objective is computed in float64.
	const eps = 1e-3
	for ti, l := range losses {
		worst := 0.0
		for i := range logits[ti] {
			orig := logits[ti][i]
			logits[ti][i] = orig + eps
			up, _ := Batch(losses, n, h, w, logits, labels, nil)
			logits[ti][i] = orig - eps
			dn, _ := Batch(losses, n, h, w, logits, labels, nil)
			logits[ti][i] = orig
			hh := float64(orig+eps) - float64(orig-eps)
			fd := (up.Objective - dn.Objective) / hh
			e := math.Abs(fd - float64(grads[ti][i]))
			worst = math.Max(worst, e)
			// L1 kinks sit at measure-zero points; the random data keeps every pixel ≥ eps away.
			if e > 2e-4*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s logit %d: analytic %.6g, finite difference %.6g", l.Task, i, grads[ti][i], fd)
			}
		}
		t.Logf("%s: worst |analytic − FD| %.2g", l.Task, worst)
	}
}
