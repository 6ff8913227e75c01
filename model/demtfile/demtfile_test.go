package demtfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/model"
)

func randF32(rng *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64()) * scale
	}
	return v
}

func ftensor(name string, shape []int, v []float32) *model.Tensor {
	return &model.Tensor{Name: name, Shape: shape, DType: model.F32, F32: v}
}

func itensor(name string, shape []int, v []int64) *model.Tensor {
	return &model.Tensor{Name: name, Shape: shape, DType: model.I64, I64: v}
}

// testWeights is a small state dict with every kind of tensor the format must carry.
func testWeights(t testing.TB) *model.Weights {
	rng := rand.New(rand.NewPCG(1, 2))
	linear := randF32(rng, 5*7, 0.5)
	for i := 7; i < 14; i++ {
		linear[i] = 0 // row 1 is all zeros: scale 0
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, 70000, -1e9,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 6e-8, 3e-5, 1e-10, 0.1, 1.0 / 3}
	relIndex := make([]int64, 16*16)
	for i := range relIndex {
		relIndex[i] = int64(i*7) % 49
	}
	ws, err := model.NewWeights([]*model.Tensor{
		ftensor("backbone.conv1.weight", []int{8, 3, 3, 3}, randF32(rng, 8*27, 0.1)),
		ftensor("backbone.bn1.weight", []int{8}, randF32(rng, 8, 1)),
		ftensor("backbone.bn1.bias", []int{8}, randF32(rng, 8, 1)),
		ftensor("backbone.bn1.running_var", []int{8}, randF32(rng, 8, 1)),
		itensor("backbone.bn1.num_batches_tracked", nil, []int64{-1 << 62}),
		ftensor("layers.0.blocks.0.attn.relative_position_bias_table", []int{49, 4}, randF32(rng, 49*4, 0.02)),
		itensor("layers.0.blocks.0.attn.relative_position_index", []int{16, 16}, relIndex),
		ftensor("head.attn.in_proj_weight", []int{12, 4}, randF32(rng, 48, 1)),
		ftensor("head.attn.in_proj_bias", []int{12}, randF32(rng, 12, 1)),
		ftensor("head.linear1.0.weight", []int{5, 7}, linear),
		ftensor("head.empty.weight", []int{0, 3}, []float32{}),
		ftensor("head.norows.weight", []int{3, 0}, []float32{}),
		itensor("head.empty_index", []int{0}, []int64{}),
		ftensor("head.scalar", nil, []float32{3.5}),
		ftensor("head.big.weight", []int{40, 100}, randF32(rng, 4000, 3)),
		ftensor("head.special", []int{len(special)}, special),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func testMeta() *Metadata {
	return &Metadata{
		ConverterVersion: "0.1.0",
		Config: model.Config{
			Backbone: model.BackboneConfig{Kind: model.HRNet, Name: "HRNet18-S", StemChannels: 64, Layer1Blocks: 2, Layer1Planes: 64,
				BranchWidths: []int{18, 36, 72, 144}, StageModules: []int{1, 3, 2}, BranchBlocks: []int{2, 2, 2}, OutChannels: []int{18, 36, 72, 144}},
			Head: model.HeadConfig{InChannels: 270, Dim: 256, AttnHeads: 4, BottleneckChannels: 256, MixerOrder: model.MixerV2, MixerDepth: 1,
				Tasks: []model.Task{
					{Name: "semseg", Channels: 3, ClassNames: []string{"background", "aeroplane", "bicycle \"quoted\" ünïcode"}},
					{Name: "depth", Channels: 1},
				}},
		},
		Normalization: ImageNetNormalization(),
		Source:        Source{File: "model.ckpt", SHA256: strings.Repeat("ab", 32), Format: "lightning-ckpt"},
		DType:         "ignored: Write sets it",
		CreatedBy:     "demtfile test",
		Notes:         "free-form\nnotes",
	}
}

func encode(t testing.TB, w *model.Weights, opt WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, testMeta(), w, opt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decode(t testing.TB, b []byte) *File {
	t.Helper()
	f, err := Read(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRoundTrip(t *testing.T) {
	for _, dtype := range []string{DTypeF32, DTypeF16, DTypeInt8} {
		for _, cs := range []int{256, 4096, 0} {
			t.Run(fmt.Sprintf("%s/chunk%d", dtype, cs), func(t *testing.T) {
				w := testWeights(t)
				f := decode(t, encode(t, w, WriteOptions{DType: dtype, ChunkSize: cs}))

				want := *testMeta()
				want.FormatVersion, want.DType = Version, dtype
				if !reflect.DeepEqual(f.Meta, want) {
					t.Errorf("metadata:\n got %+v\nwant %+v", f.Meta, want)
				}
				if got, want := f.Weights.Names(), w.Names(); !reflect.DeepEqual(got, want) {
					t.Fatalf("names %v, want %v", got, want)
				}
				for _, in := range w.Tensors {
					checkReadBack(t, dtype, in, f.Weights.Get(in.Name))
				}
			})
		}
	}
}

// checkReadBack checks that out is what reading back in, written as dtype, must give.
func checkReadBack(t *testing.T, dtype string, in, out *model.Tensor) {
	t.Helper()
	if !reflect.DeepEqual(in.Shape, out.Shape) && !(len(in.Shape) == 0 && len(out.Shape) == 0) {
		t.Errorf("%s: shape %v, want %v", in.Name, out.Shape, in.Shape)
	}
	if in.I64 != nil {
		if out.DType != model.I64 || out.F32 != nil || !reflect.DeepEqual(out.I64, in.I64) {
			t.Errorf("%s: int64 tensor came back as %s %v", in.Name, out.DType, out.I64)
		}
		return
	}
	if out.F32 == nil || out.I64 != nil || len(out.F32) != len(in.F32) {
		t.Fatalf("%s: %d float values, want %d", in.Name, len(out.F32), len(in.F32))
	}
	wantDType := model.F32
	switch {
	case dtype == DTypeF16:
		wantDType = model.F16
	case dtype == DTypeInt8 && len(in.Shape) >= 2 && strings.HasSuffix(in.Name, "weight"):
		wantDType = model.I8
	}
	if out.DType != wantDType {
		t.Errorf("%s: stored as %s, want %s", in.Name, out.DType, wantDType)
	}
	switch wantDType {
	case model.F32:
		for i, v := range in.F32 {
			if math.Float32bits(out.F32[i]) != math.Float32bits(v) {
				t.Fatalf("%s[%d] = %v, want %v exactly", in.Name, i, out.F32[i], v)
			}
		}
	case model.F16:
		for i, v := range in.F32 {
			want := f16.Round(v)
			if math.Float32bits(out.F32[i]) != math.Float32bits(want) {
				t.Fatalf("%s[%d] = %v, want %v (f16 of %v)", in.Name, i, out.F32[i], want, v)
			}
		}
	case model.I8:
		rows := in.Shape[0]
		if rows == 0 || len(in.F32) == 0 {
			return
		}
		rowLen := len(in.F32) / rows
		for r := range rows {
			var maxAbs, maxGot float32
			for i := r * rowLen; i < (r+1)*rowLen; i++ {
				maxAbs = max(maxAbs, float32(math.Abs(float64(in.F32[i]))))
				maxGot = max(maxGot, float32(math.Abs(float64(out.F32[i]))))
			}
			// The chosen scale s (max|q| = 127 whenever the row is not zero) lies in
			// [0.6, 1]·maxabs/127 and gives no larger squared error than maxabs/127.
			scale, plain := maxGot/127, maxAbs/127
			if scale > plain*(1+1e-5) || scale < plain*0.6*(1-1e-5) {
				t.Fatalf("%s row %d: scale %v outside [0.6, 1]·%v", in.Name, r, scale, plain)
			}
			var sse, ssePlain float64
			for i := r * rowLen; i < (r+1)*rowLen; i++ {
				got, v := out.F32[i], in.F32[i]
				if maxAbs == 0 && got != 0 {
					t.Fatalf("%s[%d] = %v in an all-zero row", in.Name, i, got)
				}
				sse += math.Pow(float64(got-v), 2)
				if plain != 0 {
					ssePlain += math.Pow(float64(v)-float64(float32(quantOne(v, plain))*plain), 2)
				}
				// Every value is an integer multiple of the row's scale, at most 127 of them.
				if q := float64(got) / float64(scale); scale != 0 && (math.Abs(q-math.Round(q)) > 1e-3 || math.Abs(q) > 127.001) {
					t.Fatalf("%s[%d] = %v is %v × scale %v", in.Name, i, got, q, scale)
				}
			}
			if sse > ssePlain*(1+1e-4)+1e-12 {
				t.Fatalf("%s row %d: squared error %v above the maxabs scale's %v", in.Name, r, sse, ssePlain)
			}
		}
	}
}

func TestQuantise(t *testing.T) {
	v := []float32{
		1, -0.5, 0.25, 0, // row 0: maxabs 1
		0, 0, 0, 0, // row 1: zeros
		-254, 127, 1, 0.5, // row 2: maxabs 254, scale 2; 1 → 0.5 → 0 (half to even), 0.5 → 0
	}
	scales, q, err := quantise(v, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Row 0 keeps maxabs/127 (clipping 1 would cost more than it saves); row 1 is zero.
	if scales[0] != 1.0/127 || scales[1] != 0 {
		t.Errorf("scales %v, want [1/127 0 …]", scales)
	}
	if want := []int8{127, -64, 32, 0, 0, 0, 0, 0}; !reflect.DeepEqual(q[:8], want) {
		t.Errorf("q %v, want %v", q[:8], want)
	}
	// Row 2: a scale clipping −254 to −127·s beats 2 when it rounds 127, 1 and 0.5 better.
	sse := func(s float32) float64 {
		var e float64
		for _, x := range v[8:] {
			e += math.Pow(float64(x)-float64(float32(quantOne(x, s))*s), 2)
		}
		return e
	}
	if sse(scales[2]) > sse(2) {
		t.Errorf("row 2 scale %v has error %v > %v of scale 2", scales[2], sse(scales[2]), sse(2))
	}
	if _, _, err := quantise([]float32{1, float32(math.NaN())}, 1); err == nil {
		t.Error("NaN quantised without error")
	}
}

func TestLargeTensorSpansChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := DefaultChunkBytes/4*2 + 1000 // f32: more than two default chunks
	w, err := model.NewWeights([]*model.Tensor{
		ftensor("a.bias", []int{3}, []float32{1, 2, 3}),
		ftensor("big.weight", []int{n / 1000, 1000}, randF32(rng, n/1000*1000, 1)),
		ftensor("z.bias", []int{3}, []float32{4, 5, 6}),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []string{DTypeF32, DTypeF16, DTypeInt8} {
		t.Run(dtype, func(t *testing.T) {
			b := encode(t, w, WriteOptions{DType: dtype, ChunkSize: 1 << 20})
			_, entries, err := ReadHeader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if e := entries[1]; e.LastChunk-e.FirstChunk < 1 {
				t.Errorf("big tensor in chunks %d..%d, want several", e.FirstChunk, e.LastChunk)
			}
			f := decode(t, b)
			for _, in := range w.Tensors {
				checkReadBack(t, dtype, in, f.Weights.Get(in.Name))
			}
		})
	}
}

func TestEmptyWeights(t *testing.T) {
	w, _ := model.NewWeights(nil)
	b := encode(t, w, WriteOptions{})
	f := decode(t, b)
	if len(f.Weights.Tensors) != 0 || f.Meta.DType != DTypeF32 {
		t.Errorf("got %d tensors, dtype %q", len(f.Weights.Tensors), f.Meta.DType)
	}
}

// chunkLayout parses b's layout, for tests that aim at particular bytes.
func chunkLayout(t *testing.T, b []byte) *layout {
	t.Helper()
	rd := &reader{r: bytes.NewReader(b), table: crc32.MakeTable(crc32.Castagnoli)}
	l, err := rd.readLayout()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestReadHeader(t *testing.T) {
	w := testWeights(t)
	b := encode(t, w, WriteOptions{DType: DTypeInt8, ChunkSize: 256})
	l := chunkLayout(t, b)
	// ReadHeader must not need the data: give it only the bytes up to the index's end.
	meta, entries, err := ReadHeader(bytes.NewReader(b[:l.chunks[0].fileOff]))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Config.Head.Tasks[0].ClassNames[2] != testMeta().Config.Head.Tasks[0].ClassNames[2] {
		t.Errorf("class names %v", meta.Config.Head.Tasks[0].ClassNames)
	}
	if len(entries) != len(w.Tensors) {
		t.Fatalf("%d entries, want %d", len(entries), len(w.Tensors))
	}
	var end int64
	for i, e := range entries {
		in := w.Tensors[i]
		if e.Name != in.Name || e.Offset%8 != 0 || e.Offset < end {
			t.Errorf("entry %d: %+v", i, e)
		}
		end = e.Offset + e.Length
		if e.Length == 0 && (e.FirstChunk != -1 || e.LastChunk != -1) ||
			e.Length > 0 && (e.FirstChunk != int(e.Offset/256) || e.LastChunk != int((end-1)/256)) {
			t.Errorf("%s: chunks %d..%d for bytes [%d, %d)", e.Name, e.FirstChunk, e.LastChunk, e.Offset, end)
		}
	}
	if got := entries[9]; got.Name != "head.linear1.0.weight" || got.DType != model.I8 || got.Length != 5*4+35 {
		t.Errorf("int8 entry %+v", got)
	}
}

func TestProgress(t *testing.T) {
	b := encode(t, testWeights(t), WriteOptions{DType: DTypeF16, ChunkSize: 256})
	var calls [][2]int64
	if _, err := Read(bytes.NewReader(b), func(done, total int64) { calls = append(calls, [2]int64{done, total}) }); err != nil {
		t.Fatal(err)
	}
	nChunks := len(chunkLayout(t, b).chunks)
	if len(calls) != nChunks+1 {
		t.Fatalf("%d progress calls, want %d", len(calls), nChunks+1)
	}
	for i, c := range calls {
		if c[1] != int64(len(b)) || i > 0 && c[0] <= calls[i-1][0] {
			t.Fatalf("call %d: %v (file is %d bytes)", i, c, len(b))
		}
	}
	if last := calls[len(calls)-1]; last[0] != int64(len(b)) {
		t.Errorf("last progress %v, want done = %d", last, len(b))
	}
}

func TestCorruptChunk(t *testing.T) {
	b := encode(t, testWeights(t), WriteOptions{DType: DTypeF32, ChunkSize: 256})
	l := chunkLayout(t, b)
	indexEnd := int64(HeaderBytes + binary.LittleEndian.Uint32(b[8:]) + binary.LittleEndian.Uint32(b[12:]))
	if len(l.chunks) < 10 {
		t.Fatalf("only %d chunks", len(l.chunks))
	}
	for c, ce := range l.chunks {
		for _, at := range []int64{ce.fileOff, ce.fileOff + int64(ce.clen)/2, ce.fileOff + int64(ce.clen) - 1} {
			bad := bytes.Clone(b)
			bad[at] ^= 0x10
			_, err := Read(bytes.NewReader(bad), nil)
			want := fmt.Sprintf("demtfile: chunk %d (tensor %q): checksum mismatch", c, l.chunkTensor(c))
			if err == nil || !errors.Is(err, ErrChecksum) || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("byte %d of chunk %d flipped: %v, want %q...", at, c, err, want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Section != "chunk" || e.Chunk != c || e.Tensor == "" {
				t.Fatalf("error %#v", e)
			}
		}
	}
	// Padding between chunks, the header, the metadata and the index.
	cases := []struct {
		at   int64
		want string
	}{
		{l.chunks[1].fileOff - 1, "chunk 1 (tensor"},
		{10, "demtfile: header: checksum mismatch"},
		{HeaderBytes + 5, "demtfile: index: checksum mismatch"},
		{indexEnd - 5, "demtfile: index: checksum mismatch"},
	}
	for _, tc := range cases {
		if l.chunks[1].fileOff-1 == l.chunks[0].fileOff+int64(l.chunks[0].clen)-1 && tc.want == "chunk 1 (tensor" {
			continue // no padding there
		}
		bad := bytes.Clone(b)
		bad[tc.at] ^= 1
		if _, err := Read(bytes.NewReader(bad), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("byte %d flipped: %v, want %q", tc.at, err, tc.want)
		}
	}
}

func TestTruncated(t *testing.T) {
	b := encode(t, testWeights(t), WriteOptions{DType: DTypeInt8, ChunkSize: 256})
	l := chunkLayout(t, b)
	le := binary.LittleEndian
	indexEnd := HeaderBytes + int(le.Uint32(b[8:])) + int(le.Uint32(b[12:]))
	for n := range len(b) {
		_, err := Read(bytes.NewReader(b[:n]), nil)
		if err == nil || !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "truncated file: needs") {
			t.Fatalf("file cut to %d of %d bytes: %v", n, len(b), err)
		}
		_, _, err = ReadHeader(bytes.NewReader(b[:n]))
		if n < indexEnd && (err == nil || !errors.Is(err, ErrTruncated)) || n >= indexEnd && err != nil {
			t.Fatalf("header of a file cut to %d bytes (index ends at %d): %v", n, indexEnd, err)
		}
	}
	// The message names the chunk and says how much was missing.
	c := l.chunks[3]
	_, err := Read(bytes.NewReader(b[:c.fileOff+5]), nil)
	want := fmt.Sprintf("demtfile: chunk 3 (tensor %q): truncated file: needs %d bytes, 5 left", l.chunkTensor(3), c.clen)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestTrailingData(t *testing.T) {
	b := encode(t, testWeights(t), WriteOptions{})
	_, err := Read(bytes.NewReader(append(bytes.Clone(b), 0)), nil)
	if err == nil || !strings.Contains(err.Error(), "demtfile: end: unexpected data after the last chunk") {
		t.Errorf("got %v", err)
	}
}

// header builds a header with correct checksums over meta and index.
func header(version, metaLen, indexLen, nTensors, nChunks, chunkSize uint32, metaIndex []byte) []byte {
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	h := make([]byte, HeaderBytes)
	copy(h, Magic)
	for i, v := range []uint32{version, metaLen, indexLen, nTensors, nChunks, chunkSize, crc32.Checksum(metaIndex, tab)} {
		le.PutUint32(h[4+4*i:], v)
	}
	le.PutUint32(h[32:], crc32.Checksum(h[:32], tab))
	return h
}

func TestBadHeader(t *testing.T) {
	good := encode(t, testWeights(t), WriteOptions{})
	future := bytes.Clone(good)
	future[4] = 2
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "demtfile: header: truncated file: needs 36 bytes, 0 left"},
		{"short", []byte("DEM"), "demtfile: header: truncated file"},
		{"magic", []byte("PK\x03\x04 this is a zip file, not a .demt one"), "demtfile: header: not a .demt file (bad magic)"},
		{"short magic", []byte("DEMX"), "not a .demt file"},
		{"future version", future, "demtfile: header: unsupported format version 2 (this reader reads version 1)"},
		{"version 0", header(0, 2, 0, 0, 0, 256, nil), "unsupported format version 0"},
		{"huge metadata", header(1, math.MaxUint32, 0, 0, 0, 256, nil), "metadata length 4294967295 outside [1, 16777216]"},
		{"zero metadata", header(1, 0, 0, 0, 0, 256, nil), "metadata length 0"},
		{"huge index", header(1, 2, math.MaxUint32, 0, 0, 256, nil), "index length 4294967295 exceeds"},
		{"many tensors", header(1, 2, 1000, math.MaxUint32, 0, 256, nil), "4294967295 tensors exceed"},
		{"many chunks", header(1, 2, 1000, 10, math.MaxUint32, 256, nil), "cannot fit an index of 1000 bytes"},
		{"huge chunk size", header(1, 2, 0, 0, 0, 1<<31, nil), "chunk size 2147483648 is not"},
		{"odd chunk size", header(1, 2, 0, 0, 0, 1000, nil), "chunk size 1000 is not"},
		{"metadata missing", header(1, 16<<20, 0, 0, 0, 256, nil), "demtfile: metadata: truncated file: needs 16777216 bytes, 0 left"},
		{"index missing", append(header(1, 2, 64<<20, 0, 0, 256, nil), "{}"...), "demtfile: index: truncated file: needs 67108864 bytes, 0 left"},
		{"bad json", append(header(1, 2, 0, 0, 0, 256, []byte("{]")), "{]"...), "demtfile: metadata: invalid character"},
		{"json version", append(header(1, 2, 0, 0, 0, 256, []byte("{}")), "{}"...), "format_version 0 does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.b), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAbsurdIndex crafts consistent headers and indexes that claim huge tensors and
// checks that the reader fails without allocating for what the file does not hold.
func TestAbsurdIndex(t *testing.T) {
	le := binary.LittleEndian
	meta := []byte(`{"format_version":1,"dtype":"f32","normalization":{"mean":[0.5,0.5,0.5],"std":[0.25,0.25,0.25]},"config":{` +
		`"backbone":{"kind":"swin","embed_dim":8,"patch_size":4,"window":2,"depths":[1],"heads":[1],"mlp_hidden":[8],"out_channels":[8]},` +
		`"head":{"in_channels":8,"dim":8,"attn_heads":1,"bottleneck_channels":8,"mixer_depth":1,"mixer_order":"v2","tasks":[{"name":"depth","channels":1}]}}}`)
	entry := func(name string, code byte, shape []uint32, off, length uint64) []byte {
		b := le.AppendUint16(nil, uint16(len(name)))
		b = append(b, name...)
		b = append(b, code, byte(len(shape)))
		for _, d := range shape {
			b = le.AppendUint32(b, d)
		}
		return le.AppendUint64(le.AppendUint64(b, off), length)
	}
	chunks := func(n int, ulen, last uint32) []byte {
		var b []byte
		for i := range n {
			u := ulen
			if i == n-1 {
				u = last
			}
			b = le.AppendUint32(b, 10)
			b = le.AppendUint32(b, u)
			b = le.AppendUint64(b, 0)
		}
		return b
	}
	file := func(nTensors, nChunks int, chunkSize uint32, index []byte) []byte {
		mi := append(bytes.Clone(meta), index...)
		h := header(1, uint32(len(meta)), uint32(len(index)), uint32(nTensors), uint32(nChunks), chunkSize, mi)
		return append(h, mi...)
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		// 2^30 float32 = 4 GiB in 64 chunks of 64 MiB: legal, but the file ends after the index.
		{"4 GiB tensor", file(1, 64, MaxChunkBytes, append(entry("w", codeF32, []uint32{1 << 15, 1 << 15}, 0, 4<<30), chunks(64, MaxChunkBytes, MaxChunkBytes)...)),
			"demtfile: chunk 0 (tensor \"w\"): truncated file: needs"},
		{"8 GiB tensor", file(1, 128, MaxChunkBytes, append(entry("w", codeF32, []uint32{1 << 31}, 0, 8<<30), chunks(128, MaxChunkBytes, MaxChunkBytes)...)),
			"over the limit"},
		{"too many elements", file(1, 0, 256, entry("w", codeF16, []uint32{1 << 16, 1 << 16}, 0, 1<<33)),
			"has more than 2147483648 elements"},
		{"huge dimension", file(1, 0, 256, entry("w", codeF16, []uint32{math.MaxUint32, 0}, 0, 0)),
			"dimension 0 is 4294967295"},
		{"huge int8 rows", file(1, 0, 256, entry("w", codeInt8, []uint32{1 << 31, 0}, 0, 8<<30)),
			"over the limit"},
		{"wrong length", file(1, 1, 256, append(entry("w", codeF32, []uint32{4}, 0, 15), chunks(1, 15, 15)...)),
			"length 15, but float32 [4] takes 16 bytes"},
		{"wrong offset", file(1, 1, 256, append(entry("w", codeF32, []uint32{4}, 8, 16), chunks(1, 24, 24)...)),
			"offset 8, expected 0"},
		{"chunk count", file(1, 1, 256, append(entry("w", codeF32, []uint32{100}, 0, 400), chunks(1, 256, 144)...)),
			"1 chunks, but 400 bytes of data in chunks of 256 need 2"},
		{"chunk length", file(1, 2, 256, append(entry("w", codeF32, []uint32{100}, 0, 400), chunks(2, 256, 100)...)),
			"chunk 1: uncompressed length 100, expected 144"},
		{"rank", file(1, 0, 256, entry("w", codeF32, make([]uint32, 9), 0, 0)), "rank 9 exceeds"},
		{"dtype", file(1, 0, 256, entry("w", 9, nil, 0, 4)), "unknown dtype code 9"},
		{"name", file(1, 0, 256, append(entry("", codeF32, nil, 0, 4), 0)), "name length 0"},
		{"duplicate", file(2, 0, 256, append(entry("w", codeF32, []uint32{0}, 0, 0), entry("w", codeF32, []uint32{0}, 0, 0)...)), "duplicate"},
		{"int8 scalar", file(1, 0, 256, entry("w", codeInt8, nil, 0, 1)), "int8 tensor must have rank"},
		{"index ends", file(2, 0, 256, append(entry("w", codeF32, []uint32{0}, 0, 0), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), "name length 0"},
		{"extra index bytes", file(1, 0, 256, append(entry("w", codeF32, []uint32{0}, 0, 0), 1, 2, 3)), "3 bytes for 0 chunk entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Read(bytes.NewReader(tc.b), nil)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", alloc, len(tc.b))
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	nan := ftensor("x.weight", []int{1, 2}, []float32{1, float32(math.NaN())})
	cases := []struct {
		name    string
		tensors []*model.Tensor
		opt     WriteOptions
		want    string
	}{
		{"dtype", nil, WriteOptions{DType: "bf16"}, `unknown dtype "bf16"`},
		{"chunk size", nil, WriteOptions{ChunkSize: 1000}, "chunk size 1000"},
		{"duplicate", []*model.Tensor{ftensor("a", nil, []float32{1}), ftensor("a", nil, []float32{1})}, WriteOptions{}, `duplicate tensor "a"`},
		{"length", []*model.Tensor{ftensor("a", []int{3}, []float32{1})}, WriteOptions{}, "1 float values for shape [3]"},
		{"no name", []*model.Tensor{ftensor("", nil, []float32{1})}, WriteOptions{}, "name must be"},
		{"rank", []*model.Tensor{ftensor("a", make([]int, 9), []float32{})}, WriteOptions{}, "rank 9"},
		{"nan int8", []*model.Tensor{nan}, WriteOptions{DType: DTypeInt8}, "non-finite value NaN in row 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &model.Weights{Tensors: tc.tensors}
			err := Write(&bytes.Buffer{}, testMeta(), w, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// NaN is fine in f32 and f16.
	for _, dtype := range []string{DTypeF32, DTypeF16} {
		w, _ := model.NewWeights([]*model.Tensor{nan})
		f := decode(t, encode(t, w, WriteOptions{DType: dtype}))
		if v := f.Weights.Get("x.weight").F32[1]; !math.IsNaN(float64(v)) {
			t.Errorf("%s: NaN came back as %v", dtype, v)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	w := testWeights(t)
	input := filepath.Join(dir, "model.ckpt")
	if err := os.WriteFile(input, []byte("checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "model.demt")

	if err := WriteFile(out, testMeta(), w, WriteOptions{DType: DTypeF16}, input); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta.DType != DTypeF16 || len(f.Weights.Tensors) != len(w.Tensors) {
		t.Errorf("read back %q with %d tensors", f.Meta.DType, len(f.Weights.Tensors))
	}

	// An existing, unprotected destination is replaced.
	if err := WriteFile(out, testMeta(), w, WriteOptions{DType: DTypeInt8}, input); err != nil {
		t.Fatal(err)
	}
	if f, err := ReadFile(out, nil); err != nil || f.Meta.DType != DTypeInt8 {
		t.Fatalf("after replacing: %v", err)
	}
	// A failed write leaves the destination as it was.
	before, _ := os.ReadFile(out)
	if err := WriteFile(out, testMeta(), w, WriteOptions{DType: "bad"}, input); err == nil {
		t.Fatal("bad dtype written")
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("failed write changed the destination")
	}

	// The inputs are protected: by name, by another spelling, by a link.
	link := filepath.Join(dir, "link.ckpt")
	if err := os.Link(input, link); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.ckpt")
	if err := os.Symlink(input, sym); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{input, filepath.Join(dir, ".", "model.ckpt"), link, sym} {
		err := WriteFile(dst, testMeta(), w, WriteOptions{}, "unrelated.pth", input)
		if err == nil || !strings.Contains(err.Error(), "refusing to overwrite input") {
			t.Errorf("WriteFile(%s): %v", dst, err)
		}
	}
	if b, _ := os.ReadFile(input); string(b) != "checkpoint" {
		t.Error("input changed")
	}

	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind %s", e.Name())
		}
	}

	// ReadFile names the file in its errors.
	b, _ := os.ReadFile(out)
	cut := filepath.Join(dir, "cut.demt")
	os.WriteFile(cut, b[:len(b)-1], 0o644)
	if _, err := ReadFile(cut, nil); err == nil || !strings.HasPrefix(err.Error(), "demtfile: "+cut+": chunk ") {
		t.Errorf("ReadFile of a cut file: %v", err)
	}
}

// failingReader returns err after n bytes.
type failingReader struct {
	r   *bytes.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestReadIOError(t *testing.T) {
	b := encode(t, testWeights(t), WriteOptions{ChunkSize: 256})
	cause := errors.New("connection reset")
	for _, n := range []int{0, 6, 20, 100, len(b) / 2, len(b) - 1} {
		_, err := Read(&failingReader{r: bytes.NewReader(b), n: n, err: cause}, nil)
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), "read: connection reset") {
			t.Errorf("I/O error after %d bytes: %v", n, err)
		}
	}
}
