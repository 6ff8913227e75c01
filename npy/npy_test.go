package npy

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

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

// TestReadFloat16 reads a '<f2' array: values decoded exactly (package f16), shape kept.
func TestReadFloat16(t *testing.T) {
	h := "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }"
	h += strings.Repeat(" ", 64-(10+len(h)+1)%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	b = append(b, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c) // 1, −2, 2^-24, +Inf
	a, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, -2, 0x1p-24, float32(math.Inf(1))}
	if a.Descr != "<f2" || len(a.Shape) != 2 || a.Shape[0] != 2 || a.Shape[1] != 2 || len(a.F32) != 4 {
		t.Fatalf("read back %+v", a)
	}
	for i := range want {
		if a.F32[i] != want[i] {
			t.Errorf("value %d = %v, want %v", i, a.F32[i], want[i])
		}
	}
}
