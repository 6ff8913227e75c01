package train

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/train/dataset"
)

// TestRunPictures: a run with evaluation writes the loss curve with every checkpoint and the
// val previews with every evaluation, as PNGs of the documented layout.
func TestRunPictures(t *testing.T) {
	opt := tinyRun(synthData(t))
	opt.EvalEvery, opt.EvalLimit, opt.SaveEvery = 2, 2, 2
	dir := filepath.Join(t.TempDir(), "run")
	if err := Run(context.Background(), dir, opt, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	size := func(name string) (int, int) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return img.Bounds().Dx(), img.Bounds().Dy()
	}
	if w, h := size(CurveFile); w != curveW || h != curveH {
		t.Errorf("%s is %dx%d, want %dx%d", CurveFile, w, h, curveW, curveH)
	}
	// min(2, val images) rows × (input + 6 tasks × prediction and label), 64×48 tiles with
	// 2-px gaps.
	r, err := dataset.Open(opt.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	val, err := r.Split("val")
	if err != nil {
		t.Fatal(err)
	}
	rows := min(2, len(val))
	if w, h := size(PreviewFile); w != 13*(64+2) || h != rows*(48+2) {
		t.Errorf("%s is %dx%d, want %dx%d", PreviewFile, w, h, 13*66, rows*50)
	}
}

// TestLossCurve draws a hand-made log: the objective's line starts at the top left and ends
// at the bottom right; a truncated last row and a bad header are handled.
func TestLossCurve(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log.csv")
	rows := "step,objective,semseg,lr,it_per_s\n1,10,1,0.1,1\n2,5,2,0.1,1\n3,0,1,0.1,1\n4,1"
	if err := os.WriteFile(log, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "loss.png")
	if err := WriteLossCurve(log, out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dark := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r < 0x4000 && g < 0x4000 && b < 0x4000
	}
	x0 := curveMargin + (curveW-2*curveMargin)/3 // step 1 of 3
	if !dark(x0, curveMargin) || !dark(curveW-curveMargin, curveH-curveMargin) {
		t.Error("the objective's line does not run from (step 1, max) to (step 3, 0)")
	}
	if err := os.WriteFile(log, []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteLossCurve(log, out); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("bad header: %v", err)
	}
}
