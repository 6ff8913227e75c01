package evaluate

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/npy"
	"github.com/demt-web/demt/train/dataset"
)

const testH, testW = 40, 48

// writeDataset writes a synthetic-layout dataset whose image encodes its labels: red =
// 50·class, green = 255·salient, blue = 255·edge; depth = class + 1 m; normals (0, 0, 1).
func writeDataset(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	meta := dataset.SynthMeta{Format: "demt-synth", Version: 1, Height: testH, Width: testW, Count: 2,
		Tasks: []string{"semseg", "sal", "normals", "edge", "depth"}, SemsegClasses: []string{"a", "b", "c"}}
	b, _ := json.Marshal(meta)
	must(t, os.WriteFile(filepath.Join(dir, "dataset.json"), b, 0o644))
	for _, d := range []string{"splits", "images", "semseg", "sal", "edge", "depth", "normals"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(dir, "splits", "val.txt"), []byte("a\nb\n"), 0o644))
	for i, id := range []string{"a", "b"} {
		img := image.NewRGBA(image.Rect(0, 0, testW, testH))
		seg, sal, edge := image.NewGray(img.Rect), image.NewGray(img.Rect), image.NewGray(img.Rect)
		depth, normals := make([]float32, testH*testW), make([]float32, testH*testW*3)
		for y := 0; y < testH; y++ {
			for x := 0; x < testW; x++ {
				class := (x/16 + i) % 3
				s := uint8(255 * btoi(y >= 20))
				e := uint8(255 * btoi(x == 16 || x == 32))
				img.Set(x, y, color.RGBA{uint8(50 * class), s, e, 255})
				seg.SetGray(x, y, color.Gray{uint8(class)})
				sal.SetGray(x, y, color.Gray{s})
				edge.SetGray(x, y, color.Gray{e})
				depth[y*testW+x] = float32(class + 1)
				normals[(y*testW+x)*3+2] = 1
			}
		}
		writePNG(t, filepath.Join(dir, "images", id+".png"), img)
		writePNG(t, filepath.Join(dir, "semseg", id+".png"), seg)
		writePNG(t, filepath.Join(dir, "sal", id+".png"), sal)
		writePNG(t, filepath.Join(dir, "edge", id+".png"), edge)
		must(t, npy.WriteFloat32File(filepath.Join(dir, "depth", id+".npy"), []int{testH, testW}, depth))
		must(t, npy.WriteFloat32File(filepath.Join(dir, "normals", id+".npy"), []int{testH, testW, 3}, normals))
	}
	return dir
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, png.Encode(f, img))
}

// oracle is a Forward that reads the labels back out of the normalised image.
func oracle(img []float32, h, w int) (map[string][]float32, error) {
	out := map[string][]float32{
		"semseg": make([]float32, h*w*3), "sal": make([]float32, h*w*2), "edge": make([]float32, h*w),
		"depth": make([]float32, h*w), "normals": make([]float32, h*w*3), "human_parts": make([]float32, h*w*7),
	}
	for p := 0; p < h*w; p++ {
		var rgb [3]float64
		for c := range rgb {
			rgb[c] = (float64(img[3*p+c])*float64(dataset.Std[c]) + float64(dataset.Mean[c])) * 255
		}
		class := min(max(int(math.Round(rgb[0]/50)), 0), 2)
		out["semseg"][3*p+class] = 10
		out["sal"][2*p+btoi(rgb[1] > 128)] = 10
		out["edge"][p] = float32(20*btoi(rgb[2] > 128) - 10)
		out["depth"][p] = float32(class + 1)
		out["normals"][3*p+2] = 2
	}
	return out, nil
}

var allTasks = []Task{{"semseg", 3}, {"human_parts", 7}, {"sal", 2}, {"normals", 3}, {"edge", 1}, {"depth", 1}}

func values(res *Result) map[string]float64 {
	m := map[string]float64{}
	for _, t := range res.Tasks {
		for _, v := range t.Values {
			m[t.Task+" "+v.Name] = v.Value
		}
	}
	return m
}

func TestRunWithAPerfectModel(t *testing.T) {
	dir := writeDataset(t)
	r, err := dataset.Open(dir, nil)
	must(t, err)
	ids, err := r.Split("val")
	must(t, err)
	for _, pad := range []int{0, 64} {
		calls := 0
		res, err := Run(r, ids, oracle, Options{Tasks: allTasks, PadH: pad, PadW: pad, Progress: func(done, total int) { calls++ }})
		must(t, err)
		v := values(res)
		want := map[string]float64{"semseg mIoU": 100, "sal maxF": 100, "normals mean_angle_error": 0, "depth rmse": 0, "edge odsF": 100}
		for k, w := range want {
			if math.Abs(v[k]-w) > 1e-9 {
				t.Errorf("pad %d: %s = %v, want %v", pad, k, v[k], w)
			}
		}
		if len(res.Skipped) != 1 || res.Skipped[0] != "human_parts" {
			t.Fatalf("skipped %v, want [human_parts]", res.Skipped)
		}
		if len(res.Tasks) != 5 || res.Images != 2 || calls != 2 || res.MaxDist != 0.011 {
			t.Fatalf("pad %d: %d tasks (human_parts has no labels: want 5), %d images, %d progress calls, maxDist %v",
				pad, len(res.Tasks), res.Images, calls, res.MaxDist)
		}
	}
	// At another model size the outputs are resized back: boundaries blur a little.
	res, err := Run(r, ids, oracle, Options{Tasks: allTasks, SizeH: 80, SizeW: 96})
	must(t, err)
	v := values(res)
	if v["semseg mIoU"] < 90 || v["sal maxF"] < 90 || v["depth rmse"] > 0.5 || math.IsNaN(v["edge odsF"]) {
		t.Fatalf("at 80x96: %v", v)
	}
}

func TestRunErrors(t *testing.T) {
	dir := writeDataset(t)
	r, err := dataset.Open(dir, nil)
	must(t, err)
	cases := []struct {
		tasks []Task
		fwd   Forward
		want  string
	}{
		{[]Task{{"semseg", 5}}, oracle, "the model predicts 5 classes, the dataset has 3"},
		{[]Task{{"human_parts", 7}}, oracle, "nothing in common"},
		{[]Task{{"depth", 1}}, func([]float32, int, int) (map[string][]float32, error) { return map[string][]float32{}, nil }, "no depth output"},
		{[]Task{{"depth", 1}}, func(_ []float32, h, w int) (map[string][]float32, error) {
			return map[string][]float32{"depth": make([]float32, 3)}, nil
		}, "depth output has 3 values"},
	}
	for _, c := range cases {
		_, err := Run(r, []string{"a"}, c.fwd, Options{Tasks: c.tasks})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	if _, err := Run(r, []string{"zz"}, oracle, Options{Tasks: allTasks}); err == nil {
		t.Error("a missing sample was accepted")
	}
}
