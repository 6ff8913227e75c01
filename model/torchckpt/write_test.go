package torchckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
)

// writeRead writes w with Write and reads the result back with Read.
func writeRead(t *testing.T, w *model.Weights) (*model.Weights, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, "model", w); err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return got, buf.Bytes()
}

// sameWeights checks every key, in order, with its shape, kind and bit-exact values.
func sameWeights(t *testing.T, got, want *model.Weights) {
	t.Helper()
	if !slices.Equal(got.Names(), want.Names()) {
		t.Fatalf("keys differ: got %d, want %d (first got %v)", len(got.Tensors), len(want.Tensors), got.Names()[:min(3, len(got.Tensors))])
	}
	for i, w := range want.Tensors {
		g := got.Tensors[i]
		if !slices.Equal(g.Shape, w.Shape) {
			t.Fatalf("%s: shape %v, want %v", w.Name, g.Shape, w.Shape)
		}
		wantType := model.F32
		if w.I64 != nil {
			wantType = model.I64
		}
		if g.DType != wantType {
			t.Fatalf("%s: read back as %s, want %s", w.Name, g.DType, wantType)
		}
		if w.I64 != nil {
			if !slices.Equal(g.I64, w.I64) {
				t.Fatalf("%s: int64 values differ", w.Name)
			}
			continue
		}
		if len(g.F32) != len(w.F32) {
			t.Fatalf("%s: %d values, want %d", w.Name, len(g.F32), len(w.F32))
		}
		for j := range w.F32 {
			if math.Float32bits(g.F32[j]) != math.Float32bits(w.F32[j]) {
				t.Fatalf("%s[%d] = %v, want %v", w.Name, j, g.F32[j], w.F32[j])
			}
		}
	}
}

func mustWeights(t *testing.T, ts ...*model.Tensor) *model.Weights {
	t.Helper()
	w, err := model.NewWeights(ts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWriteRoundTrip(t *testing.T) {
	root := fixture.Root(t)
	cases := map[string]func(t *testing.T) *model.Weights{
		// Edge cases: 0-d int64 (num_batches_tracked), empty, 1-4-d, special floats, negative ints.
		"edge cases": func(t *testing.T) *model.Weights {
			nan := math.Float32frombits(0x7fc00001)
			return mustWeights(t,
				&model.Tensor{Name: "bn.num_batches_tracked", Shape: []int{}, DType: model.I64, I64: []int64{0}},
				&model.Tensor{Name: "big.count", Shape: []int{}, DType: model.I64, I64: []int64{-1 << 62}},
				&model.Tensor{Name: "empty", Shape: []int{0, 3}, DType: model.F32, F32: []float32{}},
				&model.Tensor{Name: "v", Shape: []int{5}, DType: model.F16,
					F32: []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), nan}},
				&model.Tensor{Name: "m", Shape: []int{2, 3}, DType: model.F32, F32: []float32{1, 2, 3, 4, 5, 6e-39}},
				&model.Tensor{Name: "t3", Shape: []int{300, 1, 2}, DType: model.I8, F32: make([]float32, 600)},
				&model.Tensor{Name: "conv.weight", Shape: []int{70000, 1, 1, 1}, DType: model.F32, F32: make([]float32, 70000)},
				&model.Tensor{Name: "index", Shape: []int{2, 2}, DType: model.I64, I64: []int64{0, 1, 2, 3}},
			)
		},
		// A real torch.save state dict.
		"swin-nyud-small": func(t *testing.T) *model.Weights {
			w, err := ReadFile(filepath.Join(root, "swin-nyud-small", "model.pth"))
			if err != nil {
				t.Fatal(err)
			}
			return w
		},
		// The full HRNet18-S PASCAL model: 1051 keys (two SETITEMS batches), BN buffers.
		"hrnet18_s-pascal": func(t *testing.T) *model.Weights {
			_, w, err := fixture.RandomModel(filepath.Join(root, "keys", "hrnet18_s-pascal.json"), 3)
			if err != nil {
				t.Fatal(err)
			}
			return w
		},
	}
	for name, make := range cases {
		t.Run(name, func(t *testing.T) {
			w := make(t)
			got, _ := writeRead(t, w)
			sameWeights(t, got, w)
		})
	}
}

// zipEntries returns the entries of a zip and their contents.
func zipEntries(t *testing.T, data []byte) ([]*zip.File, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	body := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		body[f.Name] = b
	}
	return zr.File, body
}

// TestWriteMatchesTorchSave writes the state dict of a torch.save output (torch 1.13) and
// compares the layout with the original: entry names and order, stored 64-byte-aligned
// data, the version record, storage keys and bytes per tensor; and that the pickle uses no
// opcode and no global that torch's own file does not (torch.load(weights_only=True) loads
// that file, and refuses, in torch 1.13, opcodes such as BINFLOAT).
func TestWriteMatchesTorchSave(t *testing.T) {
	// Two torch.save outputs whose tensors own their storages: a state_dict() (an OrderedDict
	// with _metadata) and a plain dict. (swin-nyud-small shares storages between tensors.)
	torchUse := pickleUse{map[string]bool{}, map[string]bool{}}
	var myUse []pickleUse
	for _, name := range []string{"train/swin-nyud-train", "swin-nyud2-defmixer-v1"} {
		t.Run(name, func(t *testing.T) {
			ref, mine := checkLikeTorchSave(t, filepath.Join(fixture.Root(t), name, "model.pth"))
			maps.Copy(torchUse.ops, ref.ops)
			maps.Copy(torchUse.globals, ref.globals)
			myUse = append(myUse, mine)
		})
	}
	for _, u := range myUse {
		for op := range u.ops {
			if !torchUse.ops[op] {
				t.Errorf("the pickle uses opcode %s, which torch.save's files do not", op)
			}
		}
		for g := range u.globals {
			if !torchUse.globals[g] {
				t.Errorf("the pickle uses global %s, which torch.save's files do not", g)
			}
		}
		if len(u.globals) != 4 {
			t.Errorf("globals %v, want OrderedDict, _rebuild_tensor_v2, FloatStorage, LongStorage", u.globals)
		}
	}
	if len(myUse) != 2 || torchUse.ops["BINFLOAT"] {
		t.Fatalf("%d files compared; torch's use %v", len(myUse), torchUse.ops)
	}
}

// checkLikeTorchSave compares the layout of a torch.save file with Write's output for its
// state dict, and returns the opcodes and globals each pickle uses.
func checkLikeTorchSave(t *testing.T, path string) (torchUse, myUse pickleUse) {
	ref, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Read(bytes.NewReader(ref), int64(len(ref)))
	if err != nil {
		t.Fatal(err)
	}
	_, mine := writeRead(t, w)
	refFiles, refBody := zipEntries(t, ref)
	myFiles, myBody := zipEntries(t, mine)

	var refNames, myNames []string
	for _, f := range refFiles {
		refNames = append(refNames, f.Name)
	}
	for _, f := range myFiles {
		if f.Name != "model/byteorder" { // written by torch >= 2.1, not by 1.13
			myNames = append(myNames, f.Name)
		}
	}
	if !slices.Equal(myNames, refNames) {
		t.Fatalf("entries differ from torch.save's:\n got %v\nwant %v", myNames[:min(6, len(myNames))], refNames[:min(6, len(refNames))])
	}
	if string(myBody["model/byteorder"]) != "little" {
		t.Errorf("byteorder = %q", myBody["model/byteorder"])
	}
	if myFiles[1].Name != "model/byteorder" {
		t.Errorf("entry 1 is %s, want model/byteorder right after data.pkl (as torch 2 writes it)", myFiles[1].Name)
	}
	for _, files := range [][]*zip.File{refFiles, myFiles} {
		for _, f := range files {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			if f.Method != zip.Store || off%64 != 0 {
				t.Fatalf("%s: method %d, data at %d: want stored, 64-byte aligned", f.Name, f.Method, off)
			}
		}
	}
	if v := string(myBody["model/version"]); v != string(refBody["model/version"]) || v != "3\n" {
		t.Errorf("version %q, torch wrote %q", v, refBody["model/version"])
	}
	// Storage keys and bytes: torch numbers storages by first use, and these views are whole
	// storages. Storages torch wrote as float32 or int64 hold the same bytes (others, such as
	// float16, are written as float32).
	sameType := map[string]bool{}
	for b, body := range []map[string][]byte{refBody, myBody} {
		obj, err := unpickle(body["model/data.pkl"])
		if err != nil {
			t.Fatal(err)
		}
		sd := obj.(*dict)
		for i, v := range sd.vals {
			tt := v.(*tensor)
			if tt.st.key != fmt.Sprint(i) || tt.offset != 0 {
				t.Fatalf("tensor %d (%v) uses storage %q at offset %d", i, sd.keys[i], tt.st.key, tt.offset)
			}
			if b == 0 && (tt.st.dt == dtF32 || tt.st.dt == dtI64) {
				sameType["model/data/"+tt.st.key] = true
			}
		}
	}
	if len(sameType) == 0 {
		t.Fatal("no float32 or int64 storage to compare")
	}
	for name := range sameType {
		if !bytes.Equal(myBody[name], refBody[name]) {
			t.Fatalf("%s differs from torch's bytes", name)
		}
	}

	refOps, refGlobals := disassemble(t, refBody["model/data.pkl"])
	myOps, myGlobals := disassemble(t, myBody["model/data.pkl"])
	return pickleUse{refOps, refGlobals}, pickleUse{myOps, myGlobals}
}

// pickleUse is the set of opcodes and globals a pickle uses.
type pickleUse struct{ ops, globals map[string]bool }

// disassemble walks a protocol-2 pickle and returns the set of opcode names and of GLOBAL
// names it uses; an opcode outside the protocol-2 state-dict set fails the test.
func disassemble(t *testing.T, data []byte) (ops, globals map[string]bool) {
	t.Helper()
	ops, globals = map[string]bool{}, map[string]bool{}
	fixed := map[byte]struct {
		name string
		n    int
	}{
		'(': {"MARK", 0}, '.': {"STOP", 0}, 't': {"TUPLE", 0}, ')': {"EMPTY_TUPLE", 0}, '}': {"EMPTY_DICT", 0},
		']': {"EMPTY_LIST", 0}, 'R': {"REDUCE", 0}, 'Q': {"BINPERSID", 0}, 's': {"SETITEM", 0},
		'u': {"SETITEMS", 0}, 'b': {"BUILD", 0}, 'N': {"NONE", 0}, 'a': {"APPEND", 0}, 'e': {"APPENDS", 0},
		0x85: {"TUPLE1", 0}, 0x86: {"TUPLE2", 0}, 0x87: {"TUPLE3", 0}, 0x88: {"NEWTRUE", 0}, 0x89: {"NEWFALSE", 0},
		0x80: {"PROTO", 1}, 'K': {"BININT1", 1}, 'q': {"BINPUT", 1}, 'h': {"BINGET", 1},
		'M': {"BININT2", 2}, 'J': {"BININT", 4}, 'r': {"LONG_BINPUT", 4}, 'j': {"LONG_BINGET", 4}, 'G': {"BINFLOAT", 8},
	}
	for i := 0; i < len(data); {
		op := data[i]
		i++
		switch {
		case op == 'c':
			end := i
			for lines := 0; lines < 2; end++ {
				if end >= len(data) {
					t.Fatal("truncated GLOBAL")
				}
				if data[end] == '\n' {
					lines++
				}
			}
			ops["GLOBAL"] = true
			globals[strings.Replace(strings.TrimSuffix(string(data[i:end]), "\n"), "\n", ".", 1)] = true
			i = end
		case op == 'X':
			n := int(binary.LittleEndian.Uint32(data[i:]))
			ops["BINUNICODE"] = true
			i += 4 + n
		case op == 0x8a:
			ops["LONG1"] = true
			i += 1 + int(data[i])
		default:
			f, ok := fixed[op]
			if !ok {
				t.Fatalf("opcode 0x%02x at %d outside the protocol-2 state-dict set", op, i-1)
			}
			ops[f.name] = true
			i += f.n
		}
		if op == '.' {
			if i != len(data) {
				t.Fatalf("STOP at %d of %d bytes", i-1, len(data))
			}
			return ops, globals
		}
	}
	t.Fatal("no STOP")
	return nil, nil
}

func TestWriteRejects(t *testing.T) {
	cases := map[string]*model.Weights{
		// Built directly: NewWeights would refuse these first.
		"no values":        {Tensors: []*model.Tensor{{Name: "a", Shape: []int{2}}}},
		"too many values":  {Tensors: []*model.Tensor{{Name: "a", Shape: []int{2}, F32: []float32{1, 2, 3}}}},
		"both kinds":       {Tensors: []*model.Tensor{{Name: "a", Shape: []int{1}, F32: []float32{1}, I64: []int64{1}}}},
		"over 2^31 values": {Tensors: []*model.Tensor{{Name: "a", Shape: []int{1 << 16, 1 << 16}}}},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, "model", w)
			if err == nil || !strings.Contains(err.Error(), `tensor "a"`) {
				t.Fatalf("err = %v, want an error naming the tensor", err)
			}
		})
	}
	for _, archive := range []string{"", "a/b", `a\b`} {
		if err := Write(io.Discard, archive, mustWeights(t)); err == nil {
			t.Errorf("archive %q: no error", archive)
		}
	}
}

func TestArchiveName(t *testing.T) {
	for path, want := range map[string]string{
		"model.pth": "model", "runs/nano/last.ckpt": "last", "a.b.pth": "a.b", "noext": "noext", ".pth": "archive", "/": "archive",
	} {
		if got := ArchiveName(path); got != want {
			t.Errorf("ArchiveName(%q) = %q, want %q", path, got, want)
		}
	}
}

// WriteFile is atomic, names the zip folder after the file, never overwrites a protected
// input and leaves no temporary file behind, also on failure.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	w := mustWeights(t, &model.Tensor{Name: "x", Shape: []int{2}, DType: model.F32, F32: []float32{1, 2}})
	out := filepath.Join(dir, "export.pth")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(out, w); err != nil { // replaces an existing output
		t.Fatal(err)
	}
	got, err := ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sameWeights(t, got, w)
	files, body := zipEntries(t, must(os.ReadFile(out)))
	if files[0].Name != "export/data.pkl" || body["export/data/0"] == nil {
		t.Errorf("first entry %s, want export/data.pkl", files[0].Name)
	}

	in := filepath.Join(dir, "in.pth")
	if err := os.WriteFile(in, []byte("input"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pth")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{in, link, filepath.Join(dir, ".", "in.pth")} {
		if err := WriteFile(target, w, in); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
			t.Errorf("%s: err = %v, want a refusal", target, err)
		}
	}
	if b := must(os.ReadFile(in)); string(b) != "input" {
		t.Fatalf("the input was changed: %q", b)
	}
	bad := &model.Weights{Tensors: []*model.Tensor{{Name: "a", Shape: []int{2}}}}
	if err := WriteFile(filepath.Join(dir, "bad.pth"), bad); err == nil {
		t.Fatal("no error for a bad tensor")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"export.pth", "in.pth", "link.pth"}) {
		t.Errorf("folder holds %v: a temporary or failed output was left behind", names)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
