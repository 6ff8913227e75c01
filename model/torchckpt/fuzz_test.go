package torchckpt

import (
	"bytes"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read: it must return an error or consistent
// tensors, never panic or hang. Seeds: testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, x := range w.Tensors {
			if (x.F32 == nil) == (x.I64 == nil) || len(x.F32)+len(x.I64) != x.Numel() {
				t.Fatalf("tensor %q has %d+%d values for shape %v", x.Name, len(x.F32), len(x.I64), x.Shape)
			}
		}
	})
}

// FuzzPickle runs arbitrary data.pkl bytes (wrapped in a valid zip with one
// 64-byte storage "0") through Read, reaching the pickle machine directly.
// Seeds: testdata/fuzz/FuzzPickle.
func FuzzPickle(f *testing.F) {
	f.Add(stateDict(entry("w", tensorSpec{"FloatStorage", "0", 16, 2, []int{2, 3}, []int{1, 4}})))
	storage := make([]byte, 64)
	for i := range storage {
		storage[i] = byte(i * 37)
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		b := makeZip(t, "archive", pkl, storageFile("0", storage))
		w, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, x := range w.Tensors {
			if (x.F32 == nil) == (x.I64 == nil) || len(x.F32)+len(x.I64) != x.Numel() {
				t.Fatalf("tensor %q has %d+%d values for shape %v", x.Name, len(x.F32), len(x.I64), x.Shape)
			}
		}
	})
}
