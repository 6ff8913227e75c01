package dataset

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/npy"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func gray(h, w int, v func(y, x int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.SetGray(x, y, color.Gray{v(y, x)})
		}
	}
	return g
}

// writeSynth writes a 2-sample dataset in the native synthetic layout (layout.md).
func writeSynth(t *testing.T, h, w int) string {
	t.Helper()
	dir := t.TempDir()
	meta := SynthMeta{Format: "demt-synth", Version: 1, Height: h, Width: w, Seed: 1, Count: 2,
		Tasks:             []string{"semseg", "human_parts", "sal", "normals", "edge", "depth"},
		SemsegClasses:     []string{"floor", "wall", "box"},
		HumanPartsClasses: HumanPartClasses, DepthUnit: "m", DepthRange: []float64{0.5, 10}}
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(dir, "dataset.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "splits"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "splits", "train.txt"), []byte("000000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "splits", "val.txt"), []byte("000001\n\n"), 0o644)
	for i, name := range []string{"000000", "000001"} {
		rgb := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				rgb.Set(x, y, color.RGBA{uint8(10 * x), uint8(10 * y), uint8(50 * i), 255})
			}
		}
		writePNG(t, filepath.Join(dir, "images", name+".png"), rgb)
		writePNG(t, filepath.Join(dir, "semseg", name+".png"), gray(h, w, func(y, x int) uint8 {
			return []uint8{0, 1, 2, 255}[(x+y)%4]
		}))
		writePNG(t, filepath.Join(dir, "human_parts", name+".png"), gray(h, w, func(y, x int) uint8 {
			if i == 1 {
				return 255 // no person
			}
			return uint8(x % 7)
		}))
		writePNG(t, filepath.Join(dir, "sal", name+".png"), gray(h, w, func(y, x int) uint8 { return uint8(255 * (x / 2 % 2)) }))
		writePNG(t, filepath.Join(dir, "edge", name+".png"), gray(h, w, func(y, x int) uint8 { return uint8(255 * b2i(x == y)) }))
		depth := make([]float32, h*w)
		normals := make([]float32, h*w*3)
		for p := range depth {
			depth[p] = float32(p%5) * 0.5 // 0 = invalid
			normals[3*p+2] = 1
		}
		os.MkdirAll(filepath.Join(dir, "depth"), 0o755)
		os.MkdirAll(filepath.Join(dir, "normals"), 0o755)
		if err := npy.WriteFloat32File(filepath.Join(dir, "depth", name+".npy"), []int{h, w}, depth); err != nil {
			t.Fatal(err)
		}
		if err := npy.WriteFloat32File(filepath.Join(dir, "normals", name+".npy"), []int{h, w, 3}, normals); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSynthReader(t *testing.T) {
	const h, w = 6, 9
	dir := writeSynth(t, h, w)
	r, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Layout() != LayoutSynth || len(r.Tasks()) != 6 || r.ClassNames("semseg")[2] != "box" {
		t.Fatalf("layout %s, tasks %v, classes %v", r.Layout(), r.Tasks(), r.ClassNames("semseg"))
	}
	val, err := r.Split("val")
	if err != nil || len(val) != 1 || val[0] != "000001" {
		t.Fatalf("val split %v, %v", val, err)
	}
	for _, id := range []string{"000000", "000001"} {
		s, err := r.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		EvalTransform(s, 0, 0)
		if s.H != h || s.W != w || len(s.Image) != h*w*3 || !s.Normalized {
			t.Fatalf("%s: %dx%d", id, s.H, s.W)
		}
		// Pixel (0,1): semseg 1, sal 0 (x=1), edge 0; pixel (0,2): sal 1; (1,1): edge 1.
		if s.Labels["semseg"][1] != 1 || s.Labels["semseg"][3] != Ignore {
			t.Errorf("%s: semseg %v", id, s.Labels["semseg"][:4])
		}
		if s.Labels["sal"][1] != 0 || s.Labels["sal"][2] != 1 || s.Labels["edge"][w+1] != 1 || s.Labels["edge"][1] != 0 {
			t.Errorf("%s: sal/edge not mapped to 0/1", id)
		}
		if s.Labels["depth"][0] != Ignore || s.Labels["depth"][1] != 0.5 {
			t.Errorf("%s: depth %v (0 must become 255)", id, s.Labels["depth"][:2])
		}
		hp := s.Labels["human_parts"]
		if id == "000001" && hp[3] != Ignore || id == "000000" && hp[3] != 3 {
			t.Errorf("%s: human_parts %v", id, hp[:4])
		}
		if want := ((0/255.0 - 0.485) / 0.229); float32(want)-s.Image[0] > 1e-6 {
			t.Errorf("%s: image not normalised: %v", id, s.Image[0])
		}
	}
	// A task filter keeps only the asked tasks; an absent task is an error.
	f, err := Open(dir, []string{"depth", "sal"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Load("000000")
	if err != nil || len(s.Labels) != 2 {
		t.Fatalf("filtered labels %v, %v", s.Labels, err)
	}
}

func TestOpenErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := Open(empty, nil); err == nil || !strings.Contains(err.Error(), "not a known layout") {
		t.Fatalf("empty folder: %v", err)
	}
	dir := writeSynth(t, 4, 4)
	if err := os.Remove(filepath.Join(dir, "depth", "000001.npy")); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load("000001"); err == nil || !strings.Contains(err.Error(), "000001") {
		t.Fatalf("missing depth: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "splits", "bad.txt"), []byte("../etc\n"), 0o644)
	if _, err := r.Split("bad"); err == nil {
		t.Fatal("a split with a path in an id was accepted")
	}
	os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(`{"format":"other"}`), 0o644)
	if _, err := Open(dir, nil); err == nil {
		t.Fatal("a dataset.json of another format was accepted")
	}
	if _, err := Open(writeSynth(t, 4, 4), []string{"pose"}); err == nil {
		t.Fatal("an unknown task was accepted")
	}
}

func TestPadTo(t *testing.T) {
	s := &Sample{H: 1, W: 2, Image: []float32{1, 2, 3, 4, 5, 6}, Labels: map[string][]float32{
		"semseg": {1, 2}, "depth": {3, 4}, "normals": {0, 0, 1, 0, 1, 0}}}
	PadTo(s, 3, 5)
	AddIgnoreRegions(s)
	if s.H != 3 || s.W != 5 || s.PadTop != 1 || s.PadLeft != 1 {
		t.Fatalf("%dx%d at (%d,%d)", s.H, s.W, s.PadTop, s.PadLeft)
	}
	if s.Labels["semseg"][0] != Ignore || s.Labels["semseg"][6] != 1 || s.Labels["depth"][0] != Ignore || s.Labels["depth"][7] != 4 {
		t.Fatalf("labels %v %v", s.Labels["semseg"], s.Labels["depth"])
	}
	if n := s.Labels["normals"]; n[0] != Ignore || n[18] != 0 || n[20] != 1 {
		t.Fatalf("normals %v", n)
	}
	if s.Image[0] != 0 || s.Image[18] != 1 {
		t.Fatalf("image %v", s.Image)
	}
}

// TestOpenOfficialLayoutBesideManifest: 'synth --layout nyud' writes DIR/NYUDv2 beside a
// dataset.json manifest; Open reads the official layout there.
func TestOpenOfficialLayoutBesideManifest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(`{"format":"demt-synth","version":1,"layout":"nyud"}`), 0o644)
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "layout \"nyud\"") {
		t.Fatalf("layout nyud without NYUDv2/: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "NYUDv2", "gt_sets"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "NYUDv2", "gt_sets", "val.txt"), []byte("a\n"), 0o644)
	r, err := Open(dir, nil)
	if err != nil || r.Layout() != LayoutNYUD {
		t.Fatalf("Open: %v, %v; want the NYUD-v2 reader", r, err)
	}
}
