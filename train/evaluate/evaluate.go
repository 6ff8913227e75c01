// Package evaluate runs a model over a dataset split and accumulates the official metrics of
// every task the model and the dataset share. The model is any Forward function, so the
// executor (CPU, GPU, a session) is the caller's choice.
package evaluate

import (
	"fmt"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/train/dataset"
	"github.com/demt-web/demt/train/metrics"
)

// Forward runs the model on one normalised image [h, w, 3] and returns every task's raw
// output [h, w, C] (logits), keyed by task name.
type Forward func(image []float32, h, w int) (map[string][]float32, error)

// Task is one model output: its name and channel count.
type Task struct {
	Name     string
	Channels int
}

// Options configure a run.
type Options struct {
	// Tasks are the model's outputs; those the dataset has no labels for are skipped.
	Tasks []Task
	// PadH, PadW > 0 centre-pad every sample as the official PadImage (the model runs on the
	// padded image and the metrics cover the padded maps, the padding ignored through 255;
	// the edge map is cropped back to the image first, as the official code saves it).
	PadH, PadW int
	// SizeH, SizeW > 0 resize the (padded) image bilinearly to SizeH×SizeW for the model and
	// its outputs bilinearly back to the label size (align_corners=False).
	SizeH, SizeW int
	// MaxDist is the boundary tolerance; 0 picks the dataset's (PASCAL 0.0075, else 0.011).
	MaxDist float64
	// Progress, if set, is called after each image.
	Progress func(done, total int)
}

// TaskResult is the metric values of one task over the split.
type TaskResult struct {
	Task   string
	Values []metrics.Value
}

// Result is a whole run.
type Result struct {
	Images  int
	MaxDist float64
	Tasks   []TaskResult
	// Skipped are the model's tasks the dataset has no labels for.
	Skipped []string
}

// Run evaluates fwd on the samples ids of r.
func Run(r dataset.Reader, ids []string, fwd Forward, opt Options) (*Result, error) {
	maxDist := opt.MaxDist
	if maxDist == 0 {
		maxDist = metrics.MaxDistNYUD
		if r.Layout() == dataset.LayoutPASCAL {
			maxDist = metrics.MaxDistPASCAL
		}
	}
	have := map[string]bool{}
	for _, t := range r.Tasks() {
		have[t] = true
	}
	var tasks []Task
	var skipped []string
	accs := map[string]metrics.Accumulator{}
	for _, t := range opt.Tasks {
		if !have[t.Name] {
			skipped = append(skipped, t.Name)
			continue
		}
		if names := r.ClassNames(t.Name); names != nil && len(names) != t.Channels {
			return nil, fmt.Errorf("task %s: the model predicts %d classes, the dataset has %d", t.Name, t.Channels, len(names))
		}
		a, err := metrics.ForTask(t.Name, t.Channels, maxDist)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
		accs[t.Name] = a
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("the model's tasks and the dataset's (%v) have nothing in common", r.Tasks())
	}
	for i, id := range ids {
		s, err := r.Load(id)
		if err != nil {
			return nil, err
		}
		dataset.EvalTransform(s, opt.PadH, opt.PadW)
		img, h, w := s.Image, s.H, s.W
		if opt.SizeH > 0 && opt.SizeW > 0 && (opt.SizeH != h || opt.SizeW != w) {
			img, h, w = resizeBilinear(img, h, w, 3, opt.SizeH, opt.SizeW), opt.SizeH, opt.SizeW
		}
		if h < model.MinInputSize || w < model.MinInputSize {
			return nil, fmt.Errorf("sample %s: %dx%d is smaller than the model's %dx%d minimum (use a padding or size option)",
				id, h, w, model.MinInputSize, model.MinInputSize)
		}
		out, err := fwd(img, h, w)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", id, err)
		}
		for _, t := range tasks {
			o, ok := out[t.Name]
			if !ok {
				return nil, fmt.Errorf("sample %s: the model gave no %s output", id, t.Name)
			}
			if len(o) != h*w*t.Channels {
				return nil, fmt.Errorf("sample %s: %s output has %d values, want %dx%dx%d", id, t.Name, len(o), h, w, t.Channels)
			}
			if h != s.H || w != s.W {
				o = resizeBilinear(o, h, w, t.Channels, s.H, s.W)
			}
			label, lh, lw := s.Labels[t.Name], s.H, s.W
			if t.Name == "edge" && (s.RawH != s.H || s.RawW != s.W) {
				// The official code crops the saved edge map back to the image before SEISM.
				o = crop(o, s.W, t.Channels, s.PadTop, s.PadLeft, s.RawH, s.RawW)
				label = crop(label, s.W, 1, s.PadTop, s.PadLeft, s.RawH, s.RawW)
				lh, lw = s.RawH, s.RawW
			}
			if err := accs[t.Name].Add(o, label, lh, lw); err != nil {
				return nil, fmt.Errorf("sample %s: %w", id, err)
			}
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(ids))
		}
	}
	res := &Result{Images: len(ids), MaxDist: maxDist, Skipped: skipped}
	for _, t := range tasks {
		res.Tasks = append(res.Tasks, TaskResult{Task: t.Name, Values: accs[t.Name].Values()})
	}
	return res, nil
}

// crop returns the h×w window at (top, left) of a channels-last image of width w0.
func crop(src []float32, w0, c, top, left, h, w int) []float32 {
	dst := make([]float32, 0, h*w*c)
	for y := top; y < top+h; y++ {
		dst = append(dst, src[(y*w0+left)*c:(y*w0+left+w)*c]...)
	}
	return dst
}

// resizeBilinear resizes channels-last [h, w, c] to [nh, nw, c] as PyTorch's bilinear
// interpolation with align_corners=False.
func resizeBilinear(src []float32, h, w, c, nh, nw int) []float32 {
	ys, xs := model.ResizeTaps(h, nh), model.ResizeTaps(w, nw)
	dst := make([]float32, nh*nw*c)
	for oy, ty := range ys {
		r0, r1 := src[ty.I0*w*c:], src[ty.I1*w*c:]
		for ox, tx := range xs {
			o := dst[(oy*nw+ox)*c:]
			for k := 0; k < c; k++ {
				top := r0[tx.I0*c+k]*tx.L0 + r0[tx.I1*c+k]*tx.L1
				bot := r1[tx.I0*c+k]*tx.L0 + r1[tx.I1*c+k]*tx.L1
				o[k] = top*ty.L0 + bot*ty.L1
			}
		}
	}
	return dst
}
