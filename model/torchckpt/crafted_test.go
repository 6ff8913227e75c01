package torchckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
)

// TestMaliciousPickles checks that crafted pickles are refused with a specific
// error and that nothing they name is ever run.
func TestMaliciousPickles(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	cmd := "touch " + marker
	callWith := func(module, name string) []byte {
		return (&pk{}).proto(2).global(module, name).str(cmd).op(opTuple1, opReduce, opStop).b
	}
	stackGlobal := func(module, name string) []byte {
		return (&pk{}).proto(4).shortStr(module).shortStr(name).op(opStackGlobal).str(cmd).op(opTuple1, opReduce, opStop).b
	}
	deepMarks := (&pk{}).proto(2)
	for range maxMarkDepth + 1 {
		deepMarks.op(opMark)
	}
	hugeString := (&pk{}).proto(2).op(opBinUnicode, 0xff, 0xff, 0xff, 0xff).b
	huge8 := (&pk{}).proto(4).op(opBinUnicode8)
	huge8.b = binary.LittleEndian.AppendUint64(huge8.b, 1<<62)

	for _, tc := range []struct {
		name string
		pkl  []byte
		want []string
	}{
		{"os.system", callWith("os", "system"), []string{"data.pkl offset 2: refused global os.system (code execution)"}},
		{"builtins.eval", callWith("builtins", "eval"), []string{"refused global builtins.eval"}},
		{"builtins.exec", callWith("builtins", "exec"), []string{"refused global builtins.exec"}},
		{"builtins.getattr", callWith("builtins", "getattr"), []string{"refused global builtins.getattr"}},
		{"__builtin__.eval", callWith("__builtin__", "eval"), []string{"refused global __builtin__.eval"}},
		{"__builtin__.__import__", callWith("__builtin__", "__import__"), []string{"refused global __builtin__.__import__"}},
		{"subprocess.Popen", callWith("subprocess", "Popen"), []string{"refused global subprocess.Popen"}},
		{"subprocess.run", callWith("subprocess", "run"), []string{"refused global subprocess.run"}},
		{"posix.system", callWith("posix", "system"), []string{"refused global posix.system"}},
		{"nt.system", callWith("nt", "system"), []string{"refused global nt.system"}},
		{"os.path submodule", callWith("os.path", "join"), []string{"refused global os.path.join"}},
		{"sys.modules", callWith("sys", "modules"), []string{"refused global sys.modules"}},
		{"shutil.rmtree", callWith("shutil", "rmtree"), []string{"refused global shutil.rmtree"}},
		{"socket.socket", callWith("socket", "socket"), []string{"refused global socket.socket"}},
		{"pty.spawn", callWith("pty", "spawn"), []string{"refused global pty.spawn"}},
		{"importlib.import_module", callWith("importlib", "import_module"), []string{"refused global importlib.import_module"}},
		{"runpy._run_code", callWith("runpy", "_run_code"), []string{"refused global runpy._run_code"}},
		{"pickle.loads", callWith("pickle", "loads"), []string{"refused global pickle.loads"}},
		{"marshal.loads", callWith("marshal", "loads"), []string{"refused global marshal.loads"}},
		{"types.FunctionType", callWith("types", "FunctionType"), []string{"refused global types.FunctionType"}},
		{"functools.partial", callWith("functools", "partial"), []string{"refused global functools.partial"}},
		{"operator.attrgetter", callWith("operator", "attrgetter"), []string{"refused global operator.attrgetter"}},
		{"operator.methodcaller", callWith("operator", "methodcaller"), []string{"refused global operator.methodcaller"}},
		{"webbrowser.open", callWith("webbrowser", "open"), []string{"refused global webbrowser.open"}},
		{"ctypes.CDLL", callWith("ctypes", "CDLL"), []string{"refused global ctypes.CDLL"}},
		{"os reached through torch", callWith("torch", "os"), []string{"refused global torch.os"}},
		{"STACK_GLOBAL os.system", stackGlobal("os", "system"), []string{"data.pkl offset 14: refused global os.system"}},
		{"STACK_GLOBAL builtins.eval", stackGlobal("builtins", "eval"), []string{"refused global builtins.eval"}},
		{"STACK_GLOBAL dotted path", stackGlobal("torch.serialization", "os.system"), []string{"refused global torch.serialization.os.system"}},
		{"STACK_GLOBAL dotted getattr", stackGlobal("collections", "OrderedDict.getattr"), []string{"refused global collections.OrderedDict.getattr"}},
		{"STACK_GLOBAL of ints", (&pk{}).proto(4).int(1).int(2).op(opStackGlobal, opStop).b, []string{"STACK_GLOBAL of a int and a int"}},
		{"deep MARK nesting", deepMarks.b, []string{"MARK nesting deeper than 10000"}},
		{"huge BINUNICODE", hugeString, []string{"data.pkl offset 2:", "string of 4294967295 bytes exceeds the 0 bytes left"}},
		{"huge BINUNICODE8", huge8.b, []string{"string of 4611686018427387904 bytes exceeds"}},
		{"memo index out of range", (&pk{}).proto(2).op(opEmptyDict, opBinPut, 0, opBinGet, 7, opStop).b, []string{"data.pkl offset 5: memo index 7 not defined"}},
		{"long memo index out of range", (&pk{}).proto(2).op(opLongBinGet, 0xff, 0xff, 0xff, 0xff).b, []string{"memo index 4294967295 not defined"}},
		{"unknown opcode", (&pk{}).proto(2).op(0xff).b, []string{"data.pkl offset 2: unknown opcode 0xff"}},
		{"unsupported opcode INST", (&pk{}).proto(2).op('i').b, []string{"unsupported opcode INST (0x69)"}},
		{"unsupported protocol", (&pk{}).proto(9).b, []string{"unsupported pickle protocol 9"}},
		{"no STOP", (&pk{}).proto(2).op(opEmptyDict).b, []string{"data.pkl offset 3: pickle ends without STOP"}},
		{"stack underflow", (&pk{}).proto(2).op(opReduce).b, []string{"REDUCE: stack underflow"}},
		{"SETITEMS without MARK", (&pk{}).proto(2).op(opEmptyDict, opSetItems).b, []string{"SETITEMS without MARK"}},
		{"unhashable key", (&pk{}).proto(2).op(opEmptyDict, opEmptyList, opNone, opSetItem).b, []string{"unhashable dict key of type list"}},
		{"call a string", (&pk{}).proto(2).str("x").op(opEmptyTuple, opReduce).b, []string{"REDUCE: cannot call a str"}},
		{"call a storage class", (&pk{}).proto(2).global("torch", "FloatStorage").op(opEmptyTuple, opReduce).b, []string{"cannot call torch.FloatStorage"}},
		{"bad persistent id", (&pk{}).proto(2).str("module").op(opBinPersID).b, []string{"persistent id is a str"}},
		{"unsupported storage type", (&pk{}).proto(2).op(opMark).str("storage").global("torch", "ComplexFloatStorage").str("0").str("cpu").int(1).op(opTuple, opBinPersID).b, []string{"unsupported storage type torch.ComplexFloatStorage"}},
		{"negative size", stateDict(entry("w", tensorSpec{"FloatStorage", "0", 4, 0, []int{-1}, []int{1}})), []string{"size[0] is -1"}},
		{"placeholder as a state-dict value", stateDict(func(p *pk) {
			p.str("w").global("argparse", "Namespace").op(opEmptyTuple, opNewObj)
		}), []string{`tensor "w": value is an inert placeholder built by argparse.Namespace`}},
		{"placeholder call as a state-dict value", stateDict(func(p *pk) {
			p.str("w").global("torch._utils", "_rebuild_qtensor").op(opEmptyTuple, opReduce)
		}), []string{`tensor "w"`, "torch._utils._rebuild_qtensor"}},
		{"class global as a state-dict value", stateDict(func(p *pk) {
			p.str("w").global("numpy", "ndarray")
		}), []string{`tensor "w": value is the global numpy.ndarray`}},
		{"pickled module object", (&pk{}).proto(2).global("mymodels", "Net").op(opEmptyTuple, opNewObj, opEmptyDict, opBuild, opStop).b, []string{"pickled mymodels.Net object, not a state dict (save model.state_dict() instead)"}},
		{"state_dict not a dict", (&pk{}).proto(2).op(opEmptyDict).str("state_dict").int(3).op(opSetItem, opStop).b, []string{"the state_dict entry is a int, not a dict"}},
		{"non-str key", (&pk{}).proto(2).op(opEmptyDict).int(3).int(3).op(opSetItem, opStop).b, []string{"state dict key #0 is a int, not a str"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readBytes(makeZip(t, "archive", tc.pkl))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(tc.want[0], "refused") && !errors.Is(err, ErrRefusedGlobal) {
				t.Errorf("error %q is not ErrRefusedGlobal", err)
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Errorf("error %q is not a *torchckpt.Error", err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the pickle ran a command")
			}
		})
	}
}

// TestDeepListNesting builds lists nested a million deep: no recursion, no crash.
func TestDeepListNesting(t *testing.T) {
	const depth = 1 << 20
	p := (&pk{}).proto(2)
	for range depth {
		p.op(opEmptyList)
	}
	for range depth - 1 {
		p.op(opAppend)
	}
	err := readBytes(makeZip(t, "archive", p.op(opStop).b))
	if err == nil || !strings.Contains(err.Error(), "holds a list, not a state dict") {
		t.Fatalf("error %v, want a list is not a state dict", err)
	}
}

// TestCraftedCheckpoints covers valid variants and bad storages with hand-made zips.
func TestCraftedCheckpoints(t *testing.T) {
	w6 := f32Bytes(0, 1, 2, 3, 4, 5)
	st := func(key string, numel int) tensorSpec {
		return tensorSpec{"FloatStorage", key, numel, 0, []int{numel}, []int{1}}
	}
	lightning := (&pk{}).proto(2).op(opEmptyDict, opMark)
	lightning.str("epoch").int(3)
	lightning.str("callbacks").op(opEmptyDict).global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint").op(opEmptyDict).op(opSetItem)
	lightning.str("hyper_parameters").global("argparse", "Namespace").op(opEmptyTuple, opNewObj, opEmptyDict).str("lr").float(0.1).op(opSetItem, opBuild)
	lightning.str("state_dict").orderedDict().op(opMark)
	lightning.str("b").tensor(tensorSpec{"FloatStorage", "0", 6, 2, []int{2, 2}, []int{1, 2}})
	lightning.str("a").tensor(st("0", 6))
	lightning.op(opSetItems, opEmptyDict).str("_metadata").orderedDict().op(opSetItem, opBuild)
	lightning.op(opSetItems, opStop)

	param := stateDict(func(p *pk) {
		p.str("p").global("torch._utils", "_rebuild_parameter").op(opMark).tensor(st("0", 6)).op(opNewTrue).orderedDict().op(opTuple, opReduce)
	}, func(p *pk) {
		p.str("q").global("torch._tensor", "_rebuild_from_type_v2").op(opMark).global("torch._utils", "_rebuild_tensor_v2").global("torch.nn.parameter", "Parameter")
		p.op(opMark).op(opMark).str("storage").global("torch", "float32").str("0").str("cuda:1").int(6).op(opTuple, opBinPersID)
		p.int(5).op(opEmptyTuple, opEmptyTuple, opNewFalse).orderedDict().op(opTuple).op(opEmptyDict, opTuple, opReduce)
	}, func(p *pk) {
		p.str("skip_int").int(7).str("skip_float").float(1.5).str("skip_none").op(opNone)
	})

	type want struct {
		name  string
		shape []int
		f32   []float32
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		want  []want
		error string
	}{
		{"lightning wrapper", makeZip(t, "model", lightning.b, storageFile("0", w6)),
			[]want{{"b", []int{2, 2}, []float32{2, 4, 3, 5}}, {"a", []int{6}, []float32{0, 1, 2, 3, 4, 5}}}, ""},
		{"order kept", makeZip(t, "x", stateDict(entry("z", st("0", 6)), entry("a", st("0", 6)), entry("m", tensorSpec{"FloatStorage", "0", 6, 5, nil, nil})), storageFile("0", w6)),
			[]want{{"z", []int{6}, nil}, {"a", []int{6}, nil}, {"m", []int{}, []float32{5}}}, ""},
		{"parameters and from_type", makeZip(t, "x", param, storageFile("0", w6)),
			[]want{{"p", []int{6}, []float32{0, 1, 2, 3, 4, 5}}, {"q", []int{}, []float32{5}}}, ""},
		{"deflated storage", makeZip(t, "x", stateDict(entry("w", st("0", 6))), zipFile{"data/0", w6, 8}),
			[]want{{"w", []int{6}, []float32{0, 1, 2, 3, 4, 5}}}, ""},
		{"empty tensor", makeZip(t, "x", stateDict(entry("e", tensorSpec{"FloatStorage", "0", 0, 0, []int{0, 3}, []int{3, 1}})), storageFile("0", nil)),
			[]want{{"e", []int{0, 3}, []float32{}}}, ""},
		{"view past the storage", makeZip(t, "x", stateDict(entry("w", tensorSpec{"FloatStorage", "3", 6, 2, []int{2, 3}, []int{3, 1}})), storageFile("3", w6)),
			nil, `torchckpt: tensor "w": storage "3" has 6 elements, view needs 8`},
		{"strided view past the storage", makeZip(t, "x", stateDict(entry("w", tensorSpec{"FloatStorage", "0", 6, 0, []int{3, 2}, []int{1, 5}})), storageFile("0", w6)),
			nil, `storage "0" has 6 elements, view needs 8`},
		{"missing storage", makeZip(t, "x", stateDict(entry("w", st("1", 6))), storageFile("0", w6)),
			nil, `tensor "w": storage "1": no zip entry x/data/1`},
		{"short storage", makeZip(t, "x", stateDict(entry("w", st("0", 8))), storageFile("0", w6)),
			nil, `storage "0": 8×float32: entry x/data/0 has 24 bytes, want 32`},
		{"storage used with two types", makeZip(t, "x", stateDict(entry("w", st("0", 6)), entry("v", tensorSpec{"HalfStorage", "0", 6, 0, []int{6}, []int{1}})), storageFile("0", w6)),
			nil, `storage "0" used as 6×float32 and as 6×float16`},
		{"expanded view too large", makeZip(t, "x", stateDict(entry("w", tensorSpec{"FloatStorage", "0", 6, 0, []int{1 << 20, 1 << 19}, []int{0, 0}})), storageFile("0", w6)),
			nil, `implausible for a`},
		{"empty file", nil, nil, "torchckpt: not a PyTorch zip checkpoint: empty file"},
		{"no data.pkl", noPickleZip(t), nil, "torchckpt: zip: not a PyTorch zip checkpoint: no <folder>/data.pkl entry"},
		{"data.pkl without folder", noFolderZip(t), nil, "no <folder>/data.pkl entry"},
		{"garbage", []byte("hello, this is not a checkpoint at all"), nil, "torchckpt: not a PyTorch zip checkpoint: zip: not a valid zip file"},
		{"legacy magic", []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}, nil, "unsupported legacy (non-zip) checkpoint format: re-save it with torch >= 1.6"},
		{"big-endian", makeZip(t, "x", stateDict(), zipFile{name: "byteorder", data: []byte("big")}), nil, `unsupported byte order "big"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Read(bytes.NewReader(tc.data), int64(len(tc.data)))
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("error %v, want %q", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Tensors) != len(tc.want) {
				t.Fatalf("tensors %v, want %d", w.Names(), len(tc.want))
			}
			for i, x := range tc.want {
				got := w.Tensors[i]
				if got.Name != x.name || !slices.Equal(got.Shape, x.shape) || got.DType != model.F32 {
					t.Errorf("tensor %d: %s %v %s, want %s %v float32", i, got.Name, got.Shape, got.DType, x.name, x.shape)
				}
				if x.f32 != nil && !slices.Equal(got.F32, x.f32) {
					t.Errorf("%s: %v, want %v", x.name, got.F32, x.f32)
				}
				if got.F32 == nil {
					t.Errorf("%s: F32 is nil", x.name)
				}
			}
		})
	}
}

// TestModelWrapper reads {'epoch': 1, 'model': state_dict}.
func TestModelWrapper(t *testing.T) {
	p := (&pk{}).proto(2).op(opEmptyDict, opMark).str("epoch").int(1).str("model").orderedDict().op(opMark)
	p.str("w").tensor(tensorSpec{"DoubleStorage", "0", 1, 0, nil, nil})
	p.op(opSetItems, opSetItems, opStop)
	b := makeZip(t, "x", p.b, storageFile("0", binary.LittleEndian.AppendUint64(nil, 0x3ff8000000000000)))
	w, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Get("w"); got == nil || got.DType != model.F64 || len(got.F32) != 1 || got.F32[0] != 1.5 {
		t.Fatalf("w = %+v, want float64 scalar 1.5", got)
	}
}

func noPickleZip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if _, err := zw.Create("x/version"); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func noFolderZip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("data.pkl")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(stateDict())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGlobalTables checks which globals are refused, built or left inert.
func TestGlobalTables(t *testing.T) {
	for _, tc := range []struct {
		module, name string
		refused      bool
		kind         globalKind
	}{
		{"collections", "OrderedDict", false, kindOrderedDict},
		{"torch._utils", "_rebuild_tensor_v2", false, kindRebuildTensor},
		{"torch._utils", "_rebuild_parameter_with_state", false, kindRebuildParameter},
		{"torch", "HalfStorage", false, kindStorageType},
		{"torch", "bfloat16", false, kindStorageType},
		{"torch.storage", "UntypedStorage", false, kindStorageType},
		{"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", false, kindPlaceholder},
		{"argparse", "Namespace", false, kindPlaceholder},
		{"numpy.core.multiarray", "_reconstruct", false, kindPlaceholder},
		{"codecs", "encode", false, kindPlaceholder},
		{"torch.nn.modules.conv", "Conv2d", false, kindPlaceholder},
		{"os", "system", true, 0},
		{"os.path", "join", true, 0},
		{"builtins", "eval", true, 0},
		{"builtins", "getattr.__self__", true, 0},
		{"builtins", "dict", false, kindPlaceholder},
		{"torch.serialization", "os.system", true, 0},
		{"torch", "os", true, 0},
		{"collections", "OrderedDict.__init__.__globals__.getattr", true, 0},
		{"functools", "partial", true, 0},
		{"operator", "itemgetter", false, kindPlaceholder},
	} {
		g, err := resolveGlobal(tc.module, tc.name)
		if tc.refused {
			if !errors.Is(err, ErrRefusedGlobal) {
				t.Errorf("%s.%s: error %v, want refused", tc.module, tc.name, err)
			}
			continue
		}
		if err != nil || g.kind != tc.kind {
			t.Errorf("%s.%s: %+v, %v; want kind %d", tc.module, tc.name, g, err, tc.kind)
		}
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestStoragesReadOnce reads the Swin checkpoint, whose 63 shared weights view 16
// storages, and checks that no storage is read twice.
func TestStoragesReadOnce(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixture.Root(t), "swin-nyud-small", "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	cr := &countingReaderAt{r: bytes.NewReader(b)}
	if _, err := Read(cr, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if cr.n > int64(len(b))*11/10 {
		t.Errorf("read %d bytes of a %d-byte file", cr.n, len(b))
	}
}

// TestPickleValuesBounded: a small checkpoint whose deflated data.pkl is millions of NONE
// opcodes (each a value on the unpickler's stack) is refused before memory is at risk, and
// so is one that memoizes the same value over and over.
func TestPickleValuesBounded(t *testing.T) {
	nones := append((&pk{}).proto(2).b, bytes.Repeat([]byte{opNone}, maxValues+1)...)
	memos := append((&pk{}).proto(4).op(opNone).b, bytes.Repeat([]byte{opMemoize}, maxMemo+1)...)
	for name, pkl := range map[string][]byte{"NONE": nones, "MEMOIZE": memos} {
		// Deflate data.pkl too: the file stays small while the pickle is large.
		z := deflatedZip(t, "archive", append(pkl, opStop))
		if len(z) > 1<<20 {
			t.Fatalf("%s: the crafted checkpoint is %d bytes, want it small", name, len(z))
		}
		err := readBytes(z)
		if err == nil || !strings.Contains(err.Error(), "pickle creates more than") && !strings.Contains(err.Error(), "memo of more than") {
			t.Errorf("%s: error %v, want the value limit", name, err)
		}
	}
}

// deflatedZip is makeZip with data.pkl deflated.
func deflatedZip(t *testing.T, top string, pkl []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []zipFile{{name: "data.pkl", data: pkl, method: zip.Deflate}, {name: "version", data: []byte("3\n")}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: top + "/" + f.name, Method: f.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
