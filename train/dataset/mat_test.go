package dataset

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
)

func TestMatReadsPASCALFiles(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "train", "swin-pascal-train", "data", "PASCALContext")
	vars, err := readMatFile(filepath.Join(dir, "pascal-context", "trainval", "swin_pascal_train_0.mat"))
	if err != nil {
		t.Fatal(err)
	}
	lm, h, w, err := vars["LabelMap"].image()
	if err != nil || h != 34 || w != 41 || len(lm) != h*w {
		t.Fatalf("LabelMap %dx%d, %v", h, w, err)
	}
	vars, err = readMatFile(filepath.Join(dir, "human_parts", "swin_pascal_train_0.mat"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := vars["anno"].field(0, "objects")
	if err != nil {
		t.Fatal(err)
	}
	cls, err := objs.field(1, "class")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := cls.str(); s != "person" {
		t.Fatalf("object 1 class %q, want person", s)
	}
}

func TestMatRejectsBadFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixture.Root(t), "train", "swin-pascal-train", "data", "PASCALContext", "pascal-context", "trainval", "swin_pascal_train_0.mat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{nil, good[:100], good[:200], append(append([]byte{}, good[:128]...), 14, 0, 0, 0, 255, 255, 255, 127)} {
		if _, err := parseMat(b); err == nil {
			t.Errorf("a %d-byte broken file was accepted", len(b))
		}
	}
}

func FuzzParseMat(f *testing.F) {
	root, err := fixture.RootDir()
	if err == nil {
		for _, p := range []string{"pascal-context/trainval/swin_pascal_train_1.mat", "human_parts/swin_pascal_train_1.mat"} {
			if b, err := os.ReadFile(filepath.Join(root, "train", "swin-pascal-train", "data", "PASCALContext", p)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := parseMat(b)
		if err != nil {
			return
		}
		for _, v := range vars {
			v.image() // must not panic
			v.str()
		}
	})
}
