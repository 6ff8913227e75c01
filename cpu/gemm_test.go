package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmOddShapes checks the prepared gemm (SIMD-packed where available) against a
// float64 reference on ragged shapes, with strides and bias.
func TestGemmOddShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][3]int{{1, 1, 1}, {5, 3, 7}, {6, 16, 9}, {7, 17, 33}, {13, 37, 70}, {48, 64, 256}, {23, 5, 1}} {
		rows, m, k := sh[0], sh[1], sh[2]
		ldx, ldy := k+3, m+2
		x := make([]float32, rows*ldx)
		w := make([]float32, m*k)
		bias := make([]float32, m)
		for _, v := range [][]float32{x, w, bias} {
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
		}
		y := make([]float32, rows*ldy)
		s := newGemmScratch(k)
		newWeightMatrix(w, m, k).gemm(x, ldx, bias, y, ldy, rows, &s)
		for i := 0; i < rows; i++ {
			for j := 0; j < m; j++ {
				want := float64(bias[j])
				for q := 0; q < k; q++ {
					want += float64(x[i*ldx+q]) * float64(w[j*k+q])
				}
				if math.Abs(float64(y[i*ldy+j])-want) > 1e-4*math.Max(1, math.Abs(want))*math.Sqrt(float64(k)) {
					t.Fatalf("%v: y[%d][%d] = %v, want %v", sh, i, j, y[i*ldy+j], want)
				}
			}
		}
	}
}

// BenchmarkKernel times the gemm at the shapes that dominate the model (pixels×in×out).
func BenchmarkKernel(b *testing.B) {
	for _, sh := range [][3]int{{4096, 256, 256}, {4096, 1440, 256}, {4096, 96, 384}} {
		n, k, m := sh[0], sh[1], sh[2]
		b.Run(fmt.Sprintf("linear/%dx%dx%d", n, k, m), func(b *testing.B) {
			x := make([]float32, n*k)
			w := make([]float32, m*k)
			y := make([]float32, n*m)
			l := &linear{x: x, y: y, w: newWeightMatrix(w, m, k), n: n, k: k, m: m}
			p := newPool(0)
			defer p.stop()
			for i := 0; i < p.n; i++ {
				l.scratch = append(l.scratch, newGemmScratch(k))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l.run(p)
			}
			b.ReportMetric(float64(n*k*m)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
