package demtfile

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/model"
)

// File is a decoded .demt file.
type File struct {
	Meta    Metadata
	Weights *model.Weights // float tensors dequantised to float32, DType the stored type
}

// Read decodes a .demt stream, reading r to its end. It holds one compressed and one
// uncompressed chunk at a time besides the tensors it returns. Float tensors come
// back as float32 in Tensor.F32 with Tensor.DType the stored type (model.F32, model.F16
// or model.I8, the latter dequantised); integer tensors in Tensor.I64 with model.I64.
// progress, if not nil, is called with the bytes read so far and the file size after
// the index and after each chunk. Errors are *Error.
func Read(r io.Reader, progress func(done, total int64)) (*File, error) {
	rd := &reader{r: r, table: crc32.MakeTable(crc32.Castagnoli)}
	l, err := rd.readLayout()
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(rd.pos, l.fileSize)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(MaxChunkBytes),
		zstd.WithDecoderMaxWindow(MaxChunkBytes),
		zstd.WithDecodeAllCapLimit(true)) // never decode past the length the index gives
	if err != nil {
		return nil, fmt.Errorf("demtfile: %w", err)
	}
	defer dec.Close()

	f := &filler{entries: l.entries, tensors: make([]*model.Tensor, len(l.entries))}
	var comp, out []byte
	var pad [256]byte
	for c, ce := range l.chunks {
		cerr := func(err error) error {
			return &Error{Section: "chunk", Chunk: c, Tensor: l.chunkTensor(c), Err: err}
		}
		p := pad[:ce.fileOff-rd.pos]
		if err := rd.readFull(p); err != nil {
			return nil, cerr(err)
		}
		for _, b := range p {
			if b != 0 {
				return nil, cerr(errors.New("non-zero padding before the chunk"))
			}
		}
		comp, err = rd.readGrow(comp, ce.clen)
		if err != nil {
			return nil, cerr(err)
		}
		if got := crc32.Checksum(comp, rd.table); got != ce.crcC {
			return nil, cerr(fmt.Errorf("%w: compressed bytes have CRC-32C %08x, index says %08x", ErrChecksum, got, ce.crcC))
		}
		if cap(out) < ce.ulen {
			out = make([]byte, 0, ce.ulen)
		}
		data, err := dec.DecodeAll(comp, out[:0:ce.ulen])
		if err != nil {
			return nil, cerr(fmt.Errorf("zstd: %w", err))
		}
		if len(data) != ce.ulen {
			return nil, cerr(fmt.Errorf("decompressed to %d bytes, index says %d", len(data), ce.ulen))
		}
		if got := crc32.Checksum(data, rd.table); got != ce.crcU {
			return nil, cerr(fmt.Errorf("%w: uncompressed bytes have CRC-32C %08x, index says %08x", ErrChecksum, got, ce.crcU))
		}
		if err := f.feed(data); err != nil {
			return nil, cerr(err)
		}
		if progress != nil {
			progress(rd.pos, l.fileSize)
		}
	}
	if err := f.feed(nil); err != nil {
		return nil, &Error{Section: "end", Chunk: -1, Err: err}
	}
	if f.ti != len(f.entries) {
		return nil, &Error{Section: "end", Chunk: -1, Err: fmt.Errorf("data ended after %d of %d tensors", f.ti, len(f.entries))}
	}
	var one [1]byte
	if n, err := io.ReadFull(rd.r, one[:]); n > 0 {
		return nil, &Error{Section: "end", Chunk: -1, Err: fmt.Errorf("unexpected data after the last chunk, at offset %d", rd.pos)}
	} else if err != io.EOF {
		return nil, &Error{Section: "end", Chunk: -1, Err: fmt.Errorf("read: %w", err)}
	}
	w, err := model.NewWeights(f.tensors)
	if err != nil {
		return nil, &Error{Section: "index", Chunk: -1, Err: err}
	}
	return &File{Meta: l.meta, Weights: w}, nil
}

// ReadFile reads the .demt file at path; see Read.
func ReadFile(path string, progress func(done, total int64)) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("demtfile: %w", err)
	}
	defer fh.Close()
	f, err := Read(bufio.NewReaderSize(fh, 256<<10), progress)
	var e *Error
	if errors.As(err, &e) {
		e.Path = path
	}
	return f, err
}

// ReadHeader reads only the header, the metadata and the tensor index, checksums
// included, without reading or decompressing the data chunks. Errors are *Error.
func ReadHeader(r io.Reader) (*Metadata, []IndexEntry, error) {
	rd := &reader{r: r, table: crc32.MakeTable(crc32.Castagnoli)}
	l, err := rd.readLayout()
	if err != nil {
		return nil, nil, err
	}
	return &l.meta, l.entries, nil
}

// layout is what the header, the metadata and the index of a file say.
type layout struct {
	meta      Metadata
	entries   []IndexEntry
	chunks    []chunkEntry
	chunkSize int
	fileSize  int64
}

// chunkEntry is one chunk of the index, with its file offset worked out.
type chunkEntry struct {
	fileOff    int64
	clen, ulen int
	crcC, crcU uint32
}

// chunkTensor names the first tensor with bytes in chunk c, for error messages.
func (l *layout) chunkTensor(c int) string {
	start := int64(c) * int64(l.chunkSize)
	i := sort.Search(len(l.entries), func(i int) bool {
		e := &l.entries[i]
		return e.Offset+e.Length > start
	})
	for ; i < len(l.entries); i++ {
		if l.entries[i].Length > 0 {
			if l.entries[i].Offset < start+int64(l.chunkSize) {
				return l.entries[i].Name
			}
			break
		}
	}
	return ""
}

// reader counts the bytes it reads from r.
type reader struct {
	r     io.Reader
	pos   int64
	table *crc32.Table
}

// readFull fills b; a short read is ErrTruncated.
func (rd *reader) readFull(b []byte) error {
	n, err := io.ReadFull(rd.r, b)
	rd.pos += int64(n)
	return readErr(err, len(b), n)
}

// readGrow reads n bytes into buf (reusing its storage), growing it as bytes arrive
// so that a length field that lies costs no more memory than the bytes that came.
func (rd *reader) readGrow(buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		step := min(n-len(buf), 1<<20)
		buf = slices.Grow(buf, step)
		m, err := io.ReadFull(rd.r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		rd.pos += int64(m)
		if err != nil {
			return buf, readErr(err, n, len(buf))
		}
	}
	return buf, nil
}

func readErr(err error, need, got int) error {
	switch {
	case err == nil:
		return nil
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: needs %d bytes, %d left", ErrTruncated, need, got)
	}
	return fmt.Errorf("read: %w", err)
}

// readLayout reads and checks the header, the metadata and the index.
func (rd *reader) readLayout() (*layout, error) {
	herr := func(err error) error { return &Error{Section: "header", Chunk: -1, Err: err} }
	le := binary.LittleEndian
	var hdr [HeaderBytes]byte
	// Bytes 0-7 (magic, version) are the same in every format version.
	n, err := io.ReadFull(rd.r, hdr[:8])
	rd.pos += int64(n)
	if n >= 4 && string(hdr[:4]) != Magic {
		return nil, herr(ErrNotDemt)
	}
	if err != nil {
		return nil, herr(readErr(err, HeaderBytes, n))
	}
	if v := le.Uint32(hdr[4:]); v != Version {
		return nil, herr(fmt.Errorf("%w %d (this reader reads version %d)", ErrVersion, v, Version))
	}
	n, err = io.ReadFull(rd.r, hdr[8:])
	rd.pos += int64(n)
	if err != nil {
		return nil, herr(readErr(err, HeaderBytes, 8+n))
	}
	if got, want := crc32.Checksum(hdr[:32], rd.table), le.Uint32(hdr[32:]); got != want {
		return nil, herr(fmt.Errorf("%w: header has CRC-32C %08x, header says %08x", ErrChecksum, got, want))
	}
	metaLen := int64(le.Uint32(hdr[8:]))
	indexLen := int64(le.Uint32(hdr[12:]))
	nTensors := int64(le.Uint32(hdr[16:]))
	nChunks := int64(le.Uint32(hdr[20:]))
	chunkSize := int64(le.Uint32(hdr[24:]))
	metaIndexCRC := le.Uint32(hdr[28:])
	switch {
	case metaLen == 0 || metaLen > MaxMetadataBytes:
		return nil, herr(fmt.Errorf("metadata length %d outside [1, %d]", metaLen, MaxMetadataBytes))
	case indexLen > MaxIndexBytes:
		return nil, herr(fmt.Errorf("index length %d exceeds the limit of %d", indexLen, MaxIndexBytes))
	case nTensors > MaxTensors:
		return nil, herr(fmt.Errorf("%d tensors exceed the limit of %d", nTensors, MaxTensors))
	case nTensors*minEntryBytes+nChunks*chunkEntryBytes > indexLen:
		return nil, herr(fmt.Errorf("%d tensors and %d chunks cannot fit an index of %d bytes", nTensors, nChunks, indexLen))
	case chunkSize < MinChunkBytes || chunkSize > MaxChunkBytes || chunkSize%MinChunkBytes != 0:
		return nil, herr(fmt.Errorf("chunk size %d is not a multiple of 256 in [%d, %d]", chunkSize, MinChunkBytes, MaxChunkBytes))
	}

	metaJSON, err := rd.readGrow(nil, int(metaLen))
	if err != nil {
		return nil, &Error{Section: "metadata", Chunk: -1, Err: err}
	}
	index, err := rd.readGrow(nil, int(indexLen))
	if err != nil {
		return nil, &Error{Section: "index", Chunk: -1, Err: err}
	}
	if got := crc32.Update(crc32.Checksum(metaJSON, rd.table), rd.table, index); got != metaIndexCRC {
		return nil, &Error{Section: "index", Chunk: -1,
			Err: fmt.Errorf("%w: metadata and index have CRC-32C %08x, header says %08x", ErrChecksum, got, metaIndexCRC)}
	}

	l := &layout{chunkSize: int(chunkSize)}
	if err := json.Unmarshal(metaJSON, &l.meta); err != nil {
		return nil, &Error{Section: "metadata", Chunk: -1, Err: err}
	}
	if l.meta.FormatVersion != Version {
		return nil, &Error{Section: "metadata", Chunk: -1,
			Err: fmt.Errorf("format_version %d does not match the header's %d", l.meta.FormatVersion, Version)}
	}
	switch l.meta.DType {
	case DTypeF32, DTypeF16, DTypeInt8:
	default:
		return nil, &Error{Section: "metadata", Chunk: -1, Err: fmt.Errorf("unknown dtype %q", l.meta.DType)}
	}
	if err := l.parseIndex(index, int(nTensors), int(nChunks), HeaderBytes+metaLen+indexLen); err != nil {
		return nil, err
	}
	if err := l.meta.Validate(); err != nil {
		return nil, &Error{Section: "metadata", Chunk: -1, Err: err}
	}
	return l, nil
}

const (
	minEntryBytes   = 2 + 1 + 1 + 1 + 8 + 8 // name length, 1-byte name, dtype, rank, offset, length
	chunkEntryBytes = 16
)

// parseIndex decodes nt tensor entries and nc chunk entries from b and checks that
// they describe one consistent data stream; dataStart is the file offset after the index.
func (l *layout) parseIndex(b []byte, nt, nc int, dataStart int64) error {
	le := binary.LittleEndian
	l.entries = make([]IndexEntry, nt)
	names := make(map[string]bool, nt)
	var end int64 // end of the previous tensor in the data stream
	for i := range nt {
		ierr := func(name string, format string, args ...any) error {
			return &Error{Section: "index", Chunk: -1, Tensor: name,
				Err: fmt.Errorf("entry %d: "+format, append([]any{i}, args...)...)}
		}
		if len(b) < 2 {
			return ierr("", "index ends early")
		}
		nl := int(le.Uint16(b))
		if nl == 0 || nl > MaxNameBytes {
			return ierr("", "name length %d outside [1, %d]", nl, MaxNameBytes)
		}
		if len(b) < 2+nl+2 {
			return ierr("", "index ends early")
		}
		name := string(b[2 : 2+nl])
		if !utf8.ValidString(name) {
			return ierr("", "name %q is not UTF-8", name)
		}
		if names[name] {
			return ierr(name, "duplicate tensor name")
		}
		names[name] = true
		dtype, ok := codeDType(b[2+nl])
		if !ok {
			return ierr(name, "unknown dtype code %d", b[2+nl])
		}
		rank := int(b[2+nl+1])
		if rank > MaxRank {
			return ierr(name, "rank %d exceeds the limit of %d", rank, MaxRank)
		}
		b = b[2+nl+2:]
		if len(b) < 4*rank+16 {
			return ierr(name, "index ends early")
		}
		shape := make([]int, rank)
		for d := range shape {
			v := le.Uint32(b[4*d:])
			if v > MaxNumel {
				return ierr(name, "dimension %d is %d, over the limit of %d", d, v, int64(MaxNumel))
			}
			shape[d] = int(v)
		}
		b = b[4*rank:]
		numel, err := checkShape(shape)
		if err != nil {
			return ierr(name, "%w", err)
		}
		if dtype == model.I8 && rank == 0 {
			return ierr(name, "int8 tensor must have rank ≥ 1")
		}
		off, length := le.Uint64(b), le.Uint64(b[8:])
		b = b[16:]
		if want := dataLength(dtype, shape, numel); length != uint64(want) {
			return ierr(name, "length %d, but %s %v takes %d bytes", length, dtype, shape, want)
		}
		if want := align(end, 8); off != uint64(want) {
			return ierr(name, "offset %d, expected %d", off, want)
		}
		end = int64(off) + int64(length)
		if end > MaxDataBytes {
			return ierr(name, "tensor data extend to %d bytes, over the limit of %d", end, int64(MaxDataBytes))
		}
		first, last := chunkRange(int64(off), int64(length), l.chunkSize)
		l.entries[i] = IndexEntry{Name: name, Shape: shape, DType: dtype,
			Offset: int64(off), Length: int64(length), FirstChunk: first, LastChunk: last}
	}

	cs := int64(l.chunkSize)
	if want := (end + cs - 1) / cs; int64(nc) != want {
		return &Error{Section: "index", Chunk: -1,
			Err: fmt.Errorf("%d chunks, but %d bytes of data in chunks of %d need %d", nc, end, cs, want)}
	}
	if len(b) != nc*chunkEntryBytes {
		return &Error{Section: "index", Chunk: -1,
			Err: fmt.Errorf("%d bytes for %d chunk entries, expected %d", len(b), nc, nc*chunkEntryBytes)}
	}
	l.chunks = make([]chunkEntry, nc)
	pos := dataStart
	for c := range l.chunks {
		e := b[c*chunkEntryBytes:]
		ce := chunkEntry{
			clen: int(le.Uint32(e)), ulen: int(le.Uint32(e[4:])),
			crcC: le.Uint32(e[8:]), crcU: le.Uint32(e[12:]),
		}
		want := min(cs, end-int64(c)*cs)
		if int64(ce.ulen) != want {
			return &Error{Section: "index", Chunk: -1,
				Err: fmt.Errorf("chunk %d: uncompressed length %d, expected %d", c, ce.ulen, want)}
		}
		if ce.clen == 0 || ce.clen > compressBound(ce.ulen) {
			return &Error{Section: "index", Chunk: -1,
				Err: fmt.Errorf("chunk %d: compressed length %d outside [1, %d]", c, ce.clen, compressBound(ce.ulen))}
		}
		ce.fileOff = align(pos, 256)
		pos = ce.fileOff + int64(ce.clen)
		l.chunks[c] = ce
	}
	l.fileSize = pos
	return nil
}

// filler walks the uncompressed data stream, chunk by chunk, and decodes it into tensors.
type filler struct {
	entries []IndexEntry
	tensors []*model.Tensor
	ti      int       // tensor being filled
	pos     int64     // offset in the data stream
	scales  []float32 // scales of the int8 tensor being filled
	half    []float32 // binary16 bits → float32, built at the first f16 tensor
}

// feed decodes the next bytes of the data stream; feed(nil) completes the empty
// tensors at the end.
func (f *filler) feed(b []byte) error {
	for {
		// Complete every tensor whose bytes have all arrived (empty ones included).
		for f.ti < len(f.entries) && f.pos >= f.entries[f.ti].Offset+f.entries[f.ti].Length {
			f.start()
			e, t := &f.entries[f.ti], f.tensors[f.ti]
			if n := model.Numel(e.Shape); len(t.F32) != n && len(t.I64) != n {
				return fmt.Errorf("tensor %q: internal error: %d of %d values", e.Name, max(len(t.F32), len(t.I64)), n)
			}
			f.ti++
		}
		if len(b) == 0 {
			return nil
		}
		if f.ti == len(f.entries) {
			return fmt.Errorf("%d bytes of data after the last tensor", len(b))
		}
		e := &f.entries[f.ti]
		if f.pos < e.Offset {
			n := int(min(e.Offset-f.pos, int64(len(b))))
			for _, c := range b[:n] {
				if c != 0 {
					return fmt.Errorf("non-zero padding before tensor %q", e.Name)
				}
			}
			b, f.pos = b[n:], f.pos+int64(n)
			continue
		}
		f.start()
		n := int(min(e.Offset+e.Length-f.pos, int64(len(b))))
		if err := f.decode(e, f.tensors[f.ti], f.pos-e.Offset, b[:n]); err != nil {
			return fmt.Errorf("tensor %q: %w", e.Name, err)
		}
		b, f.pos = b[n:], f.pos+int64(n)
	}
}

// start creates the current tensor if it does not exist yet.
func (f *filler) start() {
	if f.tensors[f.ti] != nil {
		return
	}
	e := &f.entries[f.ti]
	t := &model.Tensor{Name: e.Name, Shape: e.Shape, DType: e.DType}
	if e.DType == model.I64 {
		t.I64 = []int64{}
	} else {
		t.F32 = []float32{}
	}
	f.tensors[f.ti] = t
	f.scales = f.scales[:0]
}

// decode decodes b, the bytes at offset rel of tensor t's data. Offsets are 8-aligned
// and chunk sizes multiples of 256, so b always holds whole elements.
func (f *filler) decode(e *IndexEntry, t *model.Tensor, rel int64, b []byte) error {
	le := binary.LittleEndian
	numel := model.Numel(e.Shape)
	switch e.DType {
	case model.F32:
		if len(b)%4 != 0 {
			return errors.New("internal error: split element")
		}
		t.F32 = grow(t.F32, len(b)/4, numel)
		dst := t.F32[len(t.F32)-len(b)/4:]
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case model.F16:
		if len(b)%2 != 0 {
			return errors.New("internal error: split element")
		}
		if f.half == nil {
			// A table is several times faster than converting each value, in wasm most.
			f.half = make([]float32, 1<<16)
			for h := range f.half {
				f.half[h] = f16.ToFloat32(uint16(h))
			}
		}
		t.F32 = grow(t.F32, len(b)/2, numel)
		dst := t.F32[len(t.F32)-len(b)/2:]
		for i := range dst {
			dst[i] = f.half[le.Uint16(b[2*i:])]
		}
	case model.I64:
		if len(b)%8 != 0 {
			return errors.New("internal error: split element")
		}
		t.I64 = grow(t.I64, len(b)/8, numel)
		dst := t.I64[len(t.I64)-len(b)/8:]
		for i := range dst {
			dst[i] = int64(le.Uint64(b[8*i:]))
		}
	case model.I8:
		rows := e.Shape[0]
		if scaleBytes := 4 * int64(rows); rel < scaleBytes {
			k := int(min(scaleBytes-rel, int64(len(b))))
			if k%4 != 0 {
				return errors.New("internal error: split scale")
			}
			f.scales = grow(f.scales, k/4, rows)
			dst := f.scales[len(f.scales)-k/4:]
			for i := range dst {
				s := math.Float32frombits(le.Uint32(b[4*i:]))
				if s < 0 || math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
					return fmt.Errorf("invalid int8 scale %v for row %d", s, len(f.scales)-k/4+i)
				}
				dst[i] = s
			}
			b = b[k:]
		}
		if len(b) == 0 {
			return nil
		}
		rowLen := numel / rows
		j := len(t.F32)
		t.F32 = grow(t.F32, len(b), numel)
		dst := t.F32[j:]
		for len(b) > 0 {
			row := j / rowLen
			k := min((row+1)*rowLen-j, len(b))
			s := f.scales[row]
			for i, q := range b[:k] {
				dst[i] = float32(int8(q)) * s
			}
			dst, b, j = dst[k:], b[k:], j+k
		}
	default:
		return fmt.Errorf("internal error: dtype %q", e.DType)
	}
	return nil
}

// grow extends s by add elements, never beyond limit capacity: tensors grow as their
// bytes arrive instead of being allocated at the size the index claims.
func grow[T any](s []T, add, limit int) []T {
	need := len(s) + add
	if need <= cap(s) {
		return s[:need]
	}
	c := max(min(max(2*cap(s), 1024), limit), need)
	ns := make([]T, need, c)
	copy(ns, s)
	return ns
}

// ExpectedSize reads the header, the metadata and the index from r, as ReadHeader does, and
// returns the size in bytes of the complete file they describe (to tell a truncated or
// extended file without reading its chunks). Errors are *Error.
func ExpectedSize(r io.Reader) (int64, error) {
	rd := &reader{r: r, table: crc32.MakeTable(crc32.Castagnoli)}
	l, err := rd.readLayout()
	if err != nil {
		return 0, err
	}
	return l.fileSize, nil
}
