// Package colormap holds the colours demt-web paints task outputs with — the PASCAL VOC
// class palette and the turbo depth colormap — and the table of which rendering each task
// gets (RenderingOf), shared by the CPU renderer (imageio) and the GPU display kernels, so
// that both paint the same.
package colormap

import "math"

// Palette returns the 256-colour PASCAL VOC colormap: the bits of the class index are
// spread over the high bits of R, G and B (class 0 black, 1 (128,0,0), 2 (0,128,0), ...).
func Palette() [256][3]uint8 {
	var pal [256][3]uint8
	for i := range pal {
		var r, g, b uint8
		c := i
		for j := 0; j < 8; j++ {
			r |= uint8(c&1) << (7 - j)
			g |= uint8(c>>1&1) << (7 - j)
			b |= uint8(c>>2&1) << (7 - j)
			c >>= 3
		}
		pal[i] = [3]uint8{r, g, b}
	}
	return pal
}

// Turbo maps t in [0, 1] (clamped) to the turbo colormap (Mikhailov, Google 2019) by
// Ruofei Du's polynomial approximation, rounded to 8 bits.
func Turbo(t float64) (r, g, b uint8) {
	t = math.Min(1, math.Max(0, t))
	poly := func(k0, k1, k2, k3, k4, k5 float64) uint8 {
		v := k0 + t*(k1+t*(k2+t*(k3+t*(k4+t*k5))))
		return uint8(math.Round(math.Min(1, math.Max(0, v)) * 255))
	}
	r = poly(0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943)
	g = poly(0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604)
	b = poly(0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973)
	return r, g, b
}
