package model

// Config is the DeMT architecture, inferred from the shapes of a state dict
// (InferConfig) and stored in a .demt file's metadata.
type Config struct {
	Backbone BackboneConfig `json:"backbone"`
	Head     HeadConfig     `json:"head"`
}

// Backbone kinds.
const (
	Swin  = "swin"
	HRNet = "hrnet"
)

// BackboneConfig describes a Swin or HRNet backbone.
type BackboneConfig struct {
	Kind string `json:"kind"`           // Swin or HRNet
	Name string `json:"name,omitempty"` // "Swin-T", "HRNet18-S", ... when it matches a known variant

	// Swin.
	EmbedDim  int   `json:"embed_dim,omitempty"`
	PatchSize int   `json:"patch_size,omitempty"`
	Window    int   `json:"window,omitempty"`
	Depths    []int `json:"depths,omitempty"`
	Heads     []int `json:"heads,omitempty"`
	MLPHidden []int `json:"mlp_hidden,omitempty"` // FFN hidden width per stage

	// HRNet.
	StemChannels int   `json:"stem_channels,omitempty"` // 64
	Layer1Blocks int   `json:"layer1_blocks,omitempty"` // Bottlenecks in layer1
	Layer1Planes int   `json:"layer1_planes,omitempty"` // Bottleneck width (64)
	BranchBlocks []int `json:"branch_blocks,omitempty"` // BasicBlocks per branch, per stage 2..4
	StageModules []int `json:"stage_modules,omitempty"` // HRModules in stage 2, 3, 4
	BranchWidths []int `json:"branch_widths,omitempty"` // 18, 36, 72, 144

	// OutChannels are the widths of the four feature maps the head receives.
	OutChannels []int `json:"out_channels"`
}

// Task is one output of the head.
type Task struct {
	Name       string   `json:"name"`
	Channels   int      `json:"channels"`
	ClassNames []string `json:"class_names,omitempty"`
}

// DefMixer module orders (notes §5).
const (
	MixerV1 = "v1" // deformable step first (first upload, 575d11f)
	MixerV2 = "v2" // channel-mixing conv first (HEAD)
)

// HeadConfig describes the DemtHead.
type HeadConfig struct {
	InChannels         int    `json:"in_channels"` // sum of the backbone widths
	Dim                int    `json:"dim"`         // 256
	AttnHeads          int    `json:"attn_heads"`  // 4, not inferable from shapes
	BottleneckChannels int    `json:"bottleneck_channels"`
	MixerDepth         int    `json:"mixer_depth"`
	MixerOrder         string `json:"mixer_order"`
	Tasks              []Task `json:"tasks"`
}
