package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRender renders scenes one after another on one goroutine (one core);
// images/s is the throughput of one core.
func BenchmarkRender(b *testing.B) {
	for _, sz := range [][2]int{{128, 160}, {256, 320}} {
		b.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(b *testing.B) {
			opt := Options{Height: sz[0], Width: sz[1], Seed: 1}
			for i := 0; i < b.N; i++ {
				if _, err := Render(opt, i); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkWriteSample encodes and writes one rendered scene's files (rendering
// excluded), per layout.
func BenchmarkWriteSample(b *testing.B) {
	s, err := Render(Options{Height: 128, Width: 160, Seed: 1}, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []Layout{LayoutNative, LayoutNYUD, LayoutPASCAL} {
		b.Run(l.String()+"/128x160", func(b *testing.B) {
			dir := b.TempDir()
			for _, d := range layoutDirs(l) {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < b.N; i++ {
				f, err := encodeSample(dir, l, "000000", s)
				if err == nil {
					err = f.write()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
