package demtfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/demt-web/demt/model"
)

// FuzzRead feeds arbitrary bytes to Read and ReadHeader, as given and with their
// checksums recomputed (so that mutations reach the index and data decoding rather
// than stopping at the first checksum). The seeds in testdata/fuzz/FuzzRead are small
// valid files. Read must never panic, and what it accepts must be consistent.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, fixChecksums(b)} {
			meta, entries, herr := ReadHeader(bytes.NewReader(in))
			if herr == nil && dataBytes(entries) > maxFuzzData {
				// A few bytes of zstd can legitimately stand for 64 MiB per chunk; such
				// inputs only make the fuzzer slow. TestAbsurdIndex covers the limits.
				continue
			}
			file, err := Read(bytes.NewReader(in), nil)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "demtfile: ") {
					t.Fatalf("error %v is not an *Error", err)
				}
				continue
			}
			if herr != nil {
				t.Fatalf("Read accepted what ReadHeader rejects: %v", herr)
			}
			if meta.FormatVersion != Version || len(entries) != len(file.Weights.Tensors) {
				t.Fatalf("header and file disagree")
			}
			for i, tn := range file.Weights.Tensors {
				if tn.Name != entries[i].Name || tn.DType != entries[i].DType {
					t.Fatalf("tensor %d: %q %s, index says %q %s", i, tn.Name, tn.DType, entries[i].Name, entries[i].DType)
				}
				n := model.Numel(tn.Shape)
				if (tn.F32 == nil) == (tn.I64 == nil) || len(tn.F32)+len(tn.I64) != n {
					t.Fatalf("tensor %q: %d+%d values for shape %v", tn.Name, len(tn.F32), len(tn.I64), tn.Shape)
				}
			}
		}
	})
}

const maxFuzzData = 1 << 20

func dataBytes(entries []IndexEntry) int64 {
	if len(entries) == 0 {
		return 0
	}
	e := entries[len(entries)-1]
	return e.Offset + e.Length
}

// fixChecksums returns a copy of b with every checksum that can be located recomputed.
func fixChecksums(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) < HeaderBytes || string(b[:4]) != Magic {
		return b
	}
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	indexEnd := HeaderBytes + int64(le.Uint32(b[8:])) + int64(le.Uint32(b[12:]))
	resealHeader(b)
	rd := &reader{r: bytes.NewReader(b), table: tab}
	l, err := rd.readLayout()
	if err != nil {
		return b
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxFuzzData))
	if err != nil {
		panic(err)
	}
	defer dec.Close()
	table := b[indexEnd-int64(len(l.chunks)*chunkEntryBytes) : indexEnd]
	for c, ce := range l.chunks {
		end := ce.fileOff + int64(ce.clen)
		if end > int64(len(b)) {
			break
		}
		comp := b[ce.fileOff:end]
		le.PutUint32(table[c*chunkEntryBytes+8:], crc32.Checksum(comp, tab))
		if data, err := dec.DecodeAll(comp, nil); err == nil {
			le.PutUint32(table[c*chunkEntryBytes+12:], crc32.Checksum(data, tab))
		}
	}
	resealHeader(b)
	return b
}

// resealHeader recomputes the metadata-and-index checksum (if both are present) and
// the header checksum of b in place.
func resealHeader(b []byte) {
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	indexEnd := HeaderBytes + int64(le.Uint32(b[8:])) + int64(le.Uint32(b[12:]))
	if indexEnd <= int64(len(b)) {
		le.PutUint32(b[28:], crc32.Checksum(b[HeaderBytes:indexEnd], tab))
	}
	le.PutUint32(b[32:], crc32.Checksum(b[:32], tab))
}

func TestUncompressedChecksum(t *testing.T) {
	b := encode(t, testWeights(t), WriteOptions{DType: DTypeF16, ChunkSize: 256})
	le := binary.LittleEndian
	l := chunkLayout(t, b)
	indexEnd := HeaderBytes + int(le.Uint32(b[8:])) + int(le.Uint32(b[12:]))
	at := indexEnd - (len(l.chunks)-2)*chunkEntryBytes + 12 // chunk 2's uncompressed CRC
	b[at] ^= 1
	resealHeader(b)
	_, err := Read(bytes.NewReader(b), nil)
	if err == nil || !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "chunk 2 (tensor") ||
		!strings.Contains(err.Error(), "uncompressed bytes have CRC-32C") {
		t.Errorf("got %v", err)
	}
	// fixChecksums repairs it, which FuzzRead relies on.
	if _, err := Read(bytes.NewReader(fixChecksums(b)), nil); err != nil {
		t.Errorf("after fixChecksums: %v", err)
	}
}
