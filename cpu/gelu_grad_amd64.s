//go:build amd64 && !noasm

#include "textflag.h"

// func geluGradAVX(d, z *float32, n int, c *[30][8]float32)
// d[i] *= Φ(z[i]) + z[i]·φ(z[i]) for n a multiple of 8: Φ from erf32's rational
// approximation, φ = e^(−z²/2)/√(2π) with exp32's range reduction and polynomial.
// c holds the broadcast constants (geluGradConsts).
TEXT ·geluGradAVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ z+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), R8
	SHRQ $3, CX
	JZ gradDone

gradLoop:
	VMOVUPS (SI), Y0
	// Φ(z) = 0.5 + 0.5·erf(z/√2).
	VMULPS (R8), Y0, Y1
	VMAXPS 32(R8), Y1, Y1
	VMINPS 64(R8), Y1, Y1
	VMULPS Y1, Y1, Y2
	VMOVUPS 96(R8), Y3
	VFMADD213PS 128(R8), Y2, Y3
	VFMADD213PS 160(R8), Y2, Y3
	VFMADD213PS 192(R8), Y2, Y3
	VFMADD213PS 224(R8), Y2, Y3
	VFMADD213PS 256(R8), Y2, Y3
	VFMADD213PS 288(R8), Y2, Y3
	VMULPS Y1, Y3, Y3
	VMOVUPS 320(R8), Y4
	VFMADD213PS 352(R8), Y2, Y4
	VFMADD213PS 384(R8), Y2, Y4
	VFMADD213PS 416(R8), Y2, Y4
	VFMADD213PS 448(R8), Y2, Y4
	VDIVPS Y4, Y3, Y3
	VMOVUPS 480(R8), Y5
	VFMADD213PS Y5, Y5, Y3
	// t = max(−z²/2, −87); n = round(t·log2 e); r = t − n·ln2 (two parts).
	VMULPS Y0, Y0, Y6
	VMULPS 512(R8), Y6, Y6
	VMAXPS 544(R8), Y6, Y6
	VMULPS 576(R8), Y6, Y7
	VROUNDPS $0, Y7, Y7
	VMOVAPS Y6, Y8
	VFNMADD231PS 608(R8), Y7, Y8
	VFNMADD231PS 640(R8), Y7, Y8
	// e^r = p(r)·r² + r + 1.
	VMOVUPS 672(R8), Y9
	VFMADD213PS 704(R8), Y8, Y9
	VFMADD213PS 736(R8), Y8, Y9
	VFMADD213PS 768(R8), Y8, Y9
	VFMADD213PS 800(R8), Y8, Y9
	VFMADD213PS 832(R8), Y8, Y9
	VMULPS Y8, Y8, Y10
	VFMADD213PS Y8, Y10, Y9
	VADDPS 864(R8), Y9, Y9
	// ·2^n: (n + 127) << 23 as float bits.
	VCVTPS2DQ Y7, Y11
	VPADDD 896(R8), Y11, Y11
	VPSLLD $23, Y11, Y11
	VMULPS Y11, Y9, Y9
	VMULPS 928(R8), Y9, Y9
	// Φ + z·φ, times d.
	VFMADD231PS Y9, Y0, Y3
	VMULPS (DI), Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ gradLoop

gradDone:
	VZEROUPPER
	RET
