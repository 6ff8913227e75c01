package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
	"github.com/demt-web/demt/train/dataset"
	"github.com/demt-web/demt/train/metrics"
)

// convertTrainFixture converts a train fixture's model.pth into a temp .demt.
func convertTrainFixture(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".demt")
	mustRun(t, "convert", filepath.Join(fixture.Root(t), "train", name, "model.pth"), "-o", out)
	return out
}

// evalJSON runs eval --json and decodes its output.
func evalJSON(t *testing.T, args ...string) map[string]map[string]float64 {
	t.Helper()
	stdout := mustRun(t, append([]string{"eval", "--json", "--device", "cpu"}, args...)...)
	var got map[string]map[string]float64
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("eval --json output is not one JSON object: %v\n%s", err, stdout)
	}
	return got
}

// readNCHWImages reads an (N,C,H,W) array as channels-last images.
func readNCHWImages(t *testing.T, path string) (imgs [][]float32, c, h, w int) {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, h, w = a.Shape[1], a.Shape[2], a.Shape[3]
	src := a.Float32()
	for i := 0; i < a.Shape[0]; i++ {
		imgs = append(imgs, model.HWCFromCHW(src[i*c*h*w:(i+1)*c*h*w], c, h, w))
	}
	return imgs, c, h, w
}

// window is where an image lies in its padded h×w maps.
type window struct{ top, left, h, w int }

// cut returns the window of a channels-last map of width w0.
func (c window) cut(v []float32, w0, ch int) []float32 {
	var out []float32
	for y := c.top; y < c.top+c.h; y++ {
		out = append(out, v[(y*w0+c.left)*ch:(y*w0+c.left+c.w)*ch]...)
	}
	return out
}

// directMetrics accumulates the metrics package directly over per-image outputs and labels
// (h×w); the edge maps are first cut to each image's window, as the official code crops them.
func directMetrics(t *testing.T, outs, labels map[string][][]float32, channels map[string]int, h, w int, maxDist float64, windows []window) map[string]map[string]float64 {
	t.Helper()
	res := map[string]map[string]float64{}
	for task, imgs := range outs {
		acc, err := metrics.ForTask(task, channels[task], maxDist)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range imgs {
			l, ih, iw := labels[task][i], h, w
			if task == "edge" {
				c := windows[i]
				o, l, ih, iw = c.cut(o, w, 1), c.cut(l, w, 1), c.h, c.w
			}
			if err := acc.Add(o, l, ih, iw); err != nil {
				t.Fatal(err)
			}
		}
		res[task] = map[string]float64{}
		for _, v := range acc.Values() {
			res[task][v.Name] = v.Value
		}
	}
	return res
}

// compareMetrics checks that every metric of want is in got, finite and within tol
// (relative, or absolute below 1).
func compareMetrics(t *testing.T, got, want map[string]map[string]float64, tol float64) {
	t.Helper()
	official := map[string]string{"semseg": "mIoU", "human_parts": "mIoU", "sal": "maxF",
		"normals": "mean_angle_error", "depth": "rmse", "edge": "odsF"}
	if len(got) != len(want) {
		t.Errorf("tasks %v, want %v", keys(got), keys(want))
	}
	for task, vals := range want {
		if _, ok := got[task][official[task]]; !ok {
			t.Errorf("%s: no %s in the output", task, official[task])
		}
		for name, v := range vals {
			g, ok := got[task][name]
			if !ok || math.IsNaN(g) || math.IsInf(g, 0) {
				t.Errorf("%s %s: %v (present %v), want a finite value", task, name, g, ok)
				continue
			}
			if math.Abs(g-v) > tol*max(1, math.Abs(v)) {
				t.Errorf("%s %s: eval %.9g, direct %.9g", task, name, g, v)
			}
		}
	}
}

func keys(m map[string]map[string]float64) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// TestEvalNYUDMatchesOfficialOutputs: at the fixture's padded size the CPU forward is the
// official eval forward, so eval's metrics equal the metrics package run on the fixture's
// official outputs (out_eval_*) and labels.
func TestEvalNYUDMatchesOfficialOutputs(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "train", "swin-nyud-train")
	m := convertTrainFixture(t, "swin-nyud-train")
	got := evalJSON(t, "--model", m, "--data", filepath.Join(dir, "data"), "--split", "train", "--pad", "32x48")
	outs, labels, channels := map[string][][]float32{}, map[string][][]float32{}, map[string]int{}
	var h, w int
	for _, task := range []string{"semseg", "depth", "normals", "edge"} {
		outs[task], channels[task], h, w = readNCHWImages(t, filepath.Join(dir, "out_eval_"+task+".npy"))
		labels[task], _, _, _ = readNCHWImages(t, filepath.Join(dir, "labels", task+".npy"))
	}
	var man struct {
		Input struct {
			Images []struct {
				RawSize []int `json:"raw_size"`
				PadTL   []int `json:"pad_top_left"`
			} `json:"images"`
		} `json:"input"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	var windows []window
	for _, im := range man.Input.Images {
		windows = append(windows, window{im.PadTL[0], im.PadTL[1], im.RawSize[0], im.RawSize[1]})
	}
	if len(windows) != 2 || windows[0] == (window{0, 0, h, w}) {
		t.Fatalf("fixture image windows %v: want image 0 padded", windows)
	}
	// The forward agrees with the reference to ~1e-6: metrics built from counts agree to
	// float noise unless an argmax or an 8-bit edge level flips.
	compareMetrics(t, got, directMetrics(t, outs, labels, channels, h, w, metrics.MaxDistNYUD, windows), 1e-4)
}

// TestEvalPASCALConsistentWithInfer: eval on the PASCAL fixture's data folder agrees with
// the metrics package run on what 'infer --raw' gives for the same normalised, padded inputs.
func TestEvalPASCALConsistentWithInfer(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "train", "swin-pascal-train")
	m := convertTrainFixture(t, "swin-pascal-train")
	got := evalJSON(t, "--model", m, "--data", filepath.Join(dir, "data"), "--split", "val", "--pad", "34x46")

	r, err := dataset.Open(filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r.Split("val")
	if err != nil {
		t.Fatal(err)
	}
	outs, labels, channels := map[string][][]float32{}, map[string][][]float32{}, map[string]int{}
	var windows []window
	tmp := t.TempDir()
	for _, id := range ids {
		s, err := r.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		dataset.EvalTransform(s, 34, 46)
		windows = append(windows, window{s.PadTop, s.PadLeft, s.RawH, s.RawW})
		in := filepath.Join(tmp, id+".npy")
		if err := npy.WriteFloat32File(in, []int{1, 3, s.H, s.W}, model.CHWFromHWC(s.Image, s.H, s.W, 3)); err != nil {
			t.Fatal(err)
		}
		od := filepath.Join(tmp, id)
		mustRun(t, "infer", "--model", m, "--npy", in, "--raw", "-o", od, "--device", "cpu")
		for _, task := range r.Tasks() {
			o, c, _, _ := readNCHWImages(t, filepath.Join(od, "out_"+task+".npy"))
			outs[task] = append(outs[task], o[0])
			channels[task] = c
			labels[task] = append(labels[task], s.Labels[task])
		}
	}
	compareMetrics(t, got, directMetrics(t, outs, labels, channels, 34, 46, metrics.MaxDistPASCAL, windows), 1e-9)
	// Image 1 has no person: human_parts comes from image 0 alone, still a number.
	if v := got["human_parts"]["mIoU"]; v <= 0 || v > 100 {
		t.Fatalf("human_parts mIoU %v", v)
	}
}

func TestEvalTable(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "train", "swin-nyud-train")
	m := convertTrainFixture(t, "swin-nyud-train")
	stdout := mustRun(t, "eval", "--model", m, "--data", filepath.Join(dir, "data"), "--pad", "32x48", "--device", "cpu", "--limit", "1")
	for _, want := range []string{"task", "semseg", "mIoU", "depth", "rmse", "normals", "mean_angle_error", "edge", "odsF"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestEvalBadInputs(t *testing.T) {
	root := fixture.Root(t)
	nyud := filepath.Join(root, "train", "swin-nyud-train", "data")
	pascal := filepath.Join(root, "train", "swin-pascal-train", "data")
	m := convertTrainFixture(t, "swin-pascal-train")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval", "--data", nyud}, 2, "--model is required"},
		{[]string{"eval", "--model", m}, 2, "--data DIR is required"},
		{[]string{"eval", "--model", m, "--data", nyud, "--pad", "x"}, 2, "--pad"},
		{[]string{"eval", "--model", m, "--data", t.TempDir()}, 1, "not a known layout"},
		{[]string{"eval", "--model", m, "--data", pascal, "--split", "test"}, 1, "split test"},
		// A --size below the model's 16-pixel minimum.
		{[]string{"eval", "--model", m, "--data", pascal, "--size", "15x20", "--device", "cpu"}, 1, "minimum"},
		// A PASCAL model (21 classes) on NYUD data (40 classes).
		{[]string{"eval", "--model", m, "--data", nyud, "--pad", "32x48", "--device", "cpu"}, 1, "21 classes"},
	}
	for _, c := range cases {
		code, _, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args[1:], code, stderr, c.code, c.want)
			continue
		}
		checkOneLineError(t, stderr)
	}
}

func TestVerifyMetricFixtures(t *testing.T) {
	for _, name := range []string{"nyud", "pascal"} {
		dir := filepath.Join(fixture.Root(t), "metrics", name)
		stdout := mustRun(t, "verify", "--fixture", dir)
		if !strings.Contains(stdout, " checks, 0 failed") || strings.Contains(stdout, "FAIL") ||
			!strings.Contains(stdout, "mIoU") || !strings.Contains(stdout, "odsF") {
			t.Fatalf("%s:\n%s", name, stdout)
		}
	}
	// A fixture whose expected value is off by 1e-4 relative fails with exit 1.
	src := filepath.Join(fixture.Root(t), "metrics", "nyud")
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "expected.json" {
			b = []byte(strings.Replace(string(b), `"value": 0.9813544750213623`, `"value": 0.9814544750213623`, 1))
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCmd(t, "verify", "--fixture", dst)
	if code != 1 || !strings.Contains(stdout, "FAIL") {
		t.Fatalf("a wrong expected value: exit %d, stdout:\n%s", code, stdout)
	}
	checkOneLineError(t, stderr)
	// A metric fixture without its arrays: one-line error, exit 1.
	bare := t.TempDir()
	if err := os.WriteFile(filepath.Join(bare, "expected.json"), []byte(`{"kind":"metrics","tasks":[{"name":"depth","channels":1}],"results":{"depth":{}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, "verify", "--fixture", bare)
	if code != 1 || !strings.Contains(stderr, "pred_depth.npy") {
		t.Fatalf("metric fixture without arrays: exit %d, stderr %q", code, stderr)
	}
	checkOneLineError(t, stderr)
	if code, _, _ := runCmd(t, "verify", "--fixture", src, "--model", "x.demt"); code != 2 {
		t.Fatalf("--model with a metric fixture: exit %d, want 2", code)
	}
}
