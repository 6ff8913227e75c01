package synth

import (
	"fmt"
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
