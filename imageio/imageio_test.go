package imageio

import (
	"bytes"
	"github.com/demt-web/demt/colormap"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
)

var (
	imagenetMean = [3]float32{0.485, 0.456, 0.406}
	imagenetStd  = [3]float32{0.229, 0.224, 0.225}
)

// TestNormalizeMatchesFixture checks Decode + Normalize against the official transform's
// input.npy for every model fixture.
func TestNormalizeMatchesFixture(t *testing.T) {
	for _, m := range fixture.All(t) {
		t.Run(m.Name, func(t *testing.T) {
			rgb, h, w, err := Decode(filepath.Join(m.Dir, "input.png"))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := npy.ReadFile(filepath.Join(m.Dir, "input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{1, 3, h, w}; !slices.Equal(ref.Shape, want) {
				t.Fatalf("input.npy shape %v, decoded image %dx%d", ref.Shape, h, w)
			}
			got := Normalize(rgb, h, w, imagenetMean, imagenetStd)
			want := model.HWCFromCHW(ref.Float32(), 3, h, w)
			var worst float64
			for i := range want {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			if worst > 1e-6 {
				t.Fatalf("max |diff| %g > 1e-6", worst)
			}
		})
	}
}

func writeImage(t *testing.T, name string, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if filepath.Ext(name) == ".jpg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDecodeFormats(t *testing.T) {
	rect := image.Rect(0, 0, 2, 1)
	nrgba := image.NewNRGBA(rect)
	nrgba.SetNRGBA(0, 0, color.NRGBA{10, 20, 30, 0}) // transparent: colour kept
	nrgba.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128})
	gray := image.NewGray(rect)
	gray.SetGray(0, 0, color.Gray{7})
	gray.SetGray(1, 0, color.Gray{250})
	gray16 := image.NewGray16(rect)
	gray16.SetGray16(0, 0, color.Gray16{0x1234})
	gray16.SetGray16(1, 0, color.Gray16{0xff00})
	pal := image.NewPaletted(rect, color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{4, 5, 6, 255}})
	pal.SetColorIndex(0, 0, 1)
	rgba64 := image.NewRGBA64(rect)
	rgba64.SetRGBA64(0, 0, color.RGBA64{0x0102, 0x0304, 0x0506, 0xffff})
	rgba64.SetRGBA64(1, 0, color.RGBA64{0xff00, 0x8000, 0x0000, 0xffff})
	rgb := image.NewRGBA(rect)
	rgb.SetRGBA(0, 0, color.RGBA{9, 8, 7, 255})
	rgb.SetRGBA(1, 0, color.RGBA{255, 0, 128, 255})

	cases := []struct {
		name string
		img  image.Image
		want []uint8
	}{
		{"nrgba.png", nrgba, []uint8{10, 20, 30, 200, 100, 50}},
		{"gray.png", gray, []uint8{7, 7, 7, 250, 250, 250}},
		{"gray16.png", gray16, []uint8{0x12, 0x12, 0x12, 0xff, 0xff, 0xff}},
		{"palette.png", pal, []uint8{4, 5, 6, 1, 2, 3}},
		{"rgb16.png", rgba64, []uint8{1, 3, 5, 0xff, 0x80, 0}},
		{"rgb.png", rgb, []uint8{9, 8, 7, 255, 0, 128}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, h, w, err := Decode(writeImage(t, c.name, c.img))
			if err != nil {
				t.Fatal(err)
			}
			if h != 1 || w != 2 || !bytes.Equal(got, c.want) {
				t.Fatalf("got %dx%d %v, want 1x2 %v", h, w, got, c.want)
			}
		})
	}
}

func TestDecodeJPEG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []uint8{200, 60, 30, 255})
	}
	got, h, w, err := Decode(writeImage(t, "flat.jpg", img))
	if err != nil {
		t.Fatal(err)
	}
	if h != 16 || w != 16 {
		t.Fatalf("size %dx%d", h, w)
	}
	for i, v := range got {
		want := []int{200, 60, 30}[i%3]
		if d := int(v) - want; d < -3 || d > 3 {
			t.Fatalf("value %d at %d, want %d±3", v, i, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.png")
	if err := os.WriteFile(garbage, []byte("not an image at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{garbage, filepath.Join(dir, "missing.png")} {
		if _, _, _, err := Decode(path); err == nil {
			t.Errorf("Decode(%s): no error", path)
		}
	}
}

func TestNormalizeRounding(t *testing.T) {
	got := Normalize([]uint8{0, 255, 128}, 1, 1, [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.25, 2})
	want := []float32{-1, 2, (float32(128)/255 - 0.5) / 2}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("channel %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestResizeRGB(t *testing.T) {
	cases := []struct {
		name         string
		in           []uint8
		h, w, nh, nw int
		want         []uint8
	}{
		{"identity", []uint8{1, 2, 3, 4, 5, 6}, 1, 2, 1, 2, []uint8{1, 2, 3, 4, 5, 6}},
		// 1x2 → 1x4: source x = (o+0.5)/2−0.5 = 0 (clamped), 0.25, 0.75, 1 (clamped).
		{"upscale", []uint8{0, 0, 0, 200, 100, 40}, 1, 2, 1, 4,
			[]uint8{0, 0, 0, 50, 25, 10, 150, 75, 30, 200, 100, 40}},
		// 2x2 → 1x1: the centre, the mean of all four.
		{"downscale", []uint8{0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40}, 2, 2, 1, 1,
			[]uint8{85, 85, 85}},
		{"single pixel", []uint8{9, 8, 7}, 1, 1, 2, 3, []uint8{9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ResizeRGB(c.in, c.h, c.w, c.nh, c.nw)
			if !bytes.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestColorize(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct {
		name     string
		task     string
		channels int
		hwc      []float32
		h, w     int
		want     []uint8 // RGB per pixel (alpha is always 255)
	}{
		{"semseg argmax", "semseg", 3, []float32{0, 5, 1, 9, 0, 0, 1, 1, 2}, 1, 3,
			[]uint8{128, 0, 0, 0, 0, 0, 0, 128, 0}},
		{"semseg tie first wins", "semseg", 2, []float32{3, 3}, 1, 1, []uint8{0, 0, 0}},
		{"human_parts", "human_parts", 5, []float32{0, 0, 0, 0, 1}, 1, 1, []uint8{0, 0, 128}},
		{"unknown multi-channel", "foo", 2, []float32{0, 1}, 1, 1, []uint8{128, 0, 0}},
		// depth clamps at 0 → values 0, 0, 2, 4 → t = 0, 0, 0.5, 1.
		{"depth", "depth", 1, []float32{-3, 0, 2, 4}, 1, 4,
			[]uint8{35, 23, 27, 35, 23, 27, 150, 250, 80, 144, 13, 0}},
		{"depth constant", "depth", 1, []float32{1, 1}, 1, 2, []uint8{35, 23, 27, 35, 23, 27}},
		// (0,0,2) → (0,0,1) → (127.5, 127.5, 255) truncated; (3,4,0) → (0.6,0.8,0).
		{"normals", "normals", 3, []float32{0, 0, 2, 3, 4, 0}, 1, 2,
			[]uint8{127, 127, 255, 204, 229, 127}},
		{"normals zero", "normals", 3, []float32{0, 0, 0}, 1, 1, []uint8{127, 127, 127}},
		// sigmoid(0)=0.5 → 127; sigmoid(2)=0.8808 → 224; -inf → 0; +inf → 255.
		{"edge", "edge", 1, []float32{0, 2, -inf, inf}, 2, 2,
			[]uint8{127, 127, 127, 224, 224, 224, 0, 0, 0, 255, 255, 255}},
		// softmax channel 1: sigmoid(l1-l0): (0,0) → 127, (1,3) → sigmoid(2) → 224.
		{"sal", "sal", 2, []float32{0, 0, 1, 3}, 1, 2, []uint8{127, 127, 127, 224, 224, 224}},
		{"sal one channel", "sal", 1, []float32{2}, 1, 1, []uint8{224, 224, 224}},
		{"unknown one channel", "foo", 1, []float32{-1, 0, 1}, 1, 3,
			[]uint8{0, 0, 0, 128, 128, 128, 255, 255, 255}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Colorize(c.task, c.channels, c.hwc, c.h, c.w)
			if len(got) != c.h*c.w*4 {
				t.Fatalf("%d bytes, want %d", len(got), c.h*c.w*4)
			}
			var rgb []uint8
			for p := 0; p < c.h*c.w; p++ {
				rgb = append(rgb, got[4*p:4*p+3]...)
				if got[4*p+3] != 255 {
					t.Fatalf("pixel %d alpha %d", p, got[4*p+3])
				}
			}
			if !bytes.Equal(rgb, c.want) {
				t.Fatalf("got %v, want %v", rgb, c.want)
			}
		})
	}
}

func TestPalette(t *testing.T) {
	pal := colormap.Palette()
	want := map[int][3]uint8{
		0: {0, 0, 0}, 1: {128, 0, 0}, 2: {0, 128, 0}, 3: {128, 128, 0}, 4: {0, 0, 128},
		7: {128, 128, 128}, 8: {64, 0, 0}, 15: {192, 128, 128}, 20: {0, 64, 128}, 255: {224, 224, 192},
	}
	for i, w := range want {
		if pal[i] != w {
			t.Errorf("palette[%d] = %v, want %v", i, pal[i], w)
		}
	}
	seen := map[[3]uint8]bool{}
	for _, c := range pal {
		if seen[c] {
			t.Fatalf("colour %v repeats", c)
		}
		seen[c] = true
	}
}

func TestLegend(t *testing.T) {
	got := Legend("human_parts", []string{"background", "head", "torso"})
	want := "0\tbackground\t#000000\n1\thead\t#800000\n2\ttorso\t#008000\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Legend("depth", []string{"a", "b"}); got != "" {
		t.Errorf("depth legend %q, want empty", got)
	}
	if got := Legend("semseg", nil); got != "" {
		t.Errorf("legend without names %q, want empty", got)
	}
}

func TestWritePNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.png")
	rgba := []uint8{1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255, 13, 14, 15, 255, 16, 17, 18, 255}
	if err := WritePNG(path, rgba, 2, 3); err != nil {
		t.Fatal(err)
	}
	rgb, h, w, err := Decode(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	if h != 2 || w != 3 || !bytes.Equal(rgb, want) {
		t.Fatalf("read back %dx%d %v", h, w, rgb)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("%d files in the folder, want only out.png", len(ents))
	}
	if err := WritePNG(path, rgba[:5], 2, 3); err == nil {
		t.Fatal("short pixel buffer: no error")
	}
	if err := WritePNG(filepath.Join(t.TempDir(), "no", "such", "dir.png"), rgba, 2, 3); err == nil {
		t.Fatal("missing folder: no error")
	}
}
