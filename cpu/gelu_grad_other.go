//go:build !amd64 || noasm

package cpu

func geluGradAVX(d, z *float32, n int, c *[30][8]float32) { panic("cpu: geluGradAVX without SIMD") }
