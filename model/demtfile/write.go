package demtfile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/internal/atomicfile"
	"github.com/demt-web/demt/model"
)

// WriteOptions choose how Write stores the weights.
type WriteOptions struct {
	// DType is DTypeF32 (the default when empty), DTypeF16 or DTypeInt8.
	// f32 and f16 store every float tensor so (f16 rounds to nearest even). int8
	// stores conv and linear weights (float tensors of rank ≥ 2 whose name ends in
	// "weight", e.g. "in_proj_weight", but no relative_position_bias_table) as int8
	// with one float32 scale per output channel (dim 0), and every other float tensor
	// (norms, biases, tables) as f32. Integer tensors are always stored as int64.
	DType string
	// ChunkSize is the uncompressed size of each data chunk: a multiple of 256 from
	// MinChunkBytes to MaxChunkBytes; 0 means DefaultChunkBytes.
	ChunkSize int
	// Precise names float tensors stored one step more precisely than DType: in int8
	// files as f16 instead of int8, in f16 files as f32 (see package calibrate).
	Precise map[string]bool
}

// Write encodes meta and w to out as a .demt file. meta's FormatVersion and DType are
// set from the format version and opt; meta itself is not modified. The compressed
// chunks are held in memory until the index is written.
func Write(out io.Writer, meta *Metadata, w *model.Weights, opt WriteOptions) error {
	if meta == nil || w == nil {
		return errors.New("demtfile: write: nil metadata or weights")
	}
	dtype := opt.DType
	if dtype == "" {
		dtype = DTypeF32
	}
	if dtype != DTypeF32 && dtype != DTypeF16 && dtype != DTypeInt8 {
		return fmt.Errorf("demtfile: write: unknown dtype %q (want f32, f16 or int8)", opt.DType)
	}
	cs := opt.ChunkSize
	if cs == 0 {
		cs = DefaultChunkBytes
	}
	if cs < MinChunkBytes || cs > MaxChunkBytes || cs%MinChunkBytes != 0 {
		return fmt.Errorf("demtfile: write: chunk size %d is not a multiple of 256 in [%d, %d]", cs, MinChunkBytes, MaxChunkBytes)
	}
	if len(w.Tensors) > MaxTensors {
		return fmt.Errorf("demtfile: write: %d tensors exceed the limit of %d", len(w.Tensors), MaxTensors)
	}

	// Lay out the data stream: tensors in state-dict order, each at an 8-aligned offset.
	entries := make([]IndexEntry, len(w.Tensors))
	seen := make(map[string]bool, len(w.Tensors))
	var end int64
	for i, t := range w.Tensors {
		if err := checkTensor(t); err != nil {
			return fmt.Errorf("demtfile: write: tensor %q: %w", t.Name, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("demtfile: write: duplicate tensor %q", t.Name)
		}
		seen[t.Name] = true
		stored := StoredDType(t, dtype, opt.Precise[t.Name])
		numel := int64(t.Numel())
		off := align(end, 8)
		n := dataLength(stored, t.Shape, numel)
		first, last := chunkRange(off, n, cs)
		entries[i] = IndexEntry{
			Name: t.Name, Shape: append([]int{}, t.Shape...), DType: stored,
			Offset: off, Length: n, FirstChunk: first, LastChunk: last,
		}
		end = off + n
	}
	if end > MaxDataBytes {
		return fmt.Errorf("demtfile: write: %d bytes of tensor data exceed the limit of %d", end, int64(MaxDataBytes))
	}

	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), // the index holds CRC-32C of both forms of each chunk
		zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return fmt.Errorf("demtfile: write: %w", err)
	}
	defer enc.Close()
	ch := &chunker{size: cs, buf: make([]byte, 0, cs), enc: enc, table: crc32.MakeTable(crc32.Castagnoli)}
	for i, t := range w.Tensors {
		ch.padTo(entries[i].Offset)
		if err := encodeTensor(ch, t, entries[i].DType); err != nil {
			return fmt.Errorf("demtfile: write: tensor %q: %w", t.Name, err)
		}
	}
	ch.flush()
	if ch.pos != end {
		return fmt.Errorf("demtfile: write: internal error: wrote %d data bytes, laid out %d", ch.pos, end)
	}

	m := *meta
	m.FormatVersion = Version
	m.DType = dtype
	metaJSON, err := json.Marshal(&m)
	if err != nil {
		return fmt.Errorf("demtfile: write: metadata: %w", err)
	}
	if len(metaJSON) > MaxMetadataBytes {
		return fmt.Errorf("demtfile: write: metadata of %d bytes exceeds the limit of %d", len(metaJSON), MaxMetadataBytes)
	}
	index := encodeIndex(entries, ch.chunks)
	if len(index) > MaxIndexBytes {
		return fmt.Errorf("demtfile: write: index of %d bytes exceeds the limit of %d", len(index), MaxIndexBytes)
	}

	hdr := make([]byte, HeaderBytes)
	copy(hdr, Magic)
	le := binary.LittleEndian
	le.PutUint32(hdr[4:], Version)
	le.PutUint32(hdr[8:], uint32(len(metaJSON)))
	le.PutUint32(hdr[12:], uint32(len(index)))
	le.PutUint32(hdr[16:], uint32(len(entries)))
	le.PutUint32(hdr[20:], uint32(len(ch.chunks)))
	le.PutUint32(hdr[24:], uint32(cs))
	crc := crc32.Update(crc32.Checksum(metaJSON, ch.table), ch.table, index)
	le.PutUint32(hdr[28:], crc)
	le.PutUint32(hdr[32:], crc32.Checksum(hdr[:32], ch.table))

	ew := &posWriter{w: out}
	ew.write(hdr)
	ew.write(metaJSON)
	ew.write(index)
	var zeros [256]byte
	for _, c := range ch.chunks {
		ew.write(zeros[:align(ew.pos, 256)-ew.pos])
		ew.write(c.data)
	}
	if ew.err != nil {
		return fmt.Errorf("demtfile: write: %w", ew.err)
	}
	return nil
}

// StoredDType is the element type tensor t is stored as in a file of the given dtype;
// precise asks for one step more precision (see WriteOptions.Precise).
func StoredDType(t *model.Tensor, dtype string, precise bool) model.DType {
	if isInt(t) {
		return model.I64
	}
	switch {
	case dtype == DTypeF16 && !precise:
		return model.F16
	case dtype == DTypeInt8 && quantised(t) && precise:
		return model.F16
	case dtype == DTypeInt8 && quantised(t):
		return model.I8
	}
	return model.F32
}

// StoredValues returns the float values a reader gets back for tensor t stored as
// stored (model.F32, model.F16 or model.I8): what the file does to the weights.
func StoredValues(t *model.Tensor, stored model.DType) ([]float32, error) {
	out := make([]float32, len(t.F32))
	switch stored {
	case model.F32:
		copy(out, t.F32)
	case model.F16:
		for i, v := range t.F32 {
			out[i] = f16.Round(v)
		}
	case model.I8:
		if len(t.Shape) == 0 || t.Shape[0] == 0 {
			return out, nil
		}
		scales, q, err := quantise(t.F32, t.Shape[0])
		if err != nil {
			return nil, err
		}
		rowLen := len(q) / t.Shape[0]
		for i, v := range q {
			out[i] = float32(v) * scales[i/rowLen]
		}
	default:
		return nil, fmt.Errorf("demtfile: no stored values for dtype %q", stored)
	}
	return out, nil
}

// quantised reports whether int8 mode stores t as int8: conv and linear weights,
// i.e. float tensors of rank ≥ 2 whose name ends in "weight".
func quantised(t *model.Tensor) bool {
	return len(t.Shape) >= 2 && strings.HasSuffix(t.Name, "weight") &&
		!strings.Contains(t.Name, "relative_position_bias_table")
}

func isInt(t *model.Tensor) bool {
	return t.I64 != nil || t.F32 == nil && t.DType == model.I64
}

func checkTensor(t *model.Tensor) error {
	if t.Name == "" || len(t.Name) > MaxNameBytes || !utf8.ValidString(t.Name) {
		return fmt.Errorf("name must be 1 to %d bytes of UTF-8", MaxNameBytes)
	}
	numel, err := checkShape(t.Shape)
	if err != nil {
		return err
	}
	if t.F32 != nil && t.I64 != nil {
		return errors.New("both float and integer data")
	}
	if isInt(t) {
		if int64(len(t.I64)) != numel {
			return fmt.Errorf("%d int64 values for shape %v", len(t.I64), t.Shape)
		}
	} else if int64(len(t.F32)) != numel {
		return fmt.Errorf("%d float values for shape %v", len(t.F32), t.Shape)
	}
	return nil
}

func encodeTensor(ch *chunker, t *model.Tensor, stored model.DType) error {
	switch stored {
	case model.I64:
		for _, v := range t.I64 {
			ch.u64(uint64(v))
		}
	case model.F32:
		for _, v := range t.F32 {
			ch.u32(math.Float32bits(v))
		}
	case model.F16:
		for _, v := range t.F32 {
			ch.u16(f16.FromFloat32(v))
		}
	case model.I8:
		scales, q, err := quantise(t.F32, t.Shape[0])
		if err != nil {
			return err
		}
		for _, s := range scales {
			ch.u32(math.Float32bits(s))
		}
		for _, v := range q {
			ch.u8(byte(v))
		}
	}
	return nil
}

// quantise quantises v, rows rows of equal length, symmetrically per row: q =
// round-half-even(v/scale) clamped to [-127, 127], with the scale of each row chosen
// among maxabs/127·r, r = 1, 0.98, …, 0.60, to minimise the row's squared error (clipping
// a few outliers usually lowers it); a row whose scale is 0 (all zeros, or too small for a
// float32 scale) becomes all zeros.
func quantise(v []float32, rows int) ([]float32, []int8, error) {
	scales := make([]float32, rows)
	q := make([]int8, len(v))
	if len(v) == 0 {
		return scales, q, nil
	}
	rowLen := len(v) / rows
	for r := range rows {
		row := v[r*rowLen : (r+1)*rowLen]
		var maxAbs float64
		for _, x := range row {
			a := math.Abs(float64(x))
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return nil, nil, fmt.Errorf("int8: non-finite value %v in row %d", x, r)
			}
			maxAbs = max(maxAbs, a)
		}
		best, bestErr := float32(maxAbs/127), math.Inf(1)
		for i := 0; i <= 20; i++ {
			s := float32(maxAbs / 127 * (1 - 0.02*float64(i)))
			if s == 0 {
				break
			}
			var e float64
			for _, x := range row {
				d := float64(x) - float64(float32(quantOne(x, s))*s)
				e += d * d
			}
			if e < bestErr {
				best, bestErr = s, e
			}
		}
		scales[r] = best
		if best == 0 {
			continue
		}
		out := q[r*rowLen : (r+1)*rowLen]
		for i, x := range row {
			out[i] = quantOne(x, best)
		}
	}
	return scales, q, nil
}

func quantOne(x, s float32) int8 {
	return int8(max(-127, min(127, math.RoundToEven(float64(x)/float64(s)))))
}

// chunker cuts the data stream into chunks of size bytes and compresses each.
type chunker struct {
	size   int
	buf    []byte // current chunk, uncompressed
	pos    int64  // bytes of the data stream so far
	enc    *zstd.Encoder
	table  *crc32.Table
	chunks []chunk
}

// chunk is one compressed chunk the writer holds until the index is written.
type chunk struct {
	data       []byte // compressed
	ulen       int    // uncompressed length
	crcC, crcU uint32 // CRC-32C of the compressed and of the uncompressed bytes
}

// Elements never straddle chunks: offsets are 8-aligned and the chunk size is a multiple of 8.
func (c *chunker) u8(v byte) { c.buf = append(c.buf, v); c.advance(1) }
func (c *chunker) u16(v uint16) {
	c.buf = binary.LittleEndian.AppendUint16(c.buf, v)
	c.advance(2)
}
func (c *chunker) u32(v uint32) {
	c.buf = binary.LittleEndian.AppendUint32(c.buf, v)
	c.advance(4)
}
func (c *chunker) u64(v uint64) {
	c.buf = binary.LittleEndian.AppendUint64(c.buf, v)
	c.advance(8)
}

func (c *chunker) advance(n int) {
	c.pos += int64(n)
	if len(c.buf) == c.size {
		c.flush()
	}
}

// padTo writes zero bytes up to data stream offset off.
func (c *chunker) padTo(off int64) {
	for c.pos < off {
		c.u8(0)
	}
}

// flush compresses the current chunk, if it holds anything.
func (c *chunker) flush() {
	if len(c.buf) == 0 {
		return
	}
	data := c.enc.EncodeAll(c.buf, nil)
	c.chunks = append(c.chunks, chunk{
		data: data, ulen: len(c.buf),
		crcC: crc32.Checksum(data, c.table), crcU: crc32.Checksum(c.buf, c.table),
	})
	c.buf = c.buf[:0]
}

// encodeIndex encodes the tensor entries followed by the chunk entries.
func encodeIndex(entries []IndexEntry, chunks []chunk) []byte {
	le := binary.LittleEndian
	var b []byte
	for _, e := range entries {
		b = le.AppendUint16(b, uint16(len(e.Name)))
		b = append(b, e.Name...)
		b = append(b, dtypeCode(e.DType), byte(len(e.Shape)))
		for _, d := range e.Shape {
			b = le.AppendUint32(b, uint32(d))
		}
		b = le.AppendUint64(b, uint64(e.Offset))
		b = le.AppendUint64(b, uint64(e.Length))
	}
	for _, c := range chunks {
		b = le.AppendUint32(b, uint32(len(c.data)))
		b = le.AppendUint32(b, uint32(c.ulen))
		b = le.AppendUint32(b, c.crcC)
		b = le.AppendUint32(b, c.crcU)
	}
	return b
}

// posWriter counts bytes written and keeps the first error.
type posWriter struct {
	w   io.Writer
	pos int64
	err error
}

func (p *posWriter) write(b []byte) {
	if p.err != nil || len(b) == 0 {
		return
	}
	n, err := p.w.Write(b)
	p.pos += int64(n)
	p.err = err
}

// WriteFile writes a .demt file to path atomically (internal/atomicfile: a temporary file in
// the same directory, synced and renamed over path). It refuses to write path if it is, by
// name or by os.SameFile, one of the protect paths (the inputs of the conversion).
func WriteFile(path string, meta *Metadata, w *model.Weights, opt WriteOptions, protect ...string) error {
	err := atomicfile.Write(path, func(bw io.Writer) error { return Write(bw, meta, w, opt) }, protect...)
	if err != nil {
		return fmt.Errorf("demtfile: %w", err)
	}
	return nil
}
