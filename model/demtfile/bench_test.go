package demtfile

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/demt-web/demt/model"
)

// benchWeights is n float values in tensors of 512×512 plus one bias each, like the
// linear layers of a transformer.
func benchWeights(b *testing.B, n int) *model.Weights {
	rng := rand.New(rand.NewPCG(5, 6))
	var ts []*model.Tensor
	for i := 0; n > 0; i++ {
		rows := min(512, (n+511)/512)
		ts = append(ts,
			ftensor("layers."+itoa(i)+".weight", []int{rows, 512}, randF32(rng, rows*512, 0.02)),
			ftensor("layers."+itoa(i)+".bias", []int{rows}, randF32(rng, rows, 0.02)))
		n -= rows * 512
	}
	w, err := model.NewWeights(ts)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func itoa(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// BenchmarkRead decodes 32 MiB of stored weights; MB/s is of the .demt file.
func BenchmarkRead(b *testing.B) {
	for _, bc := range []struct {
		name  string
		dtype string
		numel int
	}{
		{"f16-32MiB", DTypeF16, 16 << 20},
		{"f32-32MiB", DTypeF32, 8 << 20},
		{"int8-32MiB", DTypeInt8, 32 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var buf bytes.Buffer
			if err := Write(&buf, testMeta(), benchWeights(b, bc.numel), WriteOptions{DType: bc.dtype}); err != nil {
				b.Fatal(err)
			}
			data := buf.Bytes()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Read(bytes.NewReader(data), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWrite encodes 32 MiB of f16 weights.
func BenchmarkWrite(b *testing.B) {
	w := benchWeights(b, 16<<20)
	b.SetBytes(32 << 20)
	for b.Loop() {
		if err := Write(&bytes.Buffer{}, testMeta(), w, WriteOptions{DType: DTypeF16}); err != nil {
			b.Fatal(err)
		}
	}
}
