package torchckpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
)

type readerManifest struct {
	Cases []struct {
		Case    string `json:"case"`
		File    string `json:"file"`
		Expect  string `json:"expect"`
		Tensors map[string]struct {
			TorchDType string `json:"torch_dtype"`
			Shape      []int  `json:"shape"`
			Expected   string `json:"expected"`
		} `json:"tensors"`
	} `json:"cases"`
}

func loadReaderManifest(t *testing.T) (string, readerManifest) {
	t.Helper()
	dir := filepath.Join(fixture.Root(t), "reader")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m readerManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Cases) == 0 {
		t.Fatal("reader manifest lists no cases")
	}
	return dir, m
}

// TestReaderFixtures checks every case of fixtures/official/reader against its
// expected .npy arrays, bit for bit.
func TestReaderFixtures(t *testing.T) {
	dir, m := loadReaderManifest(t)
	for _, c := range m.Cases {
		t.Run(c.Case, func(t *testing.T) {
			caseDir := filepath.Join(dir, filepath.Dir(c.File))
			w, err := ReadFile(filepath.Join(dir, c.File))
			switch c.Expect {
			case "error":
				if err == nil {
					t.Fatal("loaded a file that must be refused")
				}
				if !errors.Is(err, ErrLegacyFormat) || !strings.Contains(err.Error(), "re-save it with torch >= 1.6") {
					t.Fatalf("error %q does not say to re-save the legacy file", err)
				}
				return
			case "ok", "ok-or-clear-error": // this reader supports the optional dtypes
				if err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("unknown expectation %q", c.Expect)
			}
			if len(w.Tensors) != len(c.Tensors) {
				t.Errorf("%d tensors, manifest lists %d: %v", len(w.Tensors), len(c.Tensors), w.Names())
			}
			for name, want := range c.Tensors {
				got := w.Get(name)
				if got == nil {
					t.Errorf("tensor %q missing (have %v)", name, w.Names())
					continue
				}
				if string(got.DType) != want.TorchDType {
					t.Errorf("%s: dtype %s, want %s", name, got.DType, want.TorchDType)
				}
				if !slices.Equal(got.Shape, want.Shape) {
					t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
				}
				exp, err := npy.ReadFile(filepath.Join(caseDir, want.Expected))
				if err != nil {
					t.Fatal(err)
				}
				if err := sameValues(got, exp); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// sameValues compares a tensor with an expected array bit for bit (float64
// expectations are rounded to float32 first, overflowing to ±Inf).
func sameValues(got *model.Tensor, exp *npy.Array) error {
	switch {
	case exp.I64 != nil:
		if got.I64 == nil || len(got.I64) != len(exp.I64) {
			return fmt.Errorf("want %d int values, got %d ints / %d floats", len(exp.I64), len(got.I64), len(got.F32))
		}
		for i := range exp.I64 {
			if got.I64[i] != exp.I64[i] {
				return fmt.Errorf("element %d: %d, want %d", i, got.I64[i], exp.I64[i])
			}
		}
	case exp.F32 != nil || exp.F64 != nil:
		want := exp.F32
		if exp.F64 != nil {
			want = make([]float32, len(exp.F64))
			for i, v := range exp.F64 {
				want[i], _ = big.NewFloat(v).Float32()
			}
		}
		if got.F32 == nil || len(got.F32) != len(want) {
			return fmt.Errorf("want %d float values, got %d floats / %d ints", len(want), len(got.F32), len(got.I64))
		}
		for i := range want {
			if math.Float32bits(got.F32[i]) != math.Float32bits(want[i]) {
				return fmt.Errorf("element %d: %g (%#08x), want %g (%#08x)", i, got.F32[i], math.Float32bits(got.F32[i]), want[i], math.Float32bits(want[i]))
			}
		}
	default:
		return errors.New("expected array holds no values")
	}
	return nil
}

// keyEntry is one state-dict entry of a keys/*.json listing.
type keyEntry struct {
	name  string
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
	Kind  string `json:"kind"`
}

// readKeyList returns the "state_dict" of a keys/*.json file in file order.
func readKeyList(t *testing.T, path string) []keyEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(top["state_dict"])))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var out []keyEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		e := keyEntry{name: tok.(string)}
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestHRNetLightningCheckpoint reads the Lightning fp16 checkpoint (ModelCheckpoint
// class global as a dict key, argparse.Namespace hyper-parameters) and checks
// every key, its order and shape against keys/hrnet18_s-pascal.json.
func TestHRNetLightningCheckpoint(t *testing.T) {
	root := fixture.Root(t)
	w, err := ReadFile(filepath.Join(root, "hrnet18s-pascal", "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	want := readKeyList(t, filepath.Join(root, "keys", "hrnet18_s-pascal.json"))
	if len(w.Tensors) != 1051 || len(want) != 1051 {
		t.Fatalf("%d tensors, key list %d, want 1051", len(w.Tensors), len(want))
	}
	params, subnormals := 0, 0
	for i, e := range want {
		got := w.Tensors[i]
		if got.Name != e.name || !slices.Equal(got.Shape, e.Shape) {
			t.Fatalf("tensor %d: %s %v, want %s %v", i, got.Name, got.Shape, e.name, e.Shape)
		}
		wantDType := model.F16
		if e.DType == "int64" {
			wantDType = model.I64
		}
		if got.DType != wantDType {
			t.Errorf("%s: dtype %s, want %s", got.Name, got.DType, wantDType)
		}
		if e.Kind == "param" {
			params += got.Numel()
		}
		for _, v := range got.F32 {
			if v != 0 && math.Abs(float64(v)) < 0x1p-14 {
				subnormals++
			}
		}
	}
	if params != 7369496 {
		t.Errorf("%d parameters, want 7369496", params)
	}
	if subnormals != 9174 {
		t.Errorf("%d fp16 subnormal values, want 9174", subnormals)
	}
	nbt := w.Get("backbone.bn1.num_batches_tracked")
	if nbt == nil || len(nbt.Shape) != 0 || len(nbt.I64) != 1 {
		t.Errorf("backbone.bn1.num_batches_tracked: %+v, want a 0-d int64 tensor", nbt)
	}
}

// TestSwinSharedStorages reads the float32 state dict whose weights of one shape
// are views into one storage at offsets 97·k, and checks that each view starts
// where the manifest says.
func TestSwinSharedStorages(t *testing.T) {
	root := fixture.Root(t)
	w, err := ReadFile(filepath.Join(root, "swin-nyud-small", "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Tensors) != 313 {
		t.Errorf("%d tensors, want 313", len(w.Tensors))
	}
	for name, shape := range map[string][]int{
		"backbone.patch_embed.projection.weight":                        {16, 3, 4, 4},
		"backbone.stages.0.blocks.0.attn.w_msa.relative_position_index": {49, 49},
	} {
		if got := w.Get(name); got == nil || !slices.Equal(got.Shape, shape) {
			t.Errorf("%s: %+v, want shape %v", name, got, shape)
		}
	}
	if got := w.Get("backbone.stages.0.blocks.0.attn.w_msa.relative_position_index"); got != nil && got.DType != model.I64 {
		t.Errorf("relative_position_index dtype %s, want int64", got.DType)
	}
	b, err := os.ReadFile(filepath.Join(root, "swin-nyud-small", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		SharedStorages []struct {
			Shape        []int `json:"shape"`
			StorageNumel int   `json:"storage_numel"`
			Members      []struct {
				Param         string `json:"param"`
				StorageOffset int    `json:"storage_offset"`
			} `json:"members"`
		} `json:"shared_storages"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.SharedStorages) != 16 {
		t.Fatalf("manifest lists %d shared storages, want 16", len(m.SharedStorages))
	}
	members := 0
	for _, g := range m.SharedStorages {
		first := w.Get(g.Members[0].Param)
		if first == nil || g.Members[0].StorageOffset != 0 {
			t.Fatalf("group %v: first member %q missing or not at offset 0", g.Shape, g.Members[0].Param)
		}
		for _, mem := range g.Members {
			members++
			got := w.Get(mem.Param)
			if got == nil || !slices.Equal(got.Shape, g.Shape) {
				t.Fatalf("%s: %+v, want shape %v", mem.Param, got, g.Shape)
			}
			if mem.StorageOffset == 0 {
				continue
			}
			if slices.Equal(got.F32, first.F32) {
				t.Errorf("%s: same values as %s", mem.Param, g.Members[0].Param)
			}
			// The k-th view is the first one shifted by its storage offset.
			for i := 0; i+mem.StorageOffset < len(first.F32); i++ {
				if math.Float32bits(got.F32[i]) != math.Float32bits(first.F32[i+mem.StorageOffset]) {
					t.Fatalf("%s[%d] = %g, want storage element %d = %g", mem.Param, i, got.F32[i], i+mem.StorageOffset, first.F32[i+mem.StorageOffset])
				}
			}
		}
	}
	if members != 63 {
		t.Errorf("%d shared-storage members, want 63", members)
	}
}

// TestEveryModelCheckpoint reads the checkpoint of every model fixture (folders
// with an "arrays" manifest) and checks its key count where the manifest gives one.
func TestEveryModelCheckpoint(t *testing.T) {
	models, err := fixture.Models(fixture.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(models) < 2 {
		t.Fatalf("found %d model fixtures, want at least 2", len(models))
	}
	for _, md := range models {
		t.Run(md.Name, func(t *testing.T) {
			w, err := ReadFile(md.CkptPath)
			if err != nil {
				t.Fatal(err)
			}
			var ck struct {
				Keys int `json:"num_state_dict_keys"`
			}
			if len(md.Manifest.Checkpoint) > 0 {
				if err := json.Unmarshal(md.Manifest.Checkpoint, &ck); err != nil {
					t.Fatal(err)
				}
			}
			if ck.Keys != 0 && len(w.Tensors) != ck.Keys {
				t.Errorf("%d tensors, manifest says %d", len(w.Tensors), ck.Keys)
			}
			for _, x := range w.Tensors {
				if (x.F32 == nil) == (x.I64 == nil) {
					t.Errorf("%s: want exactly one of F32 and I64", x.Name)
				}
			}
		})
	}
}
