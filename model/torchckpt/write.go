package torchckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/demt-web/demt/internal/atomicfile"

	"github.com/demt-web/demt/model"
)

// What Write puts in the zip, as torch.save does (torch/serialization.py _save and
// caffe2/serialize/inline_container.cc): every entry under one top folder, stored
// uncompressed with its data 64-byte aligned; data.pkl first, then byteorder, then one
// data/<key> entry per storage in sorted key order, then version.
const (
	zipAlignment  = 64
	formatVersion = "3\n" // the record version torch >= 1.6 writes
	byteOrder     = "little"
	paddingID     = 0x4246 // "FB": the extra field torch's writer pads local headers with
)

// maxPickleInt bounds the integers Write puts in the pickle (element counts, shapes,
// strides): the torch 1.13 weights-only unpickler reads BININT but the writer keeps to the
// opcodes a torch.save of a state dict uses, so larger tensors are refused.
const maxPickleInt = math.MaxInt32

// WriteFile writes w as a PyTorch state dict (see Write) to path, through a temporary file
// in the same folder that is renamed into place, so path is never left half-written. The
// zip's top folder is named after path, as torch.save names it. It refuses to write to path
// when path is, or is the same file as, one of the protected paths (the inputs).
func WriteFile(path string, w *model.Weights, protect ...string) error {
	err := atomicfile.Write(path, func(bw io.Writer) error { return Write(bw, ArchiveName(path), w) }, protect...)
	if err != nil {
		return fmt.Errorf("torchckpt: %w", err)
	}
	return nil
}

// ArchiveName is the top folder torch.save gives the zip written to path: the file's base
// name without its extension ("model" for runs/model.pth), or "archive" when that is empty.
func ArchiveName(path string) string {
	base := filepath.Base(path)
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if base == "" || base == "." || base == string(filepath.Separator) {
		return "archive"
	}
	return base
}

// Write writes w to out as torch.save(state_dict) writes a zip checkpoint (torch >= 1.6):
// <archive>/data.pkl holds a pickle (protocol 2) of an OrderedDict, in w's order, of
// torch._utils._rebuild_tensor_v2 calls on persistent storage references, and
// <archive>/data/<n> the raw little-endian bytes of storage n, one per tensor. Float tensors
// are written as float32 (FloatStorage) whatever their source type, integer ones as int64
// (LongStorage). The pickle uses only globals and opcodes that torch.load(...,
// weights_only=True) of torch 1.13 accepts (no floats, no code).
func Write(out io.Writer, archive string, w *model.Weights) error {
	if archive == "" || strings.ContainsAny(archive, "/\\") {
		return fmt.Errorf("torchckpt: bad archive folder name %q", archive)
	}
	pkl, err := statePickle(w)
	if err != nil {
		return err
	}
	cw := &countingWriter{w: out}
	zw := zip.NewWriter(cw)
	put := func(name string, data []byte) error {
		if err := writeAligned(zw, cw, archive+"/"+name, data); err != nil {
			return fmt.Errorf("torchckpt: write %s: %w", name, err)
		}
		return nil
	}
	if err := put("data.pkl", pkl); err != nil {
		return err
	}
	if err := put("byteorder", []byte(byteOrder)); err != nil {
		return err
	}
	// torch writes the storages sorted by key as strings: data/0, data/1, data/10, ...
	keys := make([]string, len(w.Tensors))
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	sort.Strings(keys)
	var buf []byte
	for _, k := range keys {
		i, _ := strconv.Atoi(k)
		buf = storageBytes(w.Tensors[i], buf[:0])
		if err := put("data/"+k, buf); err != nil {
			return fmt.Errorf("%w (tensor %q)", err, w.Tensors[i].Name)
		}
	}
	if err := put("version", []byte(formatVersion)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("torchckpt: write zip directory: %w", err)
	}
	return nil
}

// writeAligned adds a stored entry whose data starts at a multiple of zipAlignment, padding
// the local header with an "FB" extra field as torch's writer does.
func writeAligned(zw *zip.Writer, cw *countingWriter, name string, data []byte) error {
	if err := zw.Flush(); err != nil { // so that cw.n is the offset of the next header
		return err
	}
	const localHeader, fieldHeader = 30, 4
	pad := (zipAlignment - (cw.n+localHeader+int64(len(name))+fieldHeader)%zipAlignment) % zipAlignment
	extra := make([]byte, fieldHeader+pad)
	binary.LittleEndian.PutUint16(extra[0:], paddingID)
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	}
	fw, err := zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	_, err = fw.Write(data)
	return err
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// storageBytes appends the little-endian bytes of t's values to buf: float32 for float
// tensors, int64 for integer ones.
func storageBytes(t *model.Tensor, buf []byte) []byte {
	if t.I64 != nil {
		for _, v := range t.I64 {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
		return buf
	}
	for _, v := range t.F32 {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	return buf
}

// Pickle opcodes the writer emits (a subset of what a torch.save of a state dict contains).
const (
	wMark       = '('
	wStop       = '.'
	wBinInt     = 'J'
	wBinInt1    = 'K'
	wBinInt2    = 'M'
	wBinPersID  = 'Q'
	wReduce     = 'R'
	wBinUnicode = 'X'
	wGlobal     = 'c'
	wBinGet     = 'h'
	wLongBinGet = 'j'
	wBinPut     = 'q'
	wLongBinPut = 'r'
	wSetItem    = 's'
	wTuple      = 't'
	wEmptyTuple = ')'
	wSetItems   = 'u'
	wProto      = 0x80
	wTuple1     = 0x85
	wTuple2     = 0x86
	wTuple3     = 0x87
	wNewFalse   = 0x89
)

// setItemsBatch is how many dict items Python's pickler puts between a MARK and a SETITEMS.
const setItemsBatch = 1000

// pickler writes a protocol-2 pickle the way Python's pickler lays out a state dict.
// Globals and repeated strings are memoised once and fetched again with BINGET.
type pickler struct {
	b    bytes.Buffer
	memo map[string]int // memo index of each memoised global and string
	next int            // the next memo index
}

// statePickle returns data.pkl for w: an OrderedDict of name → tensor, storage i for tensor i.
func statePickle(w *model.Weights) ([]byte, error) {
	p := &pickler{memo: map[string]int{}}
	p.b.Write([]byte{wProto, 2})
	p.global("collections", "OrderedDict")
	p.b.WriteByte(wEmptyTuple)
	p.b.WriteByte(wReduce)
	p.put()
	for start := 0; start < len(w.Tensors); start += setItemsBatch {
		batch := w.Tensors[start:min(start+setItemsBatch, len(w.Tensors))]
		if len(batch) > 1 {
			p.b.WriteByte(wMark)
		}
		for i, t := range batch {
			if err := p.tensor(t, start+i); err != nil {
				return nil, fmt.Errorf("torchckpt: tensor %q: %w", t.Name, err)
			}
		}
		if len(batch) > 1 {
			p.b.WriteByte(wSetItems)
		} else {
			p.b.WriteByte(wSetItem)
		}
	}
	p.b.WriteByte(wStop)
	return p.b.Bytes(), nil
}

// tensor writes the key and the value of one state-dict item:
// _rebuild_tensor_v2(('storage', FloatStorage|LongStorage, key, 'cpu', numel), 0, size,
// stride, False, OrderedDict()).
func (p *pickler) tensor(t *model.Tensor, key int) error {
	n := t.Numel()
	switch {
	case t.I64 == nil && t.F32 == nil:
		return fmt.Errorf("no values")
	case t.I64 != nil && t.F32 != nil:
		return fmt.Errorf("both float and integer values")
	case max(len(t.I64), len(t.F32)) != n:
		return fmt.Errorf("%d values for shape %v", max(len(t.I64), len(t.F32)), t.Shape)
	case int64(n) > maxPickleInt:
		return fmt.Errorf("%d elements: more than %d, which this writer does not support", n, int64(maxPickleInt))
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	storage := "FloatStorage"
	if t.I64 != nil {
		storage = "LongStorage"
	}
	p.str(t.Name, false)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.b.WriteByte(wMark)
	p.b.WriteByte(wMark) // the persistent id
	p.str("storage", true)
	p.global("torch", storage)
	p.str(strconv.Itoa(key), false)
	p.str("cpu", true)
	p.int(int64(n))
	p.b.WriteByte(wTuple)
	p.b.WriteByte(wBinPersID)
	p.int(0) // storage offset
	stride := make([]int, len(t.Shape))
	s := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		stride[i] = s
		s *= max(t.Shape[i], 1)
	}
	p.ints(t.Shape)
	p.ints(stride)
	p.b.WriteByte(wNewFalse) // requires_grad
	p.global("collections", "OrderedDict")
	p.b.WriteByte(wEmptyTuple)
	p.b.WriteByte(wReduce) // backward_hooks: a new, empty OrderedDict
	p.b.WriteByte(wTuple)
	p.b.WriteByte(wReduce)
	return nil
}

// global pushes module.name: GLOBAL and memoise on first use, BINGET after.
func (p *pickler) global(module, name string) {
	key := "global " + module + "." + name
	if p.get(key) {
		return
	}
	p.b.WriteByte(wGlobal)
	p.b.WriteString(module + "\n" + name + "\n")
	p.memo[key] = p.put()
}

// str pushes s as BINUNICODE; a memoised string is written once and fetched after.
func (p *pickler) str(s string, memo bool) {
	key := "str " + s
	if memo && p.get(key) {
		return
	}
	p.b.WriteByte(wBinUnicode)
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.b.WriteString(s)
	if memo {
		p.memo[key] = p.put()
	}
}

// int pushes v (0 ≤ v ≤ maxPickleInt here) with the shortest opcode, as Python does.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.b.Write([]byte{wBinInt1, byte(v)})
	case v >= 0 && v <= 0xffff:
		p.b.WriteByte(wBinInt2)
		p.b.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	default:
		p.b.WriteByte(wBinInt)
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	}
}

// ints pushes a tuple of ints (a shape or a stride), with protocol 2's short tuple opcodes.
func (p *pickler) ints(vs []int) {
	if len(vs) == 0 {
		p.b.WriteByte(wEmptyTuple)
		return
	}
	if len(vs) > 3 {
		p.b.WriteByte(wMark)
	}
	for _, v := range vs {
		p.int(int64(v))
	}
	switch len(vs) {
	case 1:
		p.b.WriteByte(wTuple1)
	case 2:
		p.b.WriteByte(wTuple2)
	case 3:
		p.b.WriteByte(wTuple3)
	default:
		p.b.WriteByte(wTuple)
	}
}

// put memoises the top of the stack under the next memo index and returns the index.
func (p *pickler) put() int {
	i := p.next
	p.next++
	if i < 256 {
		p.b.Write([]byte{wBinPut, byte(i)})
	} else {
		p.b.WriteByte(wLongBinPut)
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	return i
}

// get pushes the memoised object key, if there is one.
func (p *pickler) get(key string) bool {
	i, ok := p.memo[key]
	if !ok {
		return false
	}
	if i < 256 {
		p.b.Write([]byte{wBinGet, byte(i)})
	} else {
		p.b.WriteByte(wLongBinGet)
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	return true
}
