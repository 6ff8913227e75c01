package train

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
)

// TestPresetsMatchKeyLists checks every official preset against the official key lists:
// the same architecture as inferred from the keys, and the same keys and shapes in order.
func TestPresetsMatchKeyLists(t *testing.T) {
	files := map[string]string{"swin-t": "swin_t", "swin-s": "swin_s", "swin-b": "swin_b", "hrnet18-s": "hrnet18_s"}
	for preset, file := range files {
		for _, ds := range []string{"nyud", "pascal"} {
			kf, err := fixture.LoadKeys(filepath.Join(fixture.Root(t), "keys", file+"-"+ds+".json"))
			if err != nil {
				t.Fatal(err)
			}
			zw, err := kf.ZeroWeights()
			if err != nil {
				t.Fatal(err)
			}
			want, err := model.InferConfig(zw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Preset(preset, want.Head.Tasks, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%s: preset\n%+v\nkeys\n%+v", preset, ds, *got, *want)
				continue
			}
			keys := model.ExpectedKeys(got)
			if len(keys) != len(kf.StateDict) {
				t.Fatalf("%s/%s: %d keys, the official list has %d", preset, ds, len(keys), len(kf.StateDict))
			}
			for i, k := range keys {
				if k.Name != kf.StateDict[i].Name || !slices.Equal(k.Shape, kf.StateDict[i].Shape) {
					t.Fatalf("%s/%s: key %d %s %v, official %s %v", preset, ds, i, k.Name, k.Shape, kf.StateDict[i].Name, kf.StateDict[i].Shape)
				}
			}
		}
	}
}

func TestNanoPreset(t *testing.T) {
	tasks := []model.Task{{Name: "semseg", Channels: 16}, {Name: "depth", Channels: 1}}
	c, err := Preset("nano", tasks, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Head.Dim != NanoHeadWidth || c.Head.InChannels != 360 || c.Head.BottleneckChannels != 45 {
		t.Fatalf("nano head %+v", c.Head)
	}
	w := InitWeights(c, 1)
	if err := model.CheckKeys(w, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Preset("nano", tasks, 30); err == nil {
		t.Error("head width 30 (not a multiple of 4 heads) accepted")
	}
	if _, err := Preset("big", tasks, 0); err == nil {
		t.Error("unknown preset accepted")
	}
}
