// Package session runs one loaded model: it turns pixels into the model's normalised input
// (at the default size or one asked for), builds the plan of each input size (model.Build,
// then model.Optimize unless plain) with its executor — the CPU reference or a GPU device —
// keeps the last few prepared, and checks that every run's input and outputs are finite.
// The CLI, calibrate and the browser build all run models through it.
//
//	s, err := session.New(session.FromFile(f), session.Options{GPU: dev}) // dev nil: the CPU
//	in, h, w, err := s.Image(rgb, imgH, imgW, 0, 0)                      // fitted to 512, normalised
//	res, err := s.Run(in, h, w)                                           // res.Outputs: raw logits [h, w, C]
//
// or s.RunRGBA(pixels, imgH, imgW) for both steps on a canvas's ImageData.
package session

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/gpu"
	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
)

// Model is a loaded model: its architecture, its weights and the input normalisation it
// was trained with.
type Model struct {
	Config  *model.Config
	Weights *model.Weights
	Norm    demtfile.Normalization
}

// FromFile returns the model a .demt file holds.
func FromFile(f *demtfile.File) *Model {
	return &Model{Config: &f.Meta.Config, Weights: f.Weights, Norm: f.Meta.Normalization}
}

// Check reports a model the plan builder cannot use: metadata the architecture does not
// allow (demtfile.Metadata.Validate: sizes, heads, orders, tasks, class names, normalisation)
// or weights whose names and shapes are not the ones the config implies (model.CheckKeys).
func (m *Model) Check() error {
	if m == nil || m.Config == nil || m.Weights == nil {
		return errors.New("no model")
	}
	meta := demtfile.Metadata{Config: *m.Config, Normalization: m.Norm}
	if err := meta.Validate(); err != nil {
		return err
	}
	return model.CheckKeys(m.Weights, m.Config)
}

// Options tune a Session.
type Options struct {
	// GPU runs the plans on this device (owned by the caller); nil runs them on the CPU.
	GPU *gpu.Device
	// Threads is the number of CPU worker threads (0 = all cores, at most MaxThreads()).
	Threads int
	// Plain runs the plain plan of model.Build, without the rewrites of model.Optimize.
	Plain bool
	// KeepAll keeps every tensor readable after a run (Result.Tensor), for verifying
	// intermediates; it uses much more memory.
	KeepAll bool
	// LongSide is the long side images are fitted to by Image (0 = imageio.DefaultLongSide).
	LongSide int
	// MaxMemory bounds the activation memory of a run (ActivationBytes), checked when a size is
	// prepared, before its executor allocates anything: 0 means the memory available
	// (AvailableMemory) on the CPU and no limit on a GPU; a negative value means no limit.
	MaxMemory int64
	// MaxCached is how many input sizes stay prepared (0 = 2); the least recently used
	// size is released first.
	MaxCached int
	// Progress, if set, is called after each op of a CPU run with the ops done and the total
	// (once, at the end, on a GPU).
	Progress func(done, total int)
}

// MaxThreads is the largest Options.Threads a session accepts: four per core.
func MaxThreads() int { return 4 * runtime.NumCPU() }

// Session runs a Model. Its methods must not be called concurrently.
type Session struct {
	m     *Model
	opt   Options
	mean  [3]float32
	std   [3]float32
	cache []*prepared // most recently used last
}

// prepared is the plan of one input size and its executor.
type prepared struct {
	h, w int
	plan *model.Plan
	cpu  *cpu.Executor
	gpu  *gpu.Executor
}

func (p *prepared) close() {
	if p.cpu != nil {
		p.cpu.Close()
	}
	if p.gpu != nil {
		p.gpu.Close()
	}
}

// New checks the options and the model (Model.Check) and returns a session; plans are built
// on first use of each input size.
func New(m *Model, opt Options) (*Session, error) {
	if opt.Threads < 0 || opt.Threads > MaxThreads() {
		return nil, fmt.Errorf("session: %d threads (want 0..%d: 0 for all cores, at most 4 per core)", opt.Threads, MaxThreads())
	}
	if opt.LongSide < 0 || opt.MaxCached < 0 {
		return nil, fmt.Errorf("session: negative LongSide %d or MaxCached %d", opt.LongSide, opt.MaxCached)
	}
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("session: model: %w", err)
	}
	s := &Session{m: m, opt: opt}
	for c := range 3 {
		s.mean[c], s.std[c] = float32(m.Norm.Mean[c]), float32(m.Norm.Std[c])
	}
	return s, nil
}

// Device names where the session runs: "cpu" or "gpu".
func (s *Session) Device() string {
	if s.opt.GPU != nil {
		return "gpu"
	}
	return "cpu"
}

// Close releases every prepared plan's executor (not the GPU device).
func (s *Session) Close() {
	for _, p := range s.cache {
		p.close()
	}
	s.cache = nil
}

// Plan returns the plan the session runs at h×w: model.Build, then model.Optimize unless
// Options.Plain. It prepares the executor of that size too, so a first Run does not pay for it.
func (s *Session) Plan(h, w int) (*model.Plan, error) {
	p, err := s.prepare(h, w)
	if err != nil {
		return nil, err
	}
	return p.plan, nil
}

// BuildPlan checks m (Check) and returns the plan a session runs at h×w (plain or optimized),
// without an executor
// (for printing or counting).
func BuildPlan(m *Model, h, w int, plain bool) (*model.Plan, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	return buildPlan(m, h, w, plain)
}

func buildPlan(m *Model, h, w int, plain bool) (*model.Plan, error) {
	p, err := model.Build(m.Config, m.Weights, h, w)
	if err != nil {
		return nil, fmt.Errorf("plan %dx%d: %w", h, w, err)
	}
	if plain {
		return p, nil
	}
	if p, err = model.Optimize(p); err != nil {
		return nil, fmt.Errorf("plan %dx%d: rewrites: %w", h, w, err)
	}
	return p, nil
}

// prepare returns the prepared size h×w, building it (and releasing the least recently used
// size beyond MaxCached) when it is new.
func (s *Session) prepare(h, w int) (*prepared, error) {
	for i, p := range s.cache {
		if p.h == h && p.w == w {
			s.cache = append(append(s.cache[:i:i], s.cache[i+1:]...), p)
			return p, nil
		}
	}
	plan, err := buildPlan(s.m, h, w, s.opt.Plain)
	if err != nil {
		return nil, err
	}
	limit := s.opt.MaxCached
	if limit == 0 {
		limit = 2
	}
	if err := s.checkMemory(plan); err != nil {
		return nil, err
	}
	for len(s.cache) >= limit { // release before allocating the new size
		s.cache[0].close()
		s.cache = s.cache[1:]
	}
	p := &prepared{h: h, w: w, plan: plan}
	if s.opt.GPU != nil {
		p.gpu, err = gpu.New(s.opt.GPU, plan, gpu.Options{KeepAll: s.opt.KeepAll})
	} else {
		p.cpu, err = cpu.New(plan, cpu.Options{Threads: s.opt.Threads, KeepAll: s.opt.KeepAll, Progress: s.opt.Progress})
	}
	if err != nil {
		return nil, fmt.Errorf("prepare %dx%d on the %s: %w", h, w, s.Device(), err)
	}
	s.cache = append(s.cache, p)
	return p, nil
}

// InputSize is the size an h×w image runs at: its long side fitted to Options.LongSide
// (imageio.DefaultLongSide by default) with imageio.FitSize.
func (s *Session) InputSize(h, w int) (int, int) {
	long := s.opt.LongSide
	if long == 0 {
		long = imageio.DefaultLongSide
	}
	return imageio.FitSize(h, w, long)
}

// Image returns the model input of an 8-bit RGB [h, w, 3] image: resized to ih×iw (InputSize
// when ih or iw is 0) and normalised with the model's normalisation.
func (s *Session) Image(rgb []uint8, h, w, ih, iw int) (in []float32, inH, inW int, err error) {
	if len(rgb) != h*w*3 || h <= 0 || w <= 0 {
		return nil, 0, 0, fmt.Errorf("%d bytes for a %dx%d RGB image", len(rgb), h, w)
	}
	if ih == 0 || iw == 0 {
		ih, iw = s.InputSize(h, w)
	}
	if ih != h || iw != w {
		rgb = imageio.ResizeRGB(rgb, h, w, ih, iw)
	}
	return imageio.Normalize(rgb, ih, iw, s.mean, s.std), ih, iw, nil
}

// ImageRGBA is Image for 8-bit RGBA [h, w, 4] pixels (a canvas's ImageData); alpha is ignored.
func (s *Session) ImageRGBA(rgba []uint8, h, w, ih, iw int) (in []float32, inH, inW int, err error) {
	if len(rgba) != h*w*4 || h <= 0 || w <= 0 {
		return nil, 0, 0, fmt.Errorf("%d bytes for a %dx%d RGBA image", len(rgba), h, w)
	}
	if ih == 0 || iw == 0 {
		ih, iw = s.InputSize(h, w)
	}
	if ih == h && iw == w {
		return imageio.NormalizeRGBA(rgba, h, w, s.mean, s.std), h, w, nil
	}
	rgb := make([]uint8, h*w*3)
	for p := range h * w {
		copy(rgb[3*p:3*p+3], rgba[4*p:4*p+3])
	}
	return s.Image(rgb, h, w, ih, iw)
}

// Output is one task's raw output of a run: logits, channels-last [H, W, C] at the input size.
type Output struct {
	Task  string
	Shape model.Shape
	Data  []float32 // the caller's own copy
}

// Result is what one Run computed.
type Result struct {
	Plan    *model.Plan
	Outputs []Output // in plan order
	read    func(id int) ([]float32, error)
}

// Tensor returns tensor id of the plan, channels-last: an output, the input, or with
// Options.KeepAll any tensor. It stays valid until the next Run of the session.
func (r *Result) Tensor(id int) ([]float32, error) {
	if id < 0 || id >= len(r.Plan.Tensors) {
		return nil, fmt.Errorf("no tensor %d in the plan", id)
	}
	return r.read(id)
}

// Run computes the forward pass of input, a normalised channels-last [h, w, 3] image. A
// non-finite input value is an error; so are non-finite outputs, with the first op that
// produced a non-finite value named (found by running the plan again on the CPU).
func (s *Session) Run(input []float32, h, w int) (*Result, error) {
	if len(input) != h*w*3 {
		return nil, fmt.Errorf("input has %d values, want %dx%dx3", len(input), h, w)
	}
	if i := firstNonFinite(input); i >= 0 {
		return nil, fmt.Errorf("input value at pixel (y %d, x %d) channel %d is %v: inputs must be finite", i/3/w, i/3%w, i%3, input[i])
	}
	p, err := s.prepare(h, w)
	if err != nil {
		return nil, err
	}
	r := &Result{Plan: p.plan}
	if p.gpu != nil {
		if err := p.gpu.Run(input); err != nil {
			return nil, fmt.Errorf("gpu: %w", err)
		}
		if s.opt.Progress != nil {
			s.opt.Progress(len(p.plan.Ops), len(p.plan.Ops))
		}
		r.read = p.gpu.Read
	} else {
		if err := p.cpu.Run(input); err != nil {
			return nil, fmt.Errorf("cpu: %w", err)
		}
		ex := p.cpu
		r.read = func(id int) ([]float32, error) { return ex.Tensor(id), nil }
	}
	for _, o := range p.plan.Outputs {
		data, err := r.read(o.Tensor)
		if err != nil {
			return nil, fmt.Errorf("read output %s: %w", o.Task, err)
		}
		sh := p.plan.Tensors[o.Tensor].Shape
		if len(data) != sh.Numel() {
			return nil, fmt.Errorf("output %s: %d values for shape %s", o.Task, len(data), sh)
		}
		r.Outputs = append(r.Outputs, Output{Task: o.Task, Shape: sh, Data: append([]float32(nil), data...)})
	}
	for _, o := range r.Outputs {
		if n := countNonFinite(o.Data); n > 0 {
			return nil, fmt.Errorf("output %s has %d non-finite values (NaN or Inf)%s", o.Task, n, s.whereNonFinite(p.plan, input))
		}
	}
	return r, nil
}

// whereNonFinite runs plan on the CPU, checking each op's output as soon as it is computed
// (before its buffer is reused), and describes the first op whose output is not finite.
func (s *Session) whereNonFinite(plan *model.Plan, input []float32) string {
	if need, err := ActivationBytes(plan, false); err != nil || need > AvailableMemory() && AvailableMemory() > 0 {
		return "" // not cheap: a second executor would not fit
	}
	first := -1
	var ex *cpu.Executor
	check := func(done, total int) {
		if first < 0 && total == len(plan.Ops) && countNonFinite(ex.Tensor(plan.Ops[done-1].Output)) > 0 {
			first = done - 1
		}
	}
	ex, err := cpu.New(plan, cpu.Options{Threads: s.opt.Threads, Progress: check})
	if err != nil {
		return ""
	}
	defer ex.Close()
	if err := ex.Run(input); err != nil {
		return ""
	}
	if first < 0 {
		if s.opt.GPU != nil {
			return "; the CPU reference computes finite values for the same plan and input (a GPU fault)"
		}
		return ""
	}
	op := &plan.Ops[first]
	return fmt.Sprintf("; first produced by op #%d %s %s", first, op.Kind, op.Name)
}

// firstNonFinite returns the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// countNonFinite counts the NaN and ±Inf values of v.
func countNonFinite(v []float32) int {
	n := 0
	for _, x := range v {
		if x-x != 0 {
			n++
		}
	}
	return n
}

// RunRGBA runs an 8-bit RGBA [h, w, 4] image (a canvas's ImageData) at the default size
// (InputSize): ImageRGBA, then Run. The raw outputs are what `demt-convert infer --raw` writes
// for the same pixels.
func (s *Session) RunRGBA(rgba []uint8, h, w int) (*Result, error) {
	in, ih, iw, err := s.ImageRGBA(rgba, h, w, 0, 0)
	if err != nil {
		return nil, err
	}
	return s.Run(in, ih, iw)
}
