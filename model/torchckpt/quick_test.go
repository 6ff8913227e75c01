package torchckpt

import "testing"

func TestQuick(t *testing.T) {
	for _, p := range []string{"/work/shared/fixtures/official/hrnet18s-pascal/model.ckpt", "/work/shared/fixtures/official/swin-nyud-small/model.pth", "/work/shared/fixtures/official/swin-nyud2-defmixer-v1/model.pth", "/work/shared/fixtures/official/reader/legacy_nonzip/legacy_nonzip.pt", "/work/shared/fixtures/official/reader/misc_dtypes/misc_dtypes.pt"} {
		w, err := ReadFile(p)
		if err != nil {
			t.Log(err)
			continue
		}
		t.Log(p, len(w.Tensors), w.Tensors[0].Name, w.Tensors[0].Shape, w.Tensors[0].DType, w.NumParams())
	}
}
