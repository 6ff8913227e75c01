package demtfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/demt-web/demt/model"
)

// TestMetadataValidated: a checksum-valid file whose metadata the architecture cannot use is
// refused by the reader (ReadHeader and Read) with an error naming the field.
func TestMetadataValidated(t *testing.T) {
	w := testWeights(t)
	cases := []struct {
		field string
		edit  func(m *Metadata)
	}{
		{"config.head.attn_heads: 0", func(m *Metadata) { m.Config.Head.AttnHeads = 0 }},
		{"config.head.attn_heads: 3 heads do not divide dim 256", func(m *Metadata) { m.Config.Head.AttnHeads = 3 }},
		{"config.head.mixer_order: unknown order \"v3\"", func(m *Metadata) { m.Config.Head.MixerOrder = "v3" }},
		{"config.head.mixer_order: unknown order \"\"", func(m *Metadata) { m.Config.Head.MixerOrder = "" }},
		{"config.head.mixer_depth", func(m *Metadata) { m.Config.Head.MixerDepth = 1 << 30 }},
		{"config.head.tasks[0].class_names[1]: name \"aero\\tplane\" has a control character", func(m *Metadata) {
			m.Config.Head.Tasks[0].ClassNames[1] = "aero\tplane"
		}},
		{"config.head.tasks[0].class_names[0]: name \"back\\nground\" has a control character", func(m *Metadata) {
			m.Config.Head.Tasks[0].ClassNames[0] = "back\nground"
		}},
		{"config.head.tasks[0].class_names: 2 names for 3 channels", func(m *Metadata) {
			m.Config.Head.Tasks[0].ClassNames = m.Config.Head.Tasks[0].ClassNames[:2]
		}},
		{"config.head.tasks[1].name: unknown task \"../../etc/x\"", func(m *Metadata) { m.Config.Head.Tasks[1].Name = "../../etc/x" }},
		{"config.head.tasks[1].name: task \"semseg\" listed twice", func(m *Metadata) { m.Config.Head.Tasks[1].Name = "semseg" }},
		{"config.head.tasks[1].channels: 0", func(m *Metadata) { m.Config.Head.Tasks[1].Channels = 0 }},
		{"config.head.tasks (count): 0", func(m *Metadata) { m.Config.Head.Tasks = nil }},
		{"config.head.in_channels: 271, the backbone gives 270", func(m *Metadata) { m.Config.Head.InChannels = 271 }},
		{"config.backbone.kind: unknown backbone \"resnet\"", func(m *Metadata) { m.Config.Backbone.Kind = "resnet" }},
		{"config.backbone.branch_widths: 3 entries, want 4", func(m *Metadata) { m.Config.Backbone.BranchWidths = []int{18, 36, 72} }},
		{"config.backbone.stage_modules[1]: -1", func(m *Metadata) { m.Config.Backbone.StageModules[1] = -1 }},
		{"config.backbone.out_channels", func(m *Metadata) { m.Config.Backbone.OutChannels = []int{18, 36, 72, 145} }},
		{"config.backbone.heads[1]: 5 heads do not divide the stage width 16", func(m *Metadata) {
			m.Config.Backbone = model.BackboneConfig{Kind: model.Swin, EmbedDim: 8, PatchSize: 4, Window: 7,
				Depths: []int{2, 2}, Heads: []int{1, 5}, MLPHidden: []int{32, 64}, OutChannels: []int{8, 16}}
			m.Config.Head.InChannels = 24
		}},
		{"config.backbone.window: 0", func(m *Metadata) {
			m.Config.Backbone = model.BackboneConfig{Kind: model.Swin, EmbedDim: 8, PatchSize: 4,
				Depths: []int{2}, Heads: []int{1}, MLPHidden: []int{32}, OutChannels: []int{8}}
			m.Config.Head.InChannels = 8
		}},
		{"normalization.std[1] = 0", func(m *Metadata) { m.Normalization.Std[1] = 0 }},
		{"normalization.std[2] = -0.5", func(m *Metadata) { m.Normalization.Std[2] = -0.5 }},
		{"normalization.std[0] = 1e-300", func(m *Metadata) { m.Normalization.Std[0] = 1e-300 }},
		{"normalization.mean[0] = 1e+300 is not finite", func(m *Metadata) { m.Normalization.Mean[0] = 1e300 }},
	}
	for _, c := range cases {
		meta := testMeta()
		c.edit(meta)
		var buf bytes.Buffer
		if err := Write(&buf, meta, w, WriteOptions{}); err != nil {
			t.Fatalf("%s: write: %v", c.field, err)
		}
		for name, read := range map[string]func() error{
			"ReadHeader": func() error { _, _, err := ReadHeader(bytes.NewReader(buf.Bytes())); return err },
			"Read":       func() error { _, err := Read(bytes.NewReader(buf.Bytes()), nil); return err },
		} {
			err := read()
			var e *Error
			if err == nil || !errors.As(err, &e) || e.Section != "metadata" || !strings.Contains(err.Error(), c.field) {
				t.Errorf("%s: %s error %v, want a metadata error naming %q", c.field, name, err, c.field)
			}
		}
	}
	// The unedited metadata is valid.
	if err := testMeta().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestNormalizationLength: a mean or std that does not have exactly three values is refused
// (encoding/json alone would zero-fill [3]float64 from a shorter array).
func TestNormalizationLength(t *testing.T) {
	for _, js := range []string{
		`{"mean":[0.5,0.5],"std":[0.2,0.2,0.2]}`,
		`{"mean":[0.5,0.5,0.5],"std":[0.2,0.2,0.2,0.2]}`,
		`{"mean":[0.5,0.5,0.5]}`,
	} {
		var n Normalization
		if err := json.Unmarshal([]byte(js), &n); err == nil || !strings.Contains(err.Error(), "want 3 each") {
			t.Errorf("%s: error %v", js, err)
		}
	}
	var n Normalization
	if err := json.Unmarshal([]byte(`{"mean":[0.5,0.25,0.125],"std":[1,2,4]}`), &n); err != nil || n.Mean[2] != 0.125 || n.Std[1] != 2 {
		t.Errorf("valid normalization: %+v, %v", n, err)
	}
	if err := (Normalization{Mean: [3]float64{math.NaN(), 0, 0}, Std: [3]float64{1, 1, 1}}).Check(); err == nil {
		t.Error("NaN mean accepted")
	}
}
