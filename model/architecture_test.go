package model_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
)

// keysWeights loads a keys/*.json file as a state dict of zero tensors.
func keysWeights(t *testing.T, path string) (*fixture.KeysFile, *model.Weights) {
	t.Helper()
	kf, err := fixture.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kf.ZeroWeights()
	if err != nil {
		t.Fatal(err)
	}
	return kf, w
}

func TestInferConfigFullModels(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixture.Root(t), "keys", "*-*.json"))
	if err != nil || len(files) < 8 {
		t.Fatalf("keys files: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			kf, w := keysWeights(t, f)
			c, err := model.InferConfig(w)
			if err != nil {
				t.Fatal(err)
			}
			if c.Backbone.Name != kf.Backbone {
				t.Errorf("backbone %q, want %q", c.Backbone.Name, kf.Backbone)
			}
			if len(c.Head.Tasks) != len(kf.Tasks) {
				t.Fatalf("tasks %v, want %v", c.Head.Tasks, kf.Tasks)
			}
			for i, task := range kf.Tasks {
				if c.Head.Tasks[i].Name != task.Name || c.Head.Tasks[i].Channels != task.Channels {
					t.Errorf("task %d = %+v, want %+v", i, c.Head.Tasks[i], task)
				}
			}
			if c.Head.MixerOrder != model.MixerV2 || c.Head.MixerDepth != 1 || c.Head.AttnHeads != 4 {
				t.Errorf("head %+v", c.Head)
			}
			// ExpectedKeys reproduces the official state-dict order exactly.
			exp := model.ExpectedKeys(c)
			if len(exp) != len(kf.StateDict) {
				t.Fatalf("%d expected keys, file has %d", len(exp), len(kf.StateDict))
			}
			for i, k := range exp {
				if k.Name != kf.StateDict[i].Name {
					t.Fatalf("key %d = %s, want %s", i, k.Name, kf.StateDict[i].Name)
				}
			}
		})
	}
}

func TestInferConfigRejectsBadKeys(t *testing.T) {
	_, w := keysWeights(t, filepath.Join(fixture.Root(t), "keys", "hrnet18_s-pascal.json"))
	var ts []*model.Tensor
	for _, tt := range w.Tensors {
		if tt.Name == "head.smlp.0.bias" || tt.Name == "backbone.bn1.weight" {
			continue // missing
		}
		if tt.Name == "head.linear1.1.weight" {
			c := *tt
			c.Shape = []int{255}
			c.F32 = c.F32[:255]
			tt = &c
		}
		ts = append(ts, tt)
	}
	ts = append(ts, &model.Tensor{Name: "head.gmlps.0.weight", Shape: []int{1}, F32: []float32{0}})
	bad, err := model.NewWeights(ts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = model.InferConfig(bad)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"missing head.smlp.0.bias", "missing backbone.bn1.weight", "head.linear1.1.weight: unexpected shape", "unknown head.gmlps.0.weight", "4 problems"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRelativePositionIndex(t *testing.T) {
	idx := model.RelativePositionIndex(7)
	// a = (0,0), b = (6,6): (0-6+6)*13 + (0-6+6) = 0; a=(6,6), b=(0,0): 12*13+12 = 168.
	if idx[0*49+48] != 0 || idx[48*49+0] != 168 || idx[0] != 84 {
		t.Fatalf("index corners %d %d %d", idx[48], idx[48*49], idx[0])
	}
}
