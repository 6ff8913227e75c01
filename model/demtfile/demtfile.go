// Package demtfile reads and writes the .demt weight file: a DeMT state dict with its
// architecture metadata, stored as f32, f16 or int8 in independently zstd-compressed,
// checksummed chunks, and read back as a stream (also in GOOS=js). docs/format.md is
// the normative specification; this package is its reference implementation.
package demtfile

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/demt-web/demt/model"
)

// Version is the format version this package writes and the only one it reads.
const Version = 1

// Magic is the first four bytes of every .demt file.
const Magic = "DEMT"

// Storage dtypes of a whole file, as named in WriteOptions.DType and Metadata.DType.
const (
	DTypeF32  = "f32"  // every float tensor float32
	DTypeF16  = "f16"  // every float tensor IEEE binary16
	DTypeInt8 = "int8" // conv and linear weights int8 per output channel, other floats f32
)

// Limits the reader enforces before allocating; the writer refuses what exceeds them.
const (
	HeaderBytes       = 36       // fixed header size of format version 1
	MaxMetadataBytes  = 16 << 20 // JSON metadata
	MaxIndexBytes     = 64 << 20 // binary tensor and chunk index
	MaxTensors        = 100_000  // index entries
	MaxNameBytes      = 1024     // tensor name, UTF-8
	MaxRank           = 8        // dimensions per tensor
	MaxNumel          = 1 << 31  // elements per tensor
	MinChunkBytes     = 256      // uncompressed chunk size, lower bound
	MaxChunkBytes     = 64 << 20 // uncompressed chunk size, upper bound
	DefaultChunkBytes = 4 << 20  // uncompressed chunk size the writer uses by default
	MaxDataBytes      = 4 << 30  // uncompressed tensor data, whole file
)

// Metadata is the JSON metadata of a .demt file: everything about the model that
// cannot be inferred from tensor shapes, and where the weights came from.
type Metadata struct {
	FormatVersion    int           `json:"format_version"`    // = Version; set by Write
	ConverterVersion string        `json:"converter_version"` // version of the program that converted
	Config           model.Config  `json:"config"`            // architecture, tasks, class names
	Normalization    Normalization `json:"normalization"`     // input normalisation
	Source           Source        `json:"source"`            // the checkpoint converted
	DType            string        `json:"dtype"`             // DTypeF32, DTypeF16 or DTypeInt8; set by Write
	CreatedBy        string        `json:"created_by"`        // free text, e.g. "demt-convert v0.1"
	Notes            string        `json:"notes,omitempty"`   // free text
}

// Normalization is the per-channel input normalisation, in RGB order, for pixels
// scaled to 0..1: x' = (x - Mean) / Std.
type Normalization struct {
	Mean [3]float64 `json:"mean"`
	Std  [3]float64 `json:"std"`
}

// ImageNetNormalization returns the normalisation DeMT was trained with.
func ImageNetNormalization() Normalization {
	return Normalization{
		Mean: [3]float64{0.485, 0.456, 0.406},
		Std:  [3]float64{0.229, 0.224, 0.225},
	}
}

// Source identifies the checkpoint a .demt file was converted from.
type Source struct {
	File   string `json:"file"`   // base name of the file
	SHA256 string `json:"sha256"` // hex digest of the whole file
	Format string `json:"format"` // "torch-zip" (a torch.save zip, plain or Lightning)
}

// IndexEntry describes one tensor of the index.
type IndexEntry struct {
	Name  string
	Shape []int
	DType model.DType // stored element type: model.F32, model.F16, model.I8 or model.I64
	// Offset and Length locate the tensor's bytes in the uncompressed data stream
	// (the concatenation of all chunks). For int8 they include the scales.
	Offset, Length int64
	// FirstChunk and LastChunk are the chunks holding the tensor's bytes (derived
	// from Offset, Length and the chunk size); both -1 when Length is 0.
	FirstChunk, LastChunk int
}

// Error reports where reading a .demt stream failed and why. Err is one of
// ErrNotDemt, ErrVersion, ErrTruncated, ErrChecksum wrapped with detail, or the
// cause (I/O error, JSON error, zstd error, inconsistent field).
type Error struct {
	Path    string // the file, when read with ReadFile
	Section string // "header", "metadata", "index", "chunk" or "end"
	Chunk   int    // chunk number when Section is "chunk", else -1
	Tensor  string // the tensor concerned, when known
	Err     error
}

func (e *Error) Error() string {
	where := e.Section
	if e.Section == "chunk" {
		where = "chunk " + strconv.Itoa(e.Chunk)
	}
	if e.Tensor != "" {
		where += " (tensor " + strconv.Quote(e.Tensor) + ")"
	}
	if e.Path != "" {
		where = e.Path + ": " + where
	}
	return "demtfile: " + where + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinel causes, for errors.Is.
var (
	ErrNotDemt   = errors.New("not a .demt file (bad magic)")
	ErrVersion   = errors.New("unsupported format version")
	ErrTruncated = errors.New("truncated file")
	ErrChecksum  = errors.New("checksum mismatch")
)

// dtype codes in the index.
const (
	codeF32  = 1
	codeF16  = 2
	codeInt8 = 3
	codeI64  = 4
)

func dtypeCode(d model.DType) byte {
	switch d {
	case model.F32:
		return codeF32
	case model.F16:
		return codeF16
	case model.I8:
		return codeInt8
	case model.I64:
		return codeI64
	}
	return 0
}

func codeDType(c byte) (model.DType, bool) {
	switch c {
	case codeF32:
		return model.F32, true
	case codeF16:
		return model.F16, true
	case codeInt8:
		return model.I8, true
	case codeI64:
		return model.I64, true
	}
	return "", false
}

// dataLength is the number of bytes a tensor of this stored dtype and shape takes in
// the data stream.
func dataLength(d model.DType, shape []int, numel int64) int64 {
	switch d {
	case model.F32:
		return 4 * numel
	case model.F16:
		return 2 * numel
	case model.I64:
		return 8 * numel
	case model.I8:
		return 4*int64(shape[0]) + numel
	}
	panic(fmt.Sprintf("demtfile: no data length for dtype %q", d))
}

// checkShape returns the element count of shape, or an error if it breaks the limits.
func checkShape(shape []int) (int64, error) {
	if len(shape) > MaxRank {
		return 0, fmt.Errorf("rank %d exceeds the limit of %d", len(shape), MaxRank)
	}
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d > MaxNumel {
			return 0, fmt.Errorf("dimension %d out of range in shape %v", d, shape)
		}
		if d != 0 && n > MaxNumel/int64(d) {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, int64(MaxNumel))
		}
		n *= int64(d)
	}
	return n, nil
}

func align(n, a int64) int64 { return (n + a - 1) / a * a }

// chunkRange returns the chunks holding [off, off+n) for chunks of size cs.
func chunkRange(off, n int64, cs int) (first, last int) {
	if n == 0 {
		return -1, -1
	}
	return int(off / int64(cs)), int((off + n - 1) / int64(cs))
}

// compressBound is the largest compressed size the reader accepts for n bytes:
// zstd's worst case (raw blocks) is n plus 3 bytes per 128 KiB plus a frame header.
func compressBound(n int) int { return n + n/256 + 1024 }
