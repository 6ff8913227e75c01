package synth

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var small = Options{Height: 48, Width: 64, Seed: 7}

func TestRenderDeterministic(t *testing.T) {
	for _, i := range []int{0, 3, 11} {
		a, err := Render(small, i)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Render(small, i)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("scene %d: two renders differ", i)
		}
		other := small
		other.Seed++
		c, _ := Render(other, i)
		if bytes.Equal(a.RGB, c.RGB) {
			t.Errorf("scene %d: seeds %d and %d give the same image", i, small.Seed, other.Seed)
		}
	}
	a, _ := Render(small, 0)
	b, _ := Render(small, 1)
	if bytes.Equal(a.RGB, b.RGB) {
		t.Error("scenes 0 and 1 are the same image")
	}
}

func TestRenderRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Height: 4, Width: 64}, {Height: 64, Width: 0}, {Height: 5000, Width: 64}} {
		if _, err := Render(o, 0); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := Render(small, -1); err == nil {
		t.Error("index -1: no error")
	}
}

// Culling by screen rectangle and bounds is an optimisation only: testing every
// primitive at every pixel must give the same sample.
func TestCullingChangesNothing(t *testing.T) {
	for i := 0; i < 6; i++ {
		r := newRNG(small.Seed, i)
		sc := newScene(r, small.Height, small.Width, DefaultSalientClasses())
		a := sc.render(small.Height, small.Width, r)
		r = newRNG(small.Seed, i)
		sc = newScene(r, small.Height, small.Width, DefaultSalientClasses())
		sc.noCull = true
		b := sc.render(small.Height, small.Width, r)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("scene %d: culled and unculled renders differ", i)
		}
	}
}

// The labels are exact geometry: floor pixels back-project onto the plane y = 0 and have
// the world normal (0, 1, 0); every normal is a unit vector facing the camera; depths lie
// in [DepthNear, DepthFar]; human parts, saliency and classes agree.
func TestLabelsAreExactGeometry(t *testing.T) {
	opt := Options{Height: 64, Width: 80, Seed: 3}
	floorPixels, persons := 0, 0
	for i := 0; i < 12; i++ {
		s, err := Render(opt, i)
		if err != nil {
			t.Fatal(err)
		}
		c := s.cam
		for y := 0; y < s.Height; y++ {
			for x := 0; x < s.Width; x++ {
				p := y*s.Width + x
				d := float64(s.Depth[p])
				if d < DepthNear || d > DepthFar {
					t.Fatalf("scene %d pixel (%d,%d): depth %g outside [%g, %g]", i, y, x, d, DepthNear, DepthFar)
				}
				n := vec3{float64(s.Normals[3*p]), float64(s.Normals[3*p+1]), float64(s.Normals[3*p+2])}
				sx := 2*(float64(x)+0.5)/float64(s.Width) - 1
				sy := 1 - 2*(float64(y)+0.5)/float64(s.Height)
				view := vec3{sx * c.tanX, sy * c.tanY, -1} // the pixel's ray in the camera frame
				if math.Abs(n.dot(n)-1) > 1e-5 || n.dot(view) >= 0 {
					t.Fatalf("scene %d pixel (%d,%d): normal %v not a unit vector facing the camera", i, y, x, n)
				}
				cls := int(s.Semseg[p])
				if s.HasPerson && (s.HumanParts[p] != 0) != (cls == ClassPerson) {
					t.Fatalf("scene %d pixel (%d,%d): class %d but human part %d", i, y, x, cls, s.HumanParts[p])
				}
				if !s.HasPerson && s.HumanParts[p] != 255 {
					t.Fatalf("scene %d: no person but human part %d", i, s.HumanParts[p])
				}
				if (s.Sal[p] == 1) != (cls == ClassPerson || cls == ClassPlant) {
					t.Fatalf("scene %d pixel (%d,%d): class %d, sal %d", i, y, x, cls, s.Sal[p])
				}
				if int(s.InstanceClass[s.Instance[p]]) != cls {
					t.Fatalf("scene %d pixel (%d,%d): instance %d of class %d on a class-%d pixel", i, y, x, s.Instance[p], s.InstanceClass[s.Instance[p]], cls)
				}
				if cls != ClassFloor {
					continue
				}
				floorPixels++
				ray := c.f.add(c.r.scale(sx * c.tanX)).add(c.u.scale(sy * c.tanY)) // unit z-depth
				if wy := c.pos.add(ray.scale(d)).y; math.Abs(wy) > 1e-5*(1+d) {
					t.Fatalf("scene %d pixel (%d,%d): floor point at height %g", i, y, x, wy)
				}
				nw := c.r.scale(n.x).add(c.u.scale(n.y)).sub(c.f.scale(n.z))
				if math.Abs(nw.y-1) > 1e-5 {
					t.Fatalf("scene %d pixel (%d,%d): floor normal %v in the world", i, y, x, nw)
				}
			}
		}
		if s.HasPerson {
			persons++
		}
	}
	if floorPixels == 0 || persons == 0 {
		t.Errorf("12 scenes: %d floor pixels, %d with people", floorPixels, persons)
	}
}

func TestPrimitiveHits(t *testing.T) {
	o, d := vec3{0, 0, -5}, vec3{0, 0, 1}
	cases := []struct {
		name string
		p    prim
		o, d vec3
		t    float64
		n    vec3
	}{
		{"box", box(-1, -1, -1, 1, 1, 1, 0), o, d, 4, vec3{0, 0, -1}},
		{"box from above", box(-1, -1, -1, 1, 1, 1, 0), vec3{0.5, 3, 0}, vec3{0, -1, 0}, 2, vec3{0, 1, 0}},
		{"box miss", box(2, 2, 2, 3, 3, 3, 0), o, d, -1, vec3{}},
		{"sphere", sphere(vec3{0, 0, 0}, 2, 0), o, d, 3, vec3{0, 0, -1}},
		{"sphere miss", sphere(vec3{0, 3, 0}, 2, 0), o, d, -1, vec3{}},
		{"cylinder side", cyl(0, 0, -1, 1, 0.5, 0), o, d, 4.5, vec3{0, 0, -1}},
		{"cylinder cap", cyl(0, 0, -1, 1, 0.5, 0), vec3{0.1, 4, 0}, vec3{0, -1, 0}, 3, vec3{0, 1, 0}},
		{"cylinder above", cyl(0, 0, -1, 1, 0.5, 0), vec3{0, 1.5, -5}, d, -1, vec3{}},
		{"capsule body", capsule(vec3{0, -1, 0}, vec3{0, 1, 0}, 0.5, 0), o, d, 4.5, vec3{0, 0, -1}},
		{"capsule end", capsule(vec3{0, -1, 0}, vec3{0, 1, 0}, 0.5, 0), vec3{0, 5, 0}, vec3{0, -1, 0}, 3.5, vec3{0, 1, 0}},
		{"capsule end sphere", capsule(vec3{0, -1, 0}, vec3{0, 1, 0}, 0.5, 0), vec3{0, 1.3, -5}, d, 5 - math.Sqrt(0.25-0.09), vec3{0, 0.6, -math.Sqrt(0.25-0.09) / 0.5}},
		{"capsule miss", capsule(vec3{0, -1, 0}, vec3{0, 1, 0}, 0.5, 0), vec3{0, 1.6, -5}, d, -1, vec3{}},
	}
	for _, c := range cases {
		got := hitPrim(&c.p, c.o, c.d, 1e-9, 100)
		if math.Abs(got-c.t) > 1e-9 {
			t.Errorf("%s: t = %g, want %g", c.name, got, c.t)
			continue
		}
		if got < 0 {
			continue
		}
		q := c.o.add(c.d.scale(got))
		n := primNormal(&c.p, q)
		if c.p.kind == primBox {
			n = boxNormal(c.o, c.d, c.p.a, c.p.b)
		}
		if n.sub(c.n).dot(n.sub(c.n)) > 1e-12 {
			t.Errorf("%s: normal %v, want %v", c.name, n, c.n)
		}
	}
}

func TestSeg2bmap(t *testing.T) {
	seg := []uint16{
		1, 1, 2,
		1, 1, 2,
		3, 3, 3,
	}
	want := []uint8{
		0, 1, 0,
		1, 1, 1,
		0, 0, 0,
	}
	got := make([]uint8, 9)
	seg2bmap(seg, 3, 3, got)
	if !bytes.Equal(got, want) {
		t.Errorf("seg2bmap = %v, want %v", got, want)
	}
}

// Colours are drawn independently of the class: a classifier that knows only a pixel's
// colour (a class histogram per colour cell, fitted on other scenes) does barely better
// than always answering the most frequent class.
func TestColourIsNoShortcut(t *testing.T) {
	opt := Options{Height: 48, Width: 64, Seed: 11}
	const cells = 8 // per channel
	hist := make([][NumClasses]int, cells*cells*cells)
	var prior [NumClasses]int
	cell := func(s *Sample, p int) int {
		c := 0
		for k := 0; k < 3; k++ {
			c = c*cells + int(s.RGB[3*p+k])*cells/256
		}
		return c
	}
	for i := 0; i < 60; i++ {
		s, _ := Render(opt, i)
		for p := range s.Semseg {
			hist[cell(s, p)][s.Semseg[p]]++
			prior[s.Semseg[p]]++
		}
	}
	argmax := func(h [NumClasses]int) int {
		best := 0
		for k := range h {
			if h[k] > h[best] {
				best = k
			}
		}
		return best
	}
	major := argmax(prior)
	byColour, byPrior, total := 0, 0, 0
	for i := 60; i < 100; i++ {
		s, _ := Render(opt, i)
		for p := range s.Semseg {
			if argmax(hist[cell(s, p)]) == int(s.Semseg[p]) {
				byColour++
			}
			if int(s.Semseg[p]) == major {
				byPrior++
			}
			total++
		}
	}
	ac, ap := float64(byColour)/float64(total), float64(byPrior)/float64(total)
	t.Logf("pixel accuracy from colour %.3f, from the class prior %.3f", ac, ap)
	if ac > ap+0.08 {
		t.Errorf("colour predicts the class too well: %.3f vs prior %.3f", ac, ap)
	}
}

func TestGenerateSameFilesWithAnyWorkers(t *testing.T) {
	for _, l := range []Layout{LayoutNative, LayoutNYUD, LayoutPASCAL} {
		t.Run(l.String(), func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			opt := GenerateOptions{Options: Options{Height: 32, Width: 40, Seed: 5}, Count: 5, Layout: l, Workers: 1}
			if _, err := Generate(a, opt); err != nil {
				t.Fatal(err)
			}
			opt.Workers = 3
			if _, err := Generate(b, opt); err != nil {
				t.Fatal(err)
			}
			fa, fb := readTree(t, a), readTree(t, b)
			if len(fa) != len(fb) {
				t.Fatalf("%d files vs %d", len(fa), len(fb))
			}
			for name, da := range fa {
				if !bytes.Equal(da, fb[name]) {
					t.Errorf("%s differs between 1 and 3 workers", name)
				}
			}
		})
	}
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGenerateNativeLayout(t *testing.T) {
	dir := t.TempDir()
	m, err := Generate(dir, GenerateOptions{Options: Options{Height: 32, Width: 40, Seed: 1}, Count: 12})
	if err != nil {
		t.Fatal(err)
	}
	if m.Train != 11 || m.Val != 1 {
		t.Errorf("split %d/%d, want 11/1", m.Train, m.Val)
	}
	files := readTree(t, dir)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(files) != 1+2+12*7 {
		t.Errorf("%d files: %v", len(files), names)
	}
	if got := string(files["splits/val.txt"]); got != "000011\n" {
		t.Errorf("val.txt = %q", got)
	}
	if !strings.HasPrefix(string(files["splits/train.txt"]), "000000\n000001\n") {
		t.Errorf("train.txt = %q", files["splits/train.txt"])
	}
	for _, f := range []string{"images/000003.png", "depth/000003.npy", "normals/000011.npy", "human_parts/000000.png"} {
		if len(files[f]) == 0 {
			t.Errorf("%s missing", f)
		}
	}
}

func TestGenerateNeverOverwritesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(user, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := GenerateOptions{Options: Options{Height: 16, Width: 16, Seed: 1}, Count: 3}
	if _, err := Generate(dir, opt); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("non-empty folder: err = %v", err)
	}
	if b, _ := os.ReadFile(user); string(b) != "mine" {
		t.Fatal("user file changed")
	}

	// An earlier output may be regenerated; samples beyond the new count go away.
	out := t.TempDir()
	if _, err := Generate(out, opt); err != nil {
		t.Fatal(err)
	}
	opt.Count = 2
	if _, err := Generate(out, opt); err != nil {
		t.Fatalf("regenerating an earlier output: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "images", "000002.png")); !os.IsNotExist(err) {
		t.Errorf("stale sample kept: %v", err)
	}
	opt.Layout = LayoutNYUD
	if _, err := Generate(out, opt); err != nil {
		t.Fatalf("switching layout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "images", "000000.png")); !os.IsNotExist(err) {
		t.Errorf("native sample kept after switching to nyud: %v", err)
	}
}

func TestContactSheet(t *testing.T) {
	var ss []*Sample
	for i := 0; i < 3; i++ {
		s, _ := Render(small, i)
		ss = append(ss, s)
	}
	rgba, h, w := ContactSheet(ss)
	if h != 3*small.Height+4 || w != 7*small.Width+12 || len(rgba) != 4*h*w {
		t.Fatalf("sheet %dx%d (%d bytes)", h, w, len(rgba))
	}
	// The first tile of row 0 is the image itself.
	for x := 0; x < small.Width; x++ {
		if !bytes.Equal(rgba[4*x:4*x+3], ss[0].RGB[3*x:3*x+3]) {
			t.Fatalf("pixel (0,%d) of the sheet is not the image", x)
		}
	}
}
