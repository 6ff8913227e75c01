package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/model/torchckpt"
)

// export of a .demt (f32, f16, int8) or a checkpoint writes a .pth whose state dict holds the
// official keys in the official order, float32 and int64, with the values the model holds; the
// f32 export verifies against the fixture like the original checkpoint.
func TestExport(t *testing.T) {
	dir := fixtureDir(t, "swin-nyud-small")
	ckpt := filepath.Join(dir, "model.pth")
	raw, err := torchckpt.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := model.NormalizeKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.InferConfig(orig)
	if err != nil {
		t.Fatal(err)
	}
	var official []string
	for _, k := range model.ExpectedKeys(cfg) {
		official = append(official, k.Name)
	}
	if !slices.Equal(orig.Names(), official) {
		t.Fatal("the fixture checkpoint is not in the official order")
	}

	tmp := t.TempDir()
	for _, dtype := range []string{"ckpt", "f32", "f16", "int8"} {
		t.Run(dtype, func(t *testing.T) {
			in, want := ckpt, orig
			if dtype != "ckpt" {
				in = filepath.Join(tmp, dtype+".demt")
				mustRun(t, "convert", ckpt, "-o", in, "--dtype", dtype, "--precise", "none")
				f, err := demtfile.ReadFile(in, nil)
				if err != nil {
					t.Fatal(err)
				}
				want = f.Weights
			}
			out := filepath.Join(tmp, dtype+".pth")
			stdout := mustRun(t, "export", "--model", in, "-o", out)
			if !strings.HasPrefix(stdout, "wrote "+out+": ") || !strings.Contains(stdout, "keys (") {
				t.Errorf("stdout %q", stdout)
			}
			got, err := torchckpt.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Names(), official) {
				t.Fatalf("exported keys are not the official ones in order")
			}
			for _, g := range got.Tensors {
				w := want.Get(g.Name)
				if !slices.Equal(g.Shape, w.Shape) {
					t.Fatalf("%s: shape %v, want %v", g.Name, g.Shape, w.Shape)
				}
				if w.I64 != nil {
					if g.DType != model.I64 || !slices.Equal(g.I64, w.I64) {
						t.Fatalf("%s: %s %v, want int64 %v", g.Name, g.DType, g.I64, w.I64)
					}
					continue
				}
				if g.DType != model.F32 {
					t.Fatalf("%s: exported as %s, want float32", g.Name, g.DType)
				}
				for i, v := range w.F32 {
					if math.Float32bits(g.F32[i]) != math.Float32bits(v) {
						t.Fatalf("%s[%d] = %v, want %v", g.Name, i, g.F32[i], v)
					}
				}
			}
			if dtype == "f32" {
				mustRun(t, "verify", "--fixture", dir, "--model", out, "--device", "cpu")
			}
		})
	}
}

func TestExportNeverOverwritesInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "m.demt")
	mustRun(t, "convert", filepath.Join(fixtureDir(t, "swin-nyud-small"), "model.pth"), "-o", in)
	orig, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pth")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, filepath.Join(dir, ".", "m.demt"), link} {
		code, _, stderr := runCmd(t, "export", "--model", in, "-o", out)
		if code != exitFail {
			t.Fatalf("export -o %s: exit %d", out, code)
		}
		checkOneLineError(t, stderr)
		if b, _ := os.ReadFile(in); !bytes.Equal(b, orig) {
			t.Fatalf("export -o %s changed the input", out)
		}
	}
	for _, args := range [][]string{
		{"export", "-o", filepath.Join(dir, "x.pth")},
		{"export", "--model", in},
		{"export", "--model", in, "-o", filepath.Join(dir, "x.pth"), "extra"},
	} {
		code, _, stderr := runCmd(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		checkOneLineError(t, stderr)
	}
	code, _, stderr := runCmd(t, "export", "--model", filepath.Join(dir, "missing.demt"), "-o", filepath.Join(dir, "x.pth"))
	if code != exitFail {
		t.Errorf("missing model: exit %d", code)
	}
	checkOneLineError(t, stderr)
	if _, err := os.Stat(filepath.Join(dir, "x.pth")); err == nil {
		t.Error("a failed export left an output file")
	}
}
