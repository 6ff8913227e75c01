package demtfile

import (
	"bytes"
	"testing"

	"github.com/demt-web/demt/model"
)

// tinyModels are complete DeMT models small enough to fuzz with: a two-stage Swin and a
// width-2 HRNet, each with a two-task head.
func tinyModels() []*Metadata {
	head := func(in int) model.HeadConfig {
		return model.HeadConfig{InChannels: in, Dim: 8, AttnHeads: 2, BottleneckChannels: 4, MixerDepth: 1, MixerOrder: model.MixerV2,
			Tasks: []model.Task{{Name: "semseg", Channels: 3, ClassNames: []string{"a", "b", "c"}}, {Name: "depth", Channels: 1}}}
	}
	swin := model.Config{
		Backbone: model.BackboneConfig{Kind: model.Swin, EmbedDim: 4, PatchSize: 4, Window: 2, Depths: []int{1, 1},
			Heads: []int{1, 2}, MLPHidden: []int{8, 16}, OutChannels: []int{4, 8}},
		Head: head(12),
	}
	hrnet := model.Config{
		Backbone: model.BackboneConfig{Kind: model.HRNet, StemChannels: 4, Layer1Blocks: 1, Layer1Planes: 2,
			BranchWidths: []int{2, 2, 2, 2}, StageModules: []int{1, 1, 1}, BranchBlocks: []int{1, 1, 1}, OutChannels: []int{2, 2, 2, 2}},
		Head: head(8),
	}
	hrnet.Head.MixerOrder = model.MixerV1
	var out []*Metadata
	for _, c := range []model.Config{swin, hrnet} {
		out = append(out, &Metadata{Config: c, Normalization: ImageNetNormalization()})
	}
	return out
}

// FuzzReadBuild goes from bytes to a plan as every caller does: Read (which validates the
// metadata), model.CheckKeys (the tensors have the shapes the config implies), then
// model.Build and model.Optimize at two small sizes. Whatever the bytes, no step may panic.
// The seeds are the tiny models, written as f32 and int8.
func FuzzReadBuild(f *testing.F) {
	for i, meta := range tinyModels() {
		for _, dt := range []string{DTypeF32, DTypeInt8} {
			var buf bytes.Buffer
			if err := Write(&buf, meta, model.RandomWeights(&meta.Config, uint64(i)), WriteOptions{DType: dt, ChunkSize: 4096}); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, entries, err := ReadHeader(bytes.NewReader(fixChecksums(b)))
		if err != nil || dataBytes(entries) > maxFuzzData {
			return
		}
		file, err := Read(bytes.NewReader(fixChecksums(b)), nil)
		if err != nil {
			return
		}
		if err := model.CheckKeys(file.Weights, &meta.Config); err != nil {
			return
		}
		for _, size := range [][2]int{{16, 16}, {17, 23}} {
			p, err := model.Build(&file.Meta.Config, file.Weights, size[0], size[1])
			if err != nil {
				t.Fatalf("a model that passed Read and CheckKeys does not build at %dx%d: %v", size[0], size[1], err)
			}
			if _, err := model.Optimize(p); err != nil {
				t.Fatalf("the plan at %dx%d does not optimize: %v", size[0], size[1], err)
			}
		}
	})
}

// TestTinyModelsBuild: the fuzz seeds are valid models (so the fuzzer starts past every check).
func TestTinyModelsBuild(t *testing.T) {
	for _, meta := range tinyModels() {
		if err := meta.Validate(); err != nil {
			t.Fatalf("%s: %v", meta.Config.Backbone.Kind, err)
		}
		w := model.RandomWeights(&meta.Config, 1)
		if err := model.CheckKeys(w, &meta.Config); err != nil {
			t.Fatalf("%s: %v", meta.Config.Backbone.Kind, err)
		}
		if _, err := model.Build(&meta.Config, w, 16, 16); err != nil {
			t.Fatalf("%s: %v", meta.Config.Backbone.Kind, err)
		}
	}
}
