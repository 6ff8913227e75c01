package cpu

import "math"

// gelu is the exact (erf) GELU, 0.5·x·(1 + erf(x/√2)).
func gelu(x float32) float32 {
	return 0.5 * x * (1 + erf32(x*(1/math.Sqrt2)))
}

// geluConsts are erf32's constants broadcast to 8 lanes for geluAVX: 1/√2, the clamp ±4,
// the numerator's and the denominator's coefficients (highest degree first), and 0.5.
var geluConsts = func() (c [16][8]float32) {
	vals := [16]float32{1 / math.Sqrt2, -4, 4,
		-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
		-7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
		-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
		-1.42647390514189e-02, 0.5}
	for i, v := range vals {
		for j := range c[i] {
			c[i][j] = v
		}
	}
	return c
}()

// erf32 is a float32 erf: a rational approximation (odd degree-13 numerator over an even
// degree-8 denominator, Eigen's generic_fast_erf_float) on x clamped to [−4, 4], within a
// few float32 ulps of math.Erf (TestErf32), and ~10× faster than math.Erf.
func erf32(x float32) float32 {
	x = max(-4, min(4, x))
	x2 := x * x
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p + -2.10102402082508e-06
	p = x2*p + -5.69250639462346e-05
	p = x2*p + -7.34990630326855e-04
	p = x2*p + -2.95459980854025e-03
	p = x2*p + -1.60960333262415e-02
	p *= x
	q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
	q = x2*q + -1.68282697438203e-03
	q = x2*q + -7.37332916720468e-03
	q = x2*q + -1.42647390514189e-02
	return p / q
}
