package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf16"
)

// MATLAB v5 element data types.
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	miUTF8       = 16
	miUTF16      = 17
	miUTF32      = 18
)

// MATLAB array classes.
const (
	mxCELL   = 1
	mxSTRUCT = 2
	mxCHAR   = 4
	mxSPARSE = 5
	mxDOUBLE = 6
	mxUINT64 = 15
)

// maxMatBytes bounds a decompressed element, so a small hostile file cannot claim gigabytes.
const maxMatBytes = 1 << 28

// matArray is one MATLAB array of a .mat file. Numeric, logical and char arrays hold their
// values in num, column-major as MATLAB stores them; a struct array holds per element (in
// column-major order) one value per field; a cell array its elements.
type matArray struct {
	class  int
	dims   []int
	name   string
	num    []float64
	fields []string
	elems  [][]*matArray // struct: elems[element][field]
	cells  []*matArray
}

// numel returns the product of the dimensions.
func (a *matArray) numel() int {
	n := 1
	for _, d := range a.dims {
		n *= d
	}
	return n
}

// str returns a char array as a string.
func (a *matArray) str() (string, error) {
	if a.class != mxCHAR {
		return "", fmt.Errorf("array %q is not a char array", a.name)
	}
	r := make([]rune, len(a.num))
	for i, v := range a.num {
		r[i] = rune(v)
	}
	return string(r), nil
}

// field returns field f of struct element i.
func (a *matArray) field(i int, f string) (*matArray, error) {
	if a.class != mxSTRUCT {
		return nil, fmt.Errorf("array %q is not a struct", a.name)
	}
	if i >= len(a.elems) {
		return nil, fmt.Errorf("struct %q has %d elements, want element %d", a.name, len(a.elems), i)
	}
	for k, name := range a.fields {
		if name == f {
			return a.elems[i][k], nil
		}
	}
	return nil, fmt.Errorf("struct %q has no field %q", a.name, f)
}

// image returns a 2-D numeric array as row-major int32 values with its height and width.
func (a *matArray) image() (v []int32, h, w int, err error) {
	if a.class < mxDOUBLE || a.class > mxUINT64 || len(a.dims) != 2 {
		return nil, 0, 0, fmt.Errorf("array %q (class %d, dims %v) is not a 2-D numeric array", a.name, a.class, a.dims)
	}
	h, w = a.dims[0], a.dims[1]
	v = make([]int32, h*w)
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			f := a.num[x*h+y]
			if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
				return nil, 0, 0, fmt.Errorf("array %q: value %g is not an integer", a.name, f)
			}
			v[y*w+x] = int32(f)
		}
	}
	return v, h, w, nil
}

// readMatFile reads the top-level variables of a MATLAB v5 .mat file.
func readMatFile(path string) (map[string]*matArray, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars, err := parseMat(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}

// parseMat parses a whole MATLAB v5 file (little- or big-endian).
func parseMat(b []byte) (map[string]*matArray, error) {
	if len(b) < 128 {
		return nil, errors.New("not a MATLAB v5 file (shorter than its 128-byte header)")
	}
	var bo binary.ByteOrder
	switch string(b[126:128]) {
	case "IM":
		bo = binary.LittleEndian
	case "MI":
		bo = binary.BigEndian
	default:
		return nil, errors.New("not a MATLAB v5 file (no endian indicator)")
	}
	p := &matParser{bo: bo}
	vars := map[string]*matArray{}
	rest := b[128:]
	for len(rest) > 0 {
		typ, data, next, err := p.element(rest)
		if err != nil {
			return nil, fmt.Errorf("at byte %d: %w", len(b)-len(rest), err)
		}
		rest = next
		if typ == miCOMPRESSED {
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("compressed element: %w", err)
			}
			raw, err := io.ReadAll(io.LimitReader(zr, maxMatBytes+1))
			if err != nil {
				return nil, fmt.Errorf("compressed element: %w", err)
			}
			if len(raw) > maxMatBytes {
				return nil, errors.New("compressed element larger than 256 MiB")
			}
			if typ, data, _, err = p.element(raw); err != nil {
				return nil, fmt.Errorf("compressed element: %w", err)
			}
		}
		if typ != miMATRIX {
			continue // e.g. a subsystem element
		}
		a, err := p.matrix(data, 0)
		if err != nil {
			return nil, err
		}
		vars[a.name] = a
	}
	return vars, nil
}

type matParser struct{ bo binary.ByteOrder }

// element splits the next data element off b: its type, its data and what follows
// (8-byte aligned, except after a compressed element).
func (p *matParser) element(b []byte) (typ uint32, data, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, errors.New("truncated element tag")
	}
	first := p.bo.Uint32(b)
	if first>>16 != 0 { // small data element: type and size in one word, data in the next 4 bytes
		n := int(first >> 16)
		if n > 4 {
			return 0, nil, nil, fmt.Errorf("small element of %d bytes", n)
		}
		return first & 0xffff, b[4 : 4+n], b[8:], nil
	}
	n := int(p.bo.Uint32(b[4:]))
	if n > len(b)-8 {
		return 0, nil, nil, fmt.Errorf("element of %d bytes with %d left", n, len(b)-8)
	}
	data = b[8 : 8+n]
	end := 8 + n
	if first != miCOMPRESSED {
		end = min(len(b), 8+(n+7)/8*8)
	}
	return first, data, b[end:], nil
}

// matrix parses the contents of a miMATRIX element.
func (p *matParser) matrix(b []byte, depth int) (*matArray, error) {
	if depth > 32 {
		return nil, errors.New("arrays nested deeper than 32")
	}
	if len(b) == 0 { // an empty matrix: MATLAB writes a zero-length miMATRIX
		return &matArray{class: mxDOUBLE, dims: []int{0, 0}}, nil
	}
	typ, flags, b, err := p.element(b)
	if err != nil || typ != miUINT32 || len(flags) < 8 {
		return nil, fmt.Errorf("bad array flags (%v)", err)
	}
	a := &matArray{class: int(p.bo.Uint32(flags) & 0xff)}
	complexFlag := p.bo.Uint32(flags)&0x800 != 0
	typ, dimb, b, err := p.element(b)
	if err != nil || typ != miINT32 || len(dimb)%4 != 0 {
		return nil, fmt.Errorf("bad array dimensions (%v)", err)
	}
	n := 1
	for i := 0; i < len(dimb); i += 4 {
		d := int(int32(p.bo.Uint32(dimb[i:])))
		if d < 0 || (d > 0 && n > maxMatBytes/d) {
			return nil, fmt.Errorf("bad array dimension %d", d)
		}
		n *= d
		a.dims = append(a.dims, d)
	}
	typ, name, b, err := p.element(b)
	if err != nil || typ != miINT8 {
		return nil, fmt.Errorf("bad array name (%v)", err)
	}
	a.name = string(name)
	switch a.class {
	case mxCELL:
		for i := 0; i < n; i++ {
			var t uint32
			var d []byte
			if t, d, b, err = p.element(b); err != nil || t != miMATRIX {
				return nil, fmt.Errorf("cell %q element %d: bad element (%v)", a.name, i, err)
			}
			c, err := p.matrix(d, depth+1)
			if err != nil {
				return nil, fmt.Errorf("cell %q element %d: %w", a.name, i, err)
			}
			a.cells = append(a.cells, c)
		}
	case mxSTRUCT:
		typ, lenb, rest, err := p.element(b)
		if err != nil || typ != miINT32 || len(lenb) != 4 {
			return nil, fmt.Errorf("struct %q: bad field name length (%v)", a.name, err)
		}
		fl := int(p.bo.Uint32(lenb))
		typ, names, rest, err := p.element(rest)
		if err != nil || typ != miINT8 || fl <= 0 || len(names)%fl != 0 {
			return nil, fmt.Errorf("struct %q: bad field names (%v)", a.name, err)
		}
		b = rest
		for i := 0; i < len(names); i += fl {
			a.fields = append(a.fields, string(bytes.TrimRight(names[i:i+fl], "\x00")))
		}
		for i := 0; i < n; i++ {
			vals := make([]*matArray, len(a.fields))
			for f := range a.fields {
				var t uint32
				var d []byte
				if t, d, b, err = p.element(b); err != nil || t != miMATRIX {
					return nil, fmt.Errorf("struct %q element %d field %s: bad element (%v)", a.name, i, a.fields[f], err)
				}
				if vals[f], err = p.matrix(d, depth+1); err != nil {
					return nil, fmt.Errorf("struct %q element %d field %s: %w", a.name, i, a.fields[f], err)
				}
			}
			a.elems = append(a.elems, vals)
		}
	case mxSPARSE:
		return nil, fmt.Errorf("array %q: sparse arrays are not supported", a.name)
	default:
		if a.class != mxCHAR && (a.class < mxDOUBLE || a.class > mxUINT64) {
			return nil, fmt.Errorf("array %q: unsupported class %d", a.name, a.class)
		}
		typ, data, _, err := p.element(b)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", a.name, err)
		}
		if complexFlag {
			return nil, fmt.Errorf("array %q: complex arrays are not supported", a.name)
		}
		if a.num, err = p.numbers(typ, data); err != nil {
			return nil, fmt.Errorf("array %q: %w", a.name, err)
		}
		if a.class == mxCHAR && typ == miUTF16 {
			a.num = decodeUTF16(a.num)
		}
		if len(a.num) != n && !(a.class == mxCHAR && typ == miUTF8) {
			return nil, fmt.Errorf("array %q: %d values for dimensions %v", a.name, len(a.num), a.dims)
		}
	}
	return a, nil
}

// numbers decodes typed numeric data (UTF-8 text decodes to its code points).
func (p *matParser) numbers(typ uint32, b []byte) ([]float64, error) {
	size := map[uint32]int{miINT8: 1, miUINT8: 1, miINT16: 2, miUINT16: 2, miINT32: 4, miUINT32: 4,
		miSINGLE: 4, miDOUBLE: 8, miINT64: 8, miUINT64: 8, miUTF16: 2, miUTF32: 4}[typ]
	if typ == miUTF8 {
		var out []float64
		for _, r := range string(b) {
			out = append(out, float64(r))
		}
		return out, nil
	}
	if size == 0 {
		return nil, fmt.Errorf("unsupported data type %d", typ)
	}
	if len(b)%size != 0 {
		return nil, fmt.Errorf("%d bytes of %d-byte values", len(b), size)
	}
	out := make([]float64, len(b)/size)
	for i := range out {
		d := b[i*size:]
		switch typ {
		case miINT8:
			out[i] = float64(int8(d[0]))
		case miUINT8:
			out[i] = float64(d[0])
		case miINT16:
			out[i] = float64(int16(p.bo.Uint16(d)))
		case miUINT16, miUTF16:
			out[i] = float64(p.bo.Uint16(d))
		case miINT32:
			out[i] = float64(int32(p.bo.Uint32(d)))
		case miUINT32, miUTF32:
			out[i] = float64(p.bo.Uint32(d))
		case miSINGLE:
			out[i] = float64(math.Float32frombits(p.bo.Uint32(d)))
		case miDOUBLE:
			out[i] = math.Float64frombits(p.bo.Uint64(d))
		case miINT64:
			out[i] = float64(int64(p.bo.Uint64(d)))
		case miUINT64:
			out[i] = float64(p.bo.Uint64(d))
		}
	}
	return out, nil
}

// decodeUTF16 turns UTF-16 code units into code points (surrogate pairs joined).
func decodeUTF16(units []float64) []float64 {
	u := make([]uint16, len(units))
	for i, v := range units {
		u[i] = uint16(v)
	}
	r := utf16.Decode(u)
	out := make([]float64, len(r))
	for i, c := range r {
		out[i] = float64(c)
	}
	return out
}
