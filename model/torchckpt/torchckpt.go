// Package torchckpt reads and writes PyTorch zip checkpoints (torch.save, torch >= 1.6).
// Read takes the state dict of a plain or PyTorch-Lightning checkpoint into model.Weights
// without running any code: its pickle machine only ever builds dicts, tensors and inert
// placeholders, and refuses known code-execution globals by name. Write is the other half:
// it lays out a state dict as torch.save does, with a pickle that torch.load(...,
// weights_only=True) accepts.
package torchckpt

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/model"
)

// Errors that Read wraps (test with errors.Is).
var (
	// ErrLegacyFormat: the file is a pre-1.6 (non-zip) torch.save stream.
	ErrLegacyFormat = errors.New("unsupported legacy (non-zip) checkpoint format: re-save it with torch >= 1.6 (torch.save with the default zip serialization)")
	// ErrNotCheckpoint: the file is neither a zip checkpoint nor a legacy one.
	ErrNotCheckpoint = errors.New("not a PyTorch zip checkpoint")
	// ErrRefusedGlobal: the pickle names a known code-execution vector.
	ErrRefusedGlobal = errors.New("refused global")
)

// Error says where a checkpoint went wrong.
type Error struct {
	Part   string // what was being read: "data.pkl", `tensor "w"`, `storage "3"`, "zip"; "" for the file
	Offset int64  // byte offset within Part, or -1
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Part == "":
		return "torchckpt: " + e.Err.Error()
	case e.Offset >= 0:
		return fmt.Sprintf("torchckpt: %s offset %d: %v", e.Part, e.Offset, e.Err)
	}
	return fmt.Sprintf("torchckpt: %s: %v", e.Part, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func errAt(part string, err error) error { return &Error{Part: part, Offset: -1, Err: err} }

// Limits on what a file may make Read allocate.
const (
	// maxDeflateRatio bounds the size a deflated zip entry may claim (deflate
	// cannot compress better than about 1032:1).
	maxDeflateRatio = 1100
	// elementsPerByte and extraElements bound the total number of tensor elements
	// (views may repeat storage elements, e.g. expanded or shared weights) to
	// elementsPerByte·size + extraElements.
	elementsPerByte = 16
	extraElements   = 1 << 22
)

// ReadFile opens path and calls Read; errors are prefixed with the path.
func ReadFile(path string) (*model.Weights, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w, err := Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// Read parses a torch.save zip checkpoint from r (size bytes) and returns its state dict.
//
// The top-level object is either the state dict (a dict or OrderedDict of name →
// tensor) or a dict holding it under "state_dict" (Lightning; every other entry is
// ignored) or, failing that, under "model" or "module". Keys are kept exactly as
// stored, in state-dict order. Integer, float, bool and None values in the state
// dict are skipped. Floating tensors are returned as float32 (DType records the
// stored type); integer and bool tensors as int64.
func Read(r io.ReaderAt, size int64) (*model.Weights, error) {
	if size <= 0 {
		return nil, errAt("", fmt.Errorf("%w: empty file", ErrNotCheckpoint))
	}
	var first [1]byte
	if _, err := r.ReadAt(first[:], 0); err != nil {
		return nil, errAt("", fmt.Errorf("reading the first byte: %w", err))
	}
	if first[0] == 0x80 { // pickle PROTO: the legacy format is a stream of pickles
		return nil, errAt("", ErrLegacyFormat)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are never used as paths
		return nil, errAt("", fmt.Errorf("%w: %w", ErrNotCheckpoint, err))
	}
	entries := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		entries[f.Name] = f
		top, rest, ok := strings.Cut(f.Name, "/")
		if ok && top != "" && rest == "data.pkl" {
			if pkl != nil {
				return nil, errAt("zip", fmt.Errorf("%w: two data.pkl entries (%s, %s)", ErrNotCheckpoint, pkl.Name, f.Name))
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errAt("zip", fmt.Errorf("%w: no <folder>/data.pkl entry", ErrNotCheckpoint))
	}
	top := strings.TrimSuffix(pkl.Name, "data.pkl") // "<folder>/"
	if f := entries[top+"byteorder"]; f != nil {
		b, err := readEntry(f, f.UncompressedSize64, size, 16)
		if err != nil {
			return nil, errAt(f.Name, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, errAt(f.Name, fmt.Errorf("unsupported byte order %q", s))
		}
	}
	data, err := readEntry(pkl, pkl.UncompressedSize64, size, maxPickle)
	if err != nil {
		return nil, errAt(pkl.Name, err)
	}
	obj, err := unpickle(data)
	if err != nil {
		return nil, err
	}
	named, err := collectTensors(obj)
	if err != nil {
		return nil, err
	}
	rd := &reader{entries: entries, prefix: top + "data/", size: size, cache: map[string][]byte{}, uses: map[string]int{}}
	return rd.readTensors(named)
}

// namedTensor is a state-dict entry that holds a tensor.
type namedTensor struct {
	name string
	t    *tensor
}

// collectTensors finds the state dict in the unpickled object and lists its tensors.
func collectTensors(obj any) ([]namedTensor, error) {
	sd, err := findStateDict(obj)
	if err != nil {
		return nil, errAt("data.pkl", err)
	}
	var out []namedTensor
	for i, k := range sd.keys {
		name, ok := k.(string)
		if !ok {
			return nil, errAt("data.pkl", fmt.Errorf("state dict key #%d is a %s, not a str", i, describe(k)))
		}
		switch v := sd.vals[i].(type) {
		case *tensor:
			out = append(out, namedTensor{name, v})
		case nil, bool, int64, float64, *bigInt:
			// Plain numbers are not tensors; skipped.
		case *object:
			return nil, errAt(fmt.Sprintf("tensor %q", name), fmt.Errorf("value is an inert placeholder built by %s, not a tensor (unsupported global)", v.class))
		case *global:
			return nil, errAt(fmt.Sprintf("tensor %q", name), fmt.Errorf("value is the %s, not a tensor (unsupported global)", describe(v)))
		default:
			return nil, errAt(fmt.Sprintf("tensor %q", name), fmt.Errorf("value is a %s, not a tensor", describe(v)))
		}
	}
	return out, nil
}

// findStateDict returns the state dict: obj itself, or obj["state_dict"], or
// obj["model"] / obj["module"] when that is a dict of tensors.
func findStateDict(obj any) (*dict, error) {
	switch o := obj.(type) {
	case *dict:
		if v, ok := o.get("state_dict"); ok {
			sd, ok := v.(*dict)
			if !ok {
				return nil, fmt.Errorf("the state_dict entry is a %s, not a dict", describe(v))
			}
			return sd, nil
		}
		for _, k := range []string{"model", "module"} {
			if v, ok := o.get(k); ok {
				if sd, ok := v.(*dict); ok && hasTensor(sd) {
					return sd, nil
				}
			}
		}
		return o, nil
	case *object:
		return nil, fmt.Errorf("the checkpoint holds a pickled %s object, not a state dict (save model.state_dict() instead)", o.class)
	}
	return nil, fmt.Errorf("the checkpoint holds a %s, not a state dict", describe(obj))
}

func hasTensor(d *dict) bool {
	for _, v := range d.vals {
		if _, ok := v.(*tensor); ok {
			return true
		}
	}
	return false
}

// reader reads storages from the zip, each once, and builds tensors from them.
type reader struct {
	entries map[string]*zip.File
	prefix  string // "<folder>/data/"
	size    int64
	cache   map[string][]byte // storage key → raw bytes, while tensors still need it
	uses    map[string]int    // storage key → tensors still to read from it
}

func (rd *reader) readTensors(named []namedTensor) (*model.Weights, error) {
	budget := elementsPerByte*rd.size + extraElements
	var total int64
	for _, nt := range named {
		n, err := numel(nt.t.shape)
		if err != nil {
			return nil, errAt(fmt.Sprintf("tensor %q", nt.name), err)
		}
		total += n
		if total > budget {
			return nil, errAt(fmt.Sprintf("tensor %q", nt.name), fmt.Errorf("tensors hold more than %d elements, implausible for a %d-byte file", budget, rd.size))
		}
		rd.uses[nt.t.st.key]++
	}
	out := make([]*model.Tensor, 0, len(named))
	for _, nt := range named {
		t, err := rd.readTensor(nt.name, nt.t)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	w, err := model.NewWeights(out)
	if err != nil {
		return nil, errAt("data.pkl", err)
	}
	return w, nil
}

// numel is the product of the dimensions, checked against overflow.
func numel(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if n > maxDim/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, int64(maxDim))
		}
		n *= d
	}
	return n, nil
}

// storageBytes returns the raw bytes of a storage, reading its entry on first use
// and dropping it after its last use.
func (rd *reader) storageBytes(st *storage) ([]byte, error) {
	b, ok := rd.cache[st.key]
	if !ok {
		name := rd.prefix + st.key
		f := rd.entries[name]
		if f == nil {
			return nil, fmt.Errorf("no zip entry %s", name)
		}
		var err error
		b, err = readEntry(f, uint64(st.numel)*uint64(dtypeInfo[st.dt].size), rd.size, math.MaxInt64)
		if err != nil {
			return nil, fmt.Errorf("%d×%s: %w", st.numel, st.dt, err)
		}
		rd.cache[st.key] = b
	}
	rd.uses[st.key]--
	if rd.uses[st.key] <= 0 {
		delete(rd.cache, st.key)
	}
	return b, nil
}

// readTensor checks the view against its storage and copies it out in row-major order.
func (rd *reader) readTensor(name string, t *tensor) (*model.Tensor, error) {
	part := fmt.Sprintf("tensor %q", name)
	n, err := numel(t.shape)
	if err != nil {
		return nil, errAt(part, err)
	}
	if n > 0 {
		// Highest storage element the view touches; every term is < 2^80, so
		// the sum is checked in float64 first.
		last := float64(t.offset)
		for i, d := range t.shape {
			last += float64(d-1) * float64(t.stride[i])
		}
		if last >= float64(t.st.numel) {
			return nil, errAt(part, fmt.Errorf("storage %q has %d elements, view needs %.0f (offset %d, size %v, stride %v)", t.st.key, t.st.numel, last+1, t.offset, t.shape, t.stride))
		}
	}
	raw, err := rd.storageBytes(t.st)
	if err != nil {
		return nil, errAt(part, fmt.Errorf("storage %q: %w", t.st.key, err))
	}
	info := dtypeInfo[t.st.dt]
	out := &model.Tensor{Name: name, Shape: make([]int, len(t.shape)), DType: info.model}
	for i, d := range t.shape {
		out.Shape[i] = int(d)
	}
	if info.float {
		out.F32 = make([]float32, n)
	} else {
		out.I64 = make([]int64, n)
	}
	forEachRun(t, n, func(dst, start, stride, count int64) {
		if info.float {
			convertFloat(t.st.dt, raw, start, stride, out.F32[dst:dst+count])
		} else {
			convertInt(t.st.dt, raw, start, stride, out.I64[dst:dst+count])
		}
	})
	return out, nil
}

// forEachRun walks a view of n > 0 elements in row-major order as runs along its
// last dimension: fn(dst, start, stride, count) copies count elements to dst from
// storage elements start, start+stride, .... A contiguous view is one run.
func forEachRun(t *tensor, n int64, fn func(dst, start, stride, count int64)) {
	if n == 0 {
		return
	}
	rank := len(t.shape)
	contiguous := true
	want := int64(1)
	for i := rank - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want {
			contiguous = false
			break
		}
		want *= t.shape[i]
	}
	if contiguous {
		fn(0, t.offset, 1, n)
		return
	}
	count, stride := t.shape[rank-1], t.stride[rank-1]
	idx := make([]int64, rank-1)
	base := t.offset
	for dst := int64(0); dst < n; dst += count {
		fn(dst, base, stride, count)
		for d := rank - 2; d >= 0; d-- {
			idx[d]++
			base += t.stride[d]
			if idx[d] < t.shape[d] {
				break
			}
			base -= t.stride[d] * t.shape[d]
			idx[d] = 0
		}
	}
}

// convertFloat decodes little-endian floating elements into float32.
func convertFloat(dt dtype, raw []byte, start, stride int64, dst []float32) {
	switch dt {
	case dtF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(start+int64(i)*stride):]))
		}
	case dtF16:
		for i := range dst {
			dst[i] = f16.ToFloat32(binary.LittleEndian.Uint16(raw[2*(start+int64(i)*stride):]))
		}
	case dtBF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*(start+int64(i)*stride):])) << 16)
		}
	case dtF64:
		for i := range dst {
			dst[i] = float64To32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*(start+int64(i)*stride):])))
		}
	}
}

// float64To32 rounds to the nearest float32, overflowing to ±Inf (Go leaves
// out-of-range conversions implementation-defined).
func float64To32(v float64) float32 {
	if math.Abs(v) >= 0x1.ffffffp127 { // halfway between MaxFloat32 and 2^128
		return float32(math.Copysign(math.Inf(1), v))
	}
	return float32(v)
}

// convertInt decodes little-endian integer (and bool) elements into int64.
func convertInt(dt dtype, raw []byte, start, stride int64, dst []int64) {
	switch dt {
	case dtI64:
		for i := range dst {
			dst[i] = int64(binary.LittleEndian.Uint64(raw[8*(start+int64(i)*stride):]))
		}
	case dtI32:
		for i := range dst {
			dst[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*(start+int64(i)*stride):])))
		}
	case dtI16:
		for i := range dst {
			dst[i] = int64(int16(binary.LittleEndian.Uint16(raw[2*(start+int64(i)*stride):])))
		}
	case dtI8:
		for i := range dst {
			dst[i] = int64(int8(raw[start+int64(i)*stride]))
		}
	case dtU8:
		for i := range dst {
			dst[i] = int64(raw[start+int64(i)*stride])
		}
	case dtBool:
		for i := range dst {
			if raw[start+int64(i)*stride] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	}
}

// readEntry reads a whole zip entry that must hold exactly want bytes (at most
// limit), checking the sizes the zip claims against the file before allocating,
// and verifying the entry's CRC.
func readEntry(f *zip.File, want uint64, fileSize int64, limit uint64) ([]byte, error) {
	if f.UncompressedSize64 != want {
		return nil, fmt.Errorf("entry %s has %d bytes, want %d", f.Name, f.UncompressedSize64, want)
	}
	if want > limit {
		return nil, fmt.Errorf("entry %s of %d bytes is larger than the %d-byte limit", f.Name, want, limit)
	}
	if f.CompressedSize64 > uint64(fileSize) {
		return nil, fmt.Errorf("entry %s claims %d compressed bytes in a %d-byte file", f.Name, f.CompressedSize64, fileSize)
	}
	switch f.Method {
	case zip.Store:
		if want != f.CompressedSize64 {
			return nil, fmt.Errorf("stored entry %s claims %d bytes but holds %d", f.Name, want, f.CompressedSize64)
		}
	case zip.Deflate:
		if want/maxDeflateRatio > f.CompressedSize64 {
			return nil, fmt.Errorf("entry %s claims %d bytes from %d compressed bytes", f.Name, want, f.CompressedSize64)
		}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, want)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("entry %s: %w", f.Name, err)
	}
	// Reading to EOF makes archive/zip verify the CRC.
	extra, err := io.ReadAll(io.LimitReader(rc, 1))
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", f.Name, err)
	}
	if len(extra) > 0 {
		return nil, fmt.Errorf("entry %s is longer than %d bytes", f.Name, want)
	}
	return buf, nil
}
