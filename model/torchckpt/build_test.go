package torchckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// pk builds pickle bytes by hand for tests.
type pk struct{ b []byte }

func (p *pk) op(ops ...byte) *pk { p.b = append(p.b, ops...); return p }

func (p *pk) proto(v byte) *pk { return p.op(opProto, v) }

func (p *pk) global(module, name string) *pk {
	p.b = append(p.b, opGlobal)
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

func (p *pk) str(s string) *pk {
	p.b = append(p.b, opBinUnicode)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pk) shortStr(s string) *pk {
	p.b = append(p.b, opShortBinUni, byte(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pk) int(n int) *pk {
	p.b = append(p.b, opBinInt)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(n)))
	return p
}

func (p *pk) float(f float64) *pk {
	p.b = append(p.b, opBinFloat)
	p.b = binary.BigEndian.AppendUint64(p.b, math.Float64bits(f))
	return p
}

func (p *pk) ints(ns ...int) *pk {
	p.op(opMark)
	for _, n := range ns {
		p.int(n)
	}
	return p.op(opTuple)
}

// orderedDict pushes an empty OrderedDict the way torch writes it.
func (p *pk) orderedDict() *pk {
	return p.global("collections", "OrderedDict").op(opEmptyTuple, opReduce)
}

// tensorSpec is a _rebuild_tensor_v2 call.
type tensorSpec struct {
	storageType   string // torch global name, e.g. "FloatStorage" or "float16"
	key           string
	numel         int
	offset        int
	shape, stride []int
}

// tensor pushes _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), ...).
func (p *pk) tensor(s tensorSpec) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2").op(opMark)
	p.op(opMark).str("storage").global("torch", s.storageType).str(s.key).str("cpu").int(s.numel).op(opTuple, opBinPersID)
	p.int(s.offset).ints(s.shape...).ints(s.stride...).op(opNewFalse).orderedDict()
	return p.op(opTuple, opReduce)
}

// stateDict builds PROTO 2, an OrderedDict of the given entries (key, then a
// function that pushes the value), and STOP.
func stateDict(entries ...func(p *pk)) []byte {
	p := (&pk{}).proto(2).orderedDict().op(opMark)
	for _, e := range entries {
		e(p)
	}
	return p.op(opSetItems, opStop).b
}

func entry(key string, s tensorSpec) func(p *pk) {
	return func(p *pk) { p.str(key).tensor(s) }
}

// zipFile is a checkpoint entry: name relative to the top folder.
type zipFile struct {
	name   string
	data   []byte
	method uint16
}

// makeZip wraps data.pkl and storages in a zip with top folder top.
func makeZip(t testing.TB, top string, pkl []byte, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	all := append([]zipFile{{name: "data.pkl", data: pkl}}, files...)
	all = append(all, zipFile{name: "version", data: []byte("3\n")})
	for _, f := range all {
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

func f32Bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func storageFile(key string, data []byte) zipFile { return zipFile{name: "data/" + key, data: data} }

func readBytes(b []byte) error {
	_, err := Read(bytes.NewReader(b), int64(len(b)))
	return err
}
