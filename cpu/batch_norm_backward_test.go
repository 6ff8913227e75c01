package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBatchNormTrain checks the train-mode BatchNorm over a batch of two separate images:
// the output and the running statistics against a float64 computation, and every gradient
// (both images' inputs, γ, β) against central differences.
func TestBatchNormTrain(t *testing.T) {
	const c = 13
	sizes := []int{5 * 7, 3 * 4} // pixels per image
	rng := rand.New(rand.NewPCG(8, 1))
	p := newPool(gradThreads)
	defer p.stop()
	var xs, ys, dys, dxs [][]float32
	var x64 [][]float64
	for _, n := range sizes {
		x := make([]float32, n*c)
		for i := range x {
			x[i] = float32(rng.NormFloat64()*(1+float64(i%c)/4) + float64(i%c) - 5)
		}
		xs, ys = append(xs, x), append(ys, make([]float32, n*c))
		dy := make([]float32, n*c)
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
		}
		dys, dxs = append(dys, dy), append(dxs, make([]float32, n*c))
		x64 = append(x64, to64(x))
	}
	gamma, beta := make([]float32, c), make([]float32, c)
	rm, rv := make([]float32, c), make([]float32, c)
	for j := 0; j < c; j++ {
		gamma[j], beta[j] = float32(1+0.3*rng.NormFloat64()), float32(0.2*rng.NormFloat64())
		rm[j], rv[j] = float32(rng.NormFloat64()), float32(1+rng.Float64())
	}
	rm0, rv0 := append([]float32(nil), rm...), append([]float32(nil), rv...)
	var tracked int64 = 4
	f := newBatchNormTrain(xs, ys, gamma, beta, rm, rv, &tracked, c, 0.1, 1e-5, gradThreads)
	f.run(p)
	g64, b64 := to64(gamma), to64(beta)
	// ref returns the outputs of the float64 train-mode BatchNorm and its batch statistics.
	ref := func() ([][]float64, []float64, []float64) {
		n := 0
		mean, vr := make([]float64, c), make([]float64, c)
		for _, x := range x64 {
			for i, v := range x {
				mean[i%c] += v
			}
			n += len(x) / c
		}
		for j := range mean {
			mean[j] /= float64(n)
		}
		for _, x := range x64 {
			for i, v := range x {
				vr[i%c] += (v - mean[i%c]) * (v - mean[i%c])
			}
		}
		for j := range vr {
			vr[j] /= float64(n)
		}
		var out [][]float64
		for _, x := range x64 {
			y := make([]float64, len(x))
			for i, v := range x {
				j := i % c
				y[i] = (v-mean[j])/math.Sqrt(vr[j]+1e-5)*g64[j] + b64[j]
			}
			out = append(out, y)
		}
		return out, mean, vr
	}
	y64, mean, vr := ref()
	for im := range ys {
		for i, v := range ys[im] {
			if math.Abs(float64(v)-y64[im][i]) > 1e-5*math.Max(1, math.Abs(y64[im][i])) {
				t.Fatalf("image %d y[%d] = %v, want %v", im, i, v, y64[im][i])
			}
		}
	}
	n := float64(sizes[0] + sizes[1])
	for j := 0; j < c; j++ {
		wm := 0.9*float64(rm0[j]) + 0.1*mean[j]
		wv := 0.9*float64(rv0[j]) + 0.1*vr[j]*n/(n-1)
		if math.Abs(float64(rm[j])-wm) > 1e-6*math.Max(1, math.Abs(wm)) || math.Abs(float64(rv[j])-wv) > 1e-6*math.Max(1, wv) {
			t.Errorf("channel %d running stats %v, %v; want %v, %v", j, rm[j], rv[j], wm, wv)
		}
	}
	if tracked != 5 {
		t.Errorf("num_batches_tracked %d, want 5", tracked)
	}
	dgamma, dbeta := make([]float32, c), make([]float32, c)
	newBatchNormBackward(f, dys, dxs, dgamma, dbeta).run(p)
	loss := func() float64 {
		y, _, _ := ref()
		var s float64
		for im := range y {
			for i, v := range y[im] {
				s += float64(dys[im][i]) * v
			}
		}
		return s
	}
	for im := range x64 {
		checkGrad(t, "x of image "+string(rune('0'+im)), x64[im], dxs[im], loss, rng)
	}
	checkGrad(t, "gamma", g64, dgamma, loss, rng)
	checkGrad(t, "beta", b64, dbeta, loss, rng)
}
