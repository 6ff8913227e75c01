//go:build amd64 && !noasm

package cpu

import "golang.org/x/sys/cpu"

// kern6x16 computes the 6×16 block c[r·16+j] = Σ_q a[r·lda+q]·b[q·16+j] (AVX2 + FMA).
//
//go:noescape
func kern6x16(a *float32, lda int, b *float32, k int, c *float32)

// haveSIMD reports whether the packed AVX2 kernel can run on this CPU.
var haveSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotAVX returns Σ a[i]·b[i] for n a multiple of 16.
//
//go:noescape
func dotAVX(a, b *float32, n int) float32

// axpyAVX computes y[i] += alpha·x[i] for n a multiple of 16.
//
//go:noescape
func axpyAVX(alpha float32, x, y *float32, n int)

// geluAVX applies GELU in place to n (a multiple of 8) values; c is geluConsts.
//
//go:noescape
func geluAVX(x *float32, n int, c *[16][8]float32)
