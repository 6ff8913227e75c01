//go:build amd64 && !noasm

package cpu

// geluGradAVX multiplies d[i] by GELU'(z[i]) for n a multiple of 8; c is geluGradConsts.
//
//go:noescape
func geluGradAVX(d, z *float32, n int, c *[30][8]float32)
