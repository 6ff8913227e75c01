package model_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
)

// StateDict puts any key order back into the official one, with the official dtypes.
func TestStateDictOfficialOrderAndTypes(t *testing.T) {
	for _, name := range []string{"hrnet18_s-pascal.json", "swin_t-nyud.json"} {
		t.Run(name, func(t *testing.T) {
			kf, w := keysWeights(t, filepath.Join(fixture.Root(t), "keys", name))
			c, err := model.InferConfig(w)
			if err != nil {
				t.Fatal(err)
			}
			// Scramble: reverse order, float num_batches_tracked (as some checkpoints hold), f16 source types.
			ts := slices.Clone(w.Tensors)
			slices.Reverse(ts)
			for i, tt := range ts {
				c := *tt
				if strings.HasSuffix(c.Name, "num_batches_tracked") {
					c.I64, c.F32, c.DType = nil, []float32{7}, model.F32
				} else if c.F32 != nil {
					c.DType = model.F16
				}
				ts[i] = &c
			}
			scrambled, err := model.NewWeights(ts)
			if err != nil {
				t.Fatal(err)
			}
			sd, err := model.StateDict(c, scrambled)
			if err != nil {
				t.Fatal(err)
			}
			if len(sd.Tensors) != len(kf.StateDict) {
				t.Fatalf("%d tensors, want %d", len(sd.Tensors), len(kf.StateDict))
			}
			for i, k := range kf.StateDict {
				got := sd.Tensors[i]
				if got.Name != k.Name || string(got.DType) != k.DType || !slices.Equal(got.Shape, k.Shape) {
					t.Fatalf("entry %d = %s %s %v, want %s %s %v", i, got.Name, got.DType, got.Shape, k.Name, k.DType, k.Shape)
				}
				if (got.I64 != nil) != (k.DType == "int64") || (got.F32 != nil) == (k.DType == "int64") {
					t.Fatalf("%s: values of the wrong kind", k.Name)
				}
				if strings.HasSuffix(k.Name, "num_batches_tracked") && got.I64[0] != 7 {
					t.Fatalf("%s = %v, want 7", k.Name, got.I64)
				}
			}
		})
	}
}

func TestStateDictRejects(t *testing.T) {
	_, w := keysWeights(t, filepath.Join(fixture.Root(t), "keys", "hrnet18_s-pascal.json"))
	c, err := model.InferConfig(w)
	if err != nil {
		t.Fatal(err)
	}
	bad := func(edit func(ts []*model.Tensor) []*model.Tensor) error {
		ts := slices.Clone(w.Tensors)
		for i, tt := range ts {
			c := *tt
			ts[i] = &c
		}
		nw, err := model.NewWeights(edit(ts))
		if err != nil {
			t.Fatal(err)
		}
		_, err = model.StateDict(c, nw)
		return err
	}
	for name, edit := range map[string]func(ts []*model.Tensor) []*model.Tensor{
		"fractional count": func(ts []*model.Tensor) []*model.Tensor {
			for _, tt := range ts {
				if strings.HasSuffix(tt.Name, "num_batches_tracked") {
					tt.I64, tt.F32 = nil, []float32{0.5}
					break
				}
			}
			return ts
		},
		"missing key": func(ts []*model.Tensor) []*model.Tensor { return ts[1:] },
		"unknown key": func(ts []*model.Tensor) []*model.Tensor {
			return append(ts, &model.Tensor{Name: "head.extra", Shape: []int{1}, DType: model.F32, F32: []float32{0}})
		},
	} {
		if err := bad(edit); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
