package npy

import (
	"bytes"
	"math"
	"testing"
)

func TestHalfRoundTrip(t *testing.T) {
	for _, v := range []float32{0, 1, -2, 0.1, 65504, 1e-5, 6e-8, 3.14159, -0.33333} {
		got := HalfToFloat(FloatToHalf(v))
		if e := math.Abs(float64(got - v)); e > math.Abs(float64(v))/2048+3e-8 {
			t.Errorf("f16(%g) = %g", v, got)
		}
	}
	cases := []struct {
		v    float32
		bits uint16
	}{{1, 0x3c00}, {-2, 0xc000}, {1e6, 0x7c00}, {65504, 0x7bff}, {5.960464477539063e-08, 0x0001}, {float32(math.Copysign(0, -1)), 0x8000}}
	for _, c := range cases {
		if got := FloatToHalf(c.v); got != c.bits {
			t.Errorf("FloatToHalf(%g) = %#04x, want %#04x", c.v, got, c.bits)
		}
	}
	// Every half value survives HalfToFloat → FloatToHalf exactly.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN
		}
		if got := FloatToHalf(HalfToFloat(uint16(h))); got != uint16(h) {
			t.Fatalf("half %#04x → %g → %#04x", h, HalfToFloat(uint16(h)), got)
		}
	}
}

func TestWriteReadFloat32(t *testing.T) {
	for _, shape := range [][]int{{3}, {1, 3, 2, 5}, {0, 4}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(i) * -0.5
		}
		var buf bytes.Buffer
		if err := WriteFloat32(&buf, shape, data); err != nil {
			t.Fatal(err)
		}
		if buf.Len()%64 != 4*n%64 && (buf.Len()-4*n)%64 != 0 {
			t.Errorf("%v: header not padded to 64 bytes", shape)
		}
		a, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if a.Descr != "<f4" || len(a.Shape) != len(shape) || len(a.F32) != n {
			t.Fatalf("%v: read back %+v", shape, a)
		}
		for i := range data {
			if a.F32[i] != data[i] {
				t.Fatalf("%v: value %d = %v, want %v", shape, i, a.F32[i], data[i])
			}
		}
	}
	if _, err := Read(bytes.NewReader([]byte("not an npy file"))); err == nil {
		t.Error("garbage accepted")
	}
}
