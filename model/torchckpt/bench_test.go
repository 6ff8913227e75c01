package torchckpt

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
)

// BenchmarkReadHRNet reads the 15 MB fp16 Lightning checkpoint from memory.
func BenchmarkReadHRNet(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fixture.Root(b), "hrnet18s-pascal", "model.ckpt"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
