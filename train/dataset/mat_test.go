package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
)

func TestMatReadsPASCALFiles(t *testing.T) {
	dir := filepath.Join(fixture.Root(t), "train", "swin-pascal-train", "data", "PASCALContext")
	vars, err := readMatFile(filepath.Join(dir, "pascal-context", "trainval", "swin_pascal_train_0.mat"))
	if err != nil {
		t.Fatal(err)
	}
	lm, h, w, err := vars["LabelMap"].image()
	if err != nil || h != 34 || w != 41 || len(lm) != h*w {
		t.Fatalf("LabelMap %dx%d, %v", h, w, err)
	}
	vars, err = readMatFile(filepath.Join(dir, "human_parts", "swin_pascal_train_0.mat"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := vars["anno"].field(0, "objects")
	if err != nil {
		t.Fatal(err)
	}
	cls, err := objs.field(1, "class")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := cls.str(); s != "person" {
		t.Fatalf("object 1 class %q, want person", s)
	}
}

func TestMatRejectsBadFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixture.Root(t), "train", "swin-pascal-train", "data", "PASCALContext", "pascal-context", "trainval", "swin_pascal_train_0.mat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{nil, good[:100], good[:200], append(append([]byte{}, good[:128]...), 14, 0, 0, 0, 255, 255, 255, 127)} {
		if _, err := parseMat(b); err == nil {
			t.Errorf("a %d-byte broken file was accepted", len(b))
		}
	}
}

func FuzzParseMat(f *testing.F) {
	root, err := fixture.RootDir()
	if err == nil {
		for _, p := range []string{"pascal-context/trainval/swin_pascal_train_1.mat", "human_parts/swin_pascal_train_1.mat"} {
			if b, err := os.ReadFile(filepath.Join(root, "train", "swin-pascal-train", "data", "PASCALContext", p)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add(compressedAnno())
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := parseMat(b)
		if err != nil {
			return
		}
		for _, v := range vars {
			v.image() // must not panic
			v.str()
		}
	})
}

// The helpers below write MATLAB v5 elements (little-endian), to test what the fixtures do
// not have: compressed elements, as MATLAB writes them, and small data elements.

func matElement(typ uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func matSmall(typ uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(data))<<16|typ)
	return append(b, append(data, make([]byte, 4-len(data))...)...)
}

func matHeader(class uint32, dims []int32, name string) []byte {
	b := matElement(miUINT32, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, class), 0))
	var d []byte
	for _, v := range dims {
		d = binary.LittleEndian.AppendUint32(d, uint32(v))
	}
	b = append(b, matElement(miINT32, d)...)
	if len(name) <= 4 && name != "" {
		return append(b, matSmall(miINT8, []byte(name))...)
	}
	return append(b, matElement(miINT8, []byte(name))...)
}

// matUint8 is a uint8 h×w matrix of row-major values (stored column-major).
func matUint8(name string, h, w int, rowMajor []uint8) []byte {
	col := make([]byte, h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			col[x*h+y] = rowMajor[y*w+x]
		}
	}
	return matElement(miMATRIX, append(matHeader(9, []int32{int32(h), int32(w)}, name), matElement(miUINT8, col)...))
}

func matString(s string) []byte {
	var d []byte
	for _, r := range s {
		d = binary.LittleEndian.AppendUint16(d, uint16(r))
	}
	return matElement(miMATRIX, append(matHeader(mxCHAR, []int32{1, int32(len(s))}, ""), matElement(miUINT16, d)...))
}

func matStruct(name string, fields []string, elems [][][]byte) []byte {
	b := matHeader(mxSTRUCT, []int32{1, int32(len(elems))}, name)
	b = append(b, matSmall(miINT32, binary.LittleEndian.AppendUint32(nil, 32))...)
	var names []byte
	for _, f := range fields {
		names = append(names, append([]byte(f), make([]byte, 32-len(f))...)...)
	}
	b = append(b, matElement(miINT8, names)...)
	for _, e := range elems {
		for _, v := range e {
			b = append(b, v...)
		}
	}
	return matElement(miMATRIX, b)
}

func matCompressed(elem []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(elem)
	zw.Close()
	b := binary.LittleEndian.AppendUint32(nil, miCOMPRESSED)
	b = binary.LittleEndian.AppendUint32(b, uint32(z.Len()))
	return append(b, z.Bytes()...) // no padding after a compressed element
}

func matFile(elems ...[]byte) []byte {
	h := make([]byte, 128)
	copy(h, "MATLAB 5.0 MAT-file, test")
	binary.LittleEndian.PutUint16(h[124:], 0x0100)
	copy(h[126:], "IM")
	for _, e := range elems {
		h = append(h, e...)
	}
	return h
}

// compressedAnno is a MATLAB-style human_parts file: one compressed anno struct with a
// person (class_ind 15) whose two parts overlap, and an empty parts field on a cat.
func compressedAnno() []byte {
	empty := matElement(miMATRIX, nil)
	head := []uint8{1, 1, 0, 0, 0, 0}
	torso := []uint8{0, 1, 1, 1, 0, 0}
	parts := matStruct("", []string{"part_name", "mask"}, [][][]byte{
		{matString("head"), matUint8("", 2, 3, head)},
		{matString("torso"), matUint8("", 2, 3, torso)},
	})
	objects := matStruct("", []string{"class", "class_ind", "mask", "parts"}, [][][]byte{
		{matString("cat"), matUint8("", 1, 1, []uint8{8}), matUint8("", 2, 3, make([]uint8, 6)), empty},
		{matString("person"), matUint8("", 1, 1, []uint8{15}), matUint8("", 2, 3, make([]uint8, 6)), parts},
	})
	anno := matStruct("anno", []string{"imname", "objects"}, [][][]byte{{matString("x"), objects}})
	return matFile(matCompressed(anno), matCompressed(matUint8("LabelMap", 2, 3, []uint8{1, 2, 3, 4, 5, 6})))
}

func TestMatCompressedHumanParts(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "human_parts"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "human_parts", "x.mat"), compressedAnno(), 0o644))
	vars, err := readMatFile(filepath.Join(dir, "human_parts", "x.mat"))
	must(err)
	lm, h, w, err := vars["LabelMap"].image()
	if err != nil || h != 2 || w != 3 || !slices.Equal(lm, []int32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("LabelMap %v %dx%d %v", lm, h, w, err)
	}
	d := &pascal{root: dir, parts: map[string][]int{}}
	target, err := d.humanParts("x", 2, 3)
	must(err)
	// head → 1, torso → 2 written later over the shared pixel.
	if want := []float32{1, 2, 2, 2, 0, 0}; !slices.Equal(target, want) {
		t.Fatalf("human_parts %v, want %v", target, want)
	}
	// With a Parts cache that lists no person, the .mat is not read: all zeros.
	d.parts["x"] = []int{8, -1}
	target, err = d.humanParts("x", 2, 3)
	must(err)
	if !slices.Equal(target, make([]float32, 6)) {
		t.Fatalf("cached no-person image: %v", target)
	}
}
