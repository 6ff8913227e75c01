package f16

import (
	"math"
	"testing"
)

// value returns the real value of the finite half h from its fields, in float64.
func value(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	v := math.Ldexp(mant, -24) // subnormal: mant · 2^-24
	if exp > 0 {
		v = math.Ldexp(1024+mant, exp-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func isNaN(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }

// TestEveryHalf checks all 65536 halves: ToFloat32 is exact (against the value computed
// from the fields), FromFloat32 gives the same bits back, NaNs stay NaNs of the same sign.
func TestEveryHalf(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := ToFloat32(h)
		switch {
		case isNaN(h):
			if f == f {
				t.Fatalf("ToFloat32(%#04x) = %v, want NaN", h, f)
			}
			if back := FromFloat32(f); !isNaN(back) || back&0x8000 != h&0x8000 {
				t.Fatalf("NaN %#04x → %#04x, want a NaN of the same sign", h, back)
			}
			continue
		case h&0x7fff == 0x7c00:
			if !math.IsInf(float64(f), 0) || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("ToFloat32(%#04x) = %v, want ±Inf", h, f)
			}
		default:
			if float64(f) != value(h) || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("ToFloat32(%#04x) = %v, want %v", h, f, value(h))
			}
		}
		if back := FromFloat32(f); back != h {
			t.Fatalf("half %#04x → %v → %#04x", h, f, back)
		}
	}
}

// TestRoundingEveryMidpoint checks, for every pair of neighbouring positive finite halves
// (and their negatives), that the float32 midpoint rounds to the even one and the float32
// values just beside it round to the nearer one.
func TestRoundingEveryMidpoint(t *testing.T) {
	for h := uint16(0); h < 0x7c00; h++ {
		lo, hi := value(h), value(h+1) // h+1 = 0x7c00 is Inf: midpoint 65520 rounds to Inf
		if h+1 == 0x7c00 {
			hi = 65536
		}
		mid := float32((lo + hi) / 2) // exact: a half has 11 significant bits
		if float64(mid) != (lo+hi)/2 {
			t.Fatalf("midpoint of %#04x and %#04x not exact in float32", h, h+1)
		}
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		below := math.Nextafter32(mid, 0)
		above := math.Nextafter32(mid, math.MaxFloat32)
		for _, c := range []struct {
			v    float32
			want uint16
		}{{mid, even}, {below, h}, {above, h + 1}} {
			if got := FromFloat32(c.v); got != c.want {
				t.Fatalf("FromFloat32(%v) = %#04x, want %#04x", c.v, got, c.want)
			}
			if got := FromFloat32(-c.v); got != c.want|0x8000 {
				t.Fatalf("FromFloat32(%v) = %#04x, want %#04x", -c.v, got, c.want|0x8000)
			}
		}
	}
}

// TestFromFloat32Cases checks named cases: range limits, underflow, specials.
func TestFromFloat32Cases(t *testing.T) {
	for _, c := range []struct {
		name string
		v    float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"one third", 1.0 / 3, 0x3555},
		{"largest finite", 65504, 0x7bff},
		{"just below the Inf midpoint", 65519.996, 0x7bff},
		{"Inf midpoint ties to Inf", 65520, 0x7c00},
		{"overflow", 1e6, 0x7c00},
		{"float32 max", math.MaxFloat32, 0x7c00},
		{"Inf", float32(math.Inf(1)), 0x7c00},
		{"minus Inf", float32(math.Inf(-1)), 0xfc00},
		{"NaN", float32(math.NaN()), 0x7e00},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000},
		{"smallest normal", 0x1p-14, 0x0400},
		{"largest subnormal", 0x3ffp-24, 0x03ff},
		{"smallest subnormal", 0x1p-24, 0x0001},
		{"half the smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"just above half the smallest subnormal", 0x1.000002p-25, 0x0001},
		{"float32 smallest subnormal", 0x1p-149, 0x0000},
		{"minus float32 smallest subnormal", -0x1p-149, 0x8000},
	} {
		if got := FromFloat32(c.v); got != c.want {
			t.Errorf("%s: FromFloat32(%v) = %#04x, want %#04x", c.name, c.v, got, c.want)
		}
	}
}

func TestSliceHelpers(t *testing.T) {
	src := []float32{1, -2, 0.1, 65504, 1e-7}
	b := make([]byte, 2*len(src))
	PutLittleEndian(b, src)
	if b[0] != 0x00 || b[1] != 0x3c || b[2] != 0x00 || b[3] != 0xc0 {
		t.Fatalf("PutLittleEndian = % x, want 00 3c 00 c0 ...", b[:4])
	}
	got := make([]float32, len(src))
	FromLittleEndian(got, b)
	want := RoundSlice(src)
	for i := range src {
		if got[i] != want[i] || got[i] != Round(src[i]) {
			t.Errorf("value %d: decoded %v, RoundSlice %v, Round %v", i, got[i], want[i], Round(src[i]))
		}
	}
	if want[2] == src[2] {
		t.Errorf("Round(0.1) = 0.1, want the nearest half %v", ToFloat32(0x2e66))
	}
}
