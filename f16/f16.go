// Package f16 converts between float32 and IEEE 754 binary16 ("half", f16): the one codec
// behind .npy float16 arrays, f16 checkpoints and .demt files, and the GPU's f16-packed
// weights. Float32 → half rounds to nearest, ties to even; half → float32 is exact
// (subnormals, infinities and NaNs included).
package f16

import (
	"encoding/binary"
	"math"
)

// ToFloat32 returns the float32 value of the binary16 bits h, exactly. NaNs keep their sign
// and payload.
func ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0:
		// zero or subnormal: mant · 2^-24, exact in float32
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	case 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// FromFloat32 returns the binary16 bits nearest to f, ties to even. Values beyond the half
// range become ±Inf, values below half the smallest subnormal become ±0, and NaNs become the
// quiet NaN 0x7e00 with f's sign.
func FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // the half's biased exponent
	if e >= 31 {
		return sign | 0x7c00
	}
	if e <= 0 {
		// subnormal half (or zero): shift the mantissa, with its implicit bit, right
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || rem == mid && half&1 == 1 {
			half++ // may carry into the smallest normal, which is the right answer
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && half&1 == 1 {
		half++ // may carry into the exponent, up to Inf, which is the right answer
	}
	return sign | uint16(half)
}

// Round returns f rounded to the nearest half value, as a float32: what storing f as f16
// does to it.
func Round(f float32) float32 { return ToFloat32(FromFloat32(f)) }

// RoundSlice returns a new slice holding Round of each value of src.
func RoundSlice(src []float32) []float32 {
	out := make([]float32, len(src))
	for i, v := range src {
		out[i] = Round(v)
	}
	return out
}

// PutLittleEndian writes src as little-endian binary16 into dst, which must hold at least
// 2·len(src) bytes.
func PutLittleEndian(dst []byte, src []float32) {
	_ = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FromFloat32(v))
	}
}

// FromLittleEndian decodes little-endian binary16 values from src into dst: len(dst) values
// from the first 2·len(dst) bytes of src.
func FromLittleEndian(dst []float32, src []byte) {
	_ = src[:2*len(dst)]
	for i := range dst {
		dst[i] = ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
