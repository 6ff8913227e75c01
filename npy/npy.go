// Package npy reads and writes NumPy .npy arrays (format versions 1–3,
// little-endian float32, float64, float16, int64, int32, uint8 read; float32 written).
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/demt-web/demt/internal/atomicfile"

	"github.com/demt-web/demt/f16"
)

// Array is a decoded .npy array. Float arrays are held as float32 (F32) except float64 (F64);
// integer arrays as int64 (I64).
type Array struct {
	Shape   []int
	Descr   string // numpy dtype descriptor, e.g. "<f4"
	F32     []float32
	F64     []float64
	I64     []int64
	Fortran bool
}

// Numel returns the number of elements.
func (a *Array) Numel() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// Float32 returns the values as float32 whatever the stored float type.
func (a *Array) Float32() []float32 {
	switch {
	case a.F32 != nil:
		return a.F32
	case a.F64 != nil:
		out := make([]float32, len(a.F64))
		for i, v := range a.F64 {
			out[i] = float32(v)
		}
		return out
	case a.I64 != nil:
		out := make([]float32, len(a.I64))
		for i, v := range a.I64 {
			out[i] = float32(v)
		}
		return out
	}
	return nil
}

const maxHeader = 1 << 20

// Read decodes one .npy array from r.
func Read(r io.Reader) (*Array, error) {
	br := bufio.NewReader(r)
	var magic [8]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fmt.Errorf("npy: reading magic: %w", err)
	}
	if !bytes.Equal(magic[:6], []byte("\x93NUMPY")) {
		return nil, errors.New("npy: not a .npy file (bad magic)")
	}
	var hlen int
	switch magic[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("npy: header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("npy: header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d", magic[6])
	}
	if hlen > maxHeader {
		return nil, fmt.Errorf("npy: header of %d bytes is too long", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, fmt.Errorf("npy: header: %w", err)
	}
	a, err := parseHeader(string(hb))
	if err != nil {
		return nil, err
	}
	n := a.Numel()
	var size int
	switch a.Descr {
	case "<f4", "<i4":
		size = 4
	case "<f8", "<i8":
		size = 8
	case "<f2", "<i2":
		size = 2
	case "|u1", "|i1", "|b1":
		size = 1
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.Descr)
	}
	if n < 0 || n > 1<<31 {
		return nil, fmt.Errorf("npy: shape %v too large", a.Shape)
	}
	raw := make([]byte, 0, min(n*size, 1<<26))
	buf := bytes.NewBuffer(raw)
	if m, err := io.CopyN(buf, br, int64(n*size)); err != nil {
		return nil, fmt.Errorf("npy: data: got %d of %d bytes: %w", m, n*size, err)
	}
	b := buf.Bytes()
	switch a.Descr {
	case "<f4":
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case "<f8":
		a.F64 = make([]float64, n)
		for i := range a.F64 {
			a.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case "<f2":
		a.F32 = make([]float32, n)
		f16.FromLittleEndian(a.F32, b)
	case "<i8":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case "<i4":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case "<i2":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case "|u1", "|b1":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(b[i])
		}
	case "|i1":
		a.I64 = make([]int64, n)
		for i := range a.I64 {
			a.I64[i] = int64(int8(b[i]))
		}
	}
	return a, nil
}

// ReadFile decodes the .npy file at path.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// parseHeader reads the Python dict literal of a .npy header.
func parseHeader(h string) (*Array, error) {
	h = strings.TrimSpace(h)
	get := func(key string) (string, error) {
		i := strings.Index(h, "'"+key+"'")
		if i < 0 {
			return "", fmt.Errorf("npy: header has no %q: %q", key, h)
		}
		rest := strings.TrimSpace(h[i+len(key)+2:])
		if !strings.HasPrefix(rest, ":") {
			return "", fmt.Errorf("npy: malformed header %q", h)
		}
		return strings.TrimSpace(rest[1:]), nil
	}
	a := &Array{}
	d, err := get("descr")
	if err != nil {
		return nil, err
	}
	if len(d) < 2 || d[0] != '\'' {
		return nil, fmt.Errorf("npy: malformed descr in %q", h)
	}
	end := strings.IndexByte(d[1:], '\'')
	if end < 0 {
		return nil, fmt.Errorf("npy: malformed descr in %q", h)
	}
	a.Descr = d[1 : 1+end]
	fo, err := get("fortran_order")
	if err != nil {
		return nil, err
	}
	a.Fortran = strings.HasPrefix(fo, "True")
	if a.Fortran {
		return nil, errors.New("npy: fortran-order arrays are not supported")
	}
	s, err := get("shape")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(s, "(") {
		return nil, fmt.Errorf("npy: malformed shape in %q", h)
	}
	end = strings.IndexByte(s, ')')
	if end < 0 {
		return nil, fmt.Errorf("npy: malformed shape in %q", h)
	}
	a.Shape = []int{}
	for _, f := range strings.Split(s[1:end], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("npy: bad dimension %q", f)
		}
		a.Shape = append(a.Shape, v)
	}
	return a, nil
}

// WriteFloat32 encodes a float32 array with the given shape as .npy (version 1).
func WriteFloat32(w io.Writer, shape []int, data []float32) error {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	ds := strings.Join(dims, ", ")
	if len(shape) == 1 {
		ds += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", ds)
	pad := 64 - (10+len(h)+1)%64
	h += strings.Repeat(" ", pad%64) + "\n"
	var pre [10]byte
	copy(pre[:], "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(h)))
	bw := bufio.NewWriter(w)
	bw.Write(pre[:])
	bw.WriteString(h)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}

// WriteFloat32File writes a float32 .npy file atomically (temp file + rename).
func WriteFloat32File(path string, shape []int, data []float32) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := WriteFloat32(w, shape, data); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
}
