package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/train/synth"
)

func TestSynthWritesDatasetAndPreview(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "synth")
	out := mustRun(t, "synth", "-o", dir, "-n", "4", "--size", "24x32", "--seed", "9", "--json")
	var m synth.Manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if m.Count != 4 || m.Height != 24 || m.Width != 32 || m.Seed != 9 || m.Train+m.Val != 4 || m.Layout != "native" {
		t.Errorf("manifest %+v", m)
	}
	for _, f := range []string{"dataset.json", "splits/train.txt", "splits/val.txt", "images/000003.png", "depth/000000.npy"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// Rewriting an earlier output is allowed; a user's folder is not touched.
	mustRun(t, "synth", "-o", dir, "-n", "2", "--size", "24x32")
	user := t.TempDir()
	os.WriteFile(filepath.Join(user, "keep.txt"), []byte("x"), 0o644)
	code, _, stderr := runCmd(t, "synth", "-o", user, "-n", "2", "--size", "24x32")
	if code != exitFail || !strings.Contains(stderr, "refusing") {
		t.Errorf("non-empty user folder: exit %d, stderr %q", code, stderr)
	}
	checkOneLineError(t, stderr)

	sheet := filepath.Join(t.TempDir(), "sheet.png")
	out = mustRun(t, "synth", "--preview", sheet, "-n", "2", "--size", "24x32")
	if !strings.Contains(out, "2 scenes") {
		t.Errorf("preview output %q", out)
	}
	if fi, err := os.Stat(sheet); err != nil || fi.Size() == 0 {
		t.Errorf("sheet: %v", err)
	}

	for _, l := range []string{"nyud", "pascal"} {
		d := filepath.Join(t.TempDir(), l)
		mustRun(t, "synth", "-o", d, "--layout", l, "-n", "2", "--size", "24x32")
		root := map[string]string{"nyud": "NYUDv2", "pascal": "PASCALContext"}[l]
		if _, err := os.Stat(filepath.Join(d, root)); err != nil {
			t.Error(err)
		}
	}
}

func TestSynthUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"synth"},
		{"synth", "-o", t.TempDir(), "-n", "0"},
		{"synth", "-o", t.TempDir(), "--layout", "coco"},
		{"synth", "-o", t.TempDir(), "--size", "12xx"},
		{"synth", "-o", t.TempDir(), "--size", "4x4"},
		{"synth", "-o", t.TempDir(), "--val", "1"},
		{"synth", "-o", t.TempDir(), "--val", "0"},
		{"synth", "--preview", "x.png", "-n", "1000"},
		{"synth", "-o", t.TempDir(), "extra"},
	} {
		code, _, stderr := runCmd(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
		checkOneLineError(t, stderr)
	}
}
