//go:build !amd64 || noasm

package cpu

// haveSIMD is false: the portable kernels run (on other architectures, and on amd64 built
// with -tags noasm, which tests the kernels the wasm build runs).
const haveSIMD = false

func kern6x16(a *float32, lda int, b *float32, k int, c *float32) {
	panic("cpu: kern6x16 without SIMD")
}

func dotAVX(a, b *float32, n int) float32 { panic("cpu: dotAVX without SIMD") }

func axpyAVX(alpha float32, x, y *float32, n int) { panic("cpu: axpyAVX without SIMD") }

func geluAVX(x *float32, n int, c *[16][8]float32) { panic("cpu: geluAVX without SIMD") }
