package synth

import (
	"encoding/binary"
	"fmt"
)

// MATLAB v5 element types and array classes used by the PASCAL files.
const (
	miINT8   = 1
	miUINT8  = 2
	miUINT16 = 4
	miINT32  = 5
	miUINT32 = 6
	miDOUBLE = 9
	miMATRIX = 14
	miUTF8   = 16

	mxSTRUCT = 2
	mxCHAR   = 4
	mxDOUBLE = 6
	mxUINT8  = 9
	mxUINT16 = 11
)

// matArray is one MATLAB array as the PASCAL annotation files hold them: a char row, a
// uint8 or uint16 matrix (column-major data), an empty double, or a struct array.
type matArray struct {
	class  int
	dims   []int
	str    string
	u8     []uint8
	u16    []uint16
	fields []string      // struct field names
	elems  [][]*matArray // struct elements, one array per field
}

func matChar(s string) *matArray { return &matArray{class: mxCHAR, dims: []int{1, len(s)}, str: s} }

func matEmpty() *matArray { return &matArray{class: mxDOUBLE, dims: []int{0, 0}} }

func matScalarU8(v uint8) *matArray {
	return &matArray{class: mxUINT8, dims: []int{1, 1}, u8: []uint8{v}}
}

// matU8 converts a row-major H×W map to a column-major uint8 matrix.
func matU8(rowMajor []uint8, h, w int) *matArray {
	d := make([]uint8, h*w)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			d[j*h+i] = rowMajor[i*w+j]
		}
	}
	return &matArray{class: mxUINT8, dims: []int{h, w}, u8: d}
}

// matU16 converts a row-major H×W map to a column-major uint16 matrix.
func matU16(rowMajor []uint16, h, w int) *matArray {
	d := make([]uint16, h*w)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			d[j*h+i] = rowMajor[i*w+j]
		}
	}
	return &matArray{class: mxUINT16, dims: []int{h, w}, u16: d}
}

func matStruct(fields []string, elems [][]*matArray) *matArray {
	return &matArray{class: mxSTRUCT, dims: []int{1, len(elems)}, fields: fields, elems: elems}
}

// matFile encodes one named variable as an uncompressed MAT v5 file, element by element
// as scipy.io.savemat writes it (little endian; data of 1–4 bytes in the small element
// format; empty names and data as zero-length elements).
func matFile(name string, a *matArray) ([]byte, error) {
	hdr := make([]byte, 128)
	for i := 0; i < 116; i++ {
		hdr[i] = ' '
	}
	copy(hdr, "MATLAB 5.0 MAT-file, written by demt-convert synth")
	binary.LittleEndian.PutUint16(hdr[124:], 0x0100)
	hdr[126], hdr[127] = 'I', 'M'
	body, err := matEncode(name, a)
	if err != nil {
		return nil, err
	}
	return append(hdr, body...), nil
}

// matElement appends a data element: small format when 1..4 bytes, else tag + data
// padded to 8 bytes.
func matElement(out []byte, typ int, data []byte) []byte {
	n := len(data)
	if n > 0 && n <= 4 {
		var e [8]byte
		binary.LittleEndian.PutUint16(e[0:], uint16(typ))
		binary.LittleEndian.PutUint16(e[2:], uint16(n))
		copy(e[4:], data)
		return append(out, e[:]...)
	}
	var t [8]byte
	binary.LittleEndian.PutUint32(t[0:], uint32(typ))
	binary.LittleEndian.PutUint32(t[4:], uint32(n))
	out = append(out, t[:]...)
	out = append(out, data...)
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	return out
}

func matEncode(name string, a *matArray) ([]byte, error) {
	var b []byte
	flags := make([]byte, 8)
	binary.LittleEndian.PutUint32(flags, uint32(a.class))
	b = matElement(b, miUINT32, flags)
	dims := make([]byte, 4*len(a.dims))
	numel := 1
	for i, d := range a.dims {
		binary.LittleEndian.PutUint32(dims[4*i:], uint32(d))
		numel *= d
	}
	b = matElement(b, miINT32, dims)
	b = matElement(b, miINT8, []byte(name))
	switch a.class {
	case mxCHAR:
		b = matElement(b, miUTF8, []byte(a.str))
	case mxDOUBLE:
		if numel != 0 {
			return nil, fmt.Errorf("mat: only empty doubles are written")
		}
		b = matElement(b, miDOUBLE, nil)
	case mxUINT8:
		if len(a.u8) != numel {
			return nil, fmt.Errorf("mat: %q: %d values for dims %v", name, len(a.u8), a.dims)
		}
		b = matElement(b, miUINT8, a.u8)
	case mxUINT16:
		if len(a.u16) != numel {
			return nil, fmt.Errorf("mat: %q: %d values for dims %v", name, len(a.u16), a.dims)
		}
		d := make([]byte, 2*len(a.u16))
		for i, v := range a.u16 {
			binary.LittleEndian.PutUint16(d[2*i:], v)
		}
		b = matElement(b, miUINT16, d)
	case mxSTRUCT:
		fl := 0
		for _, f := range a.fields {
			fl = max(fl, len(f)+1)
		}
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(fl))
		b = matElement(b, miINT32, l[:])
		names := make([]byte, fl*len(a.fields))
		for i, f := range a.fields {
			copy(names[i*fl:], f)
		}
		b = matElement(b, miINT8, names)
		if len(a.elems) != numel {
			return nil, fmt.Errorf("mat: %q: %d struct elements for dims %v", name, len(a.elems), a.dims)
		}
		for _, e := range a.elems {
			if len(e) != len(a.fields) {
				return nil, fmt.Errorf("mat: %q: %d values for %d fields", name, len(e), len(a.fields))
			}
			for _, v := range e {
				sub, err := matEncode("", v)
				if err != nil {
					return nil, err
				}
				b = append(b, sub...)
			}
		}
	default:
		return nil, fmt.Errorf("mat: class %d not supported", a.class)
	}
	var t [8]byte
	binary.LittleEndian.PutUint32(t[0:], miMATRIX)
	binary.LittleEndian.PutUint32(t[4:], uint32(len(b)))
	return append(t[:], b...), nil
}
