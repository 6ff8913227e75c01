package gpu

import (
	"fmt"
	"sort"
)

// Schedule is the dispatch list of one live frame (RunFrame) as plain data: what a
// JavaScript frame loop replays with no call into Go (the browser's live path records the
// GPU commands of one RunFrame and replays them per frame). Native tests check it.
type Schedule struct {
	// Image is the label of the RGBA8 source-image buffer (SourceW×SourceH pixels, tightly
	// packed rows) that preprocess.wgsl reads.
	Image            string `json:"image"`
	SourceW, SourceH int    `json:"-"`
	// Steps are the dispatches in submission order.
	Steps []Step `json:"steps"`
	// Displays are the RGBA8 renderings, one per task, in the order of the plan's outputs.
	Displays []Display `json:"displays"`
}

// Step is one dispatch of a Schedule.
type Step struct {
	Kernel  string `json:"kernel"` // pipeline label: kernel name and variant defines
	Stage   string `json:"stage"`  // "preprocess", "forward" or "display:<task>"
	X, Y, Z uint32 `json:"-"`
}

// Display is one task's rendering buffer: H×W RGBA8 pixels (R in the low byte), tightly packed.
type Display struct {
	Task  string `json:"task"`
	Label string `json:"label"` // the buffer's label
	H     int    `json:"height"`
	W     int    `json:"width"`
}

// frameLists returns the dispatch lists of RunFrame: preprocess, forward, then each
// task's display job in the order of the plan's outputs.
func (e *Executor) frameLists() [][]dispatch {
	lists := [][]dispatch{e.pre.ds, e.dispatches}
	for _, o := range e.plan.Outputs {
		lists = append(lists, e.display[o.Task].dispatches)
	}
	return lists
}

// RunFrame runs a whole live frame in one compute pass and one submit: preprocessing of an
// sw×sh RGBA8 image (as RunRGBA), the forward, and every task's display rendering (as
// ReadRGBA renders it, without reading it back). Schedule describes its dispatches.
func (e *Executor) RunFrame(rgba []uint8, sw, sh int, mean, std [3]float32) error {
	if sw <= 0 || sh <= 0 || len(rgba) != 4*sw*sh {
		return fmt.Errorf("gpu: image of %d bytes is not %d×%d RGBA", len(rgba), sw, sh)
	}
	if j := e.pre; j == nil || j.sw != sw || j.sh != sh || j.mean != mean || j.std != std {
		if err := e.preparePreprocess(sw, sh, mean, std); err != nil {
			return err
		}
	}
	copy(e.pre.bytes, rgba)
	if err := e.d.dev.Queue().WriteBuffer(e.pre.img, 0, e.pre.bytes); err != nil {
		return fmt.Errorf("gpu: upload image: %w", err)
	}
	return e.submit(e.frameLists()...)
}

// Schedule returns the dispatch list of RunFrame for the source size of the last RunFrame
// (or RunRGBA); it is an error before either.
func (e *Executor) Schedule() (*Schedule, error) {
	if e.pre == nil {
		return nil, fmt.Errorf("gpu: no frame prepared (RunFrame first)")
	}
	s := &Schedule{Image: "image", SourceW: e.pre.sw, SourceH: e.pre.sh}
	stages := []string{"preprocess", "forward"}
	for _, o := range e.plan.Outputs {
		stages = append(stages, "display:"+o.Task)
		sh := e.plan.Tensors[o.Tensor].Shape
		s.Displays = append(s.Displays, Display{Task: o.Task, Label: "display " + o.Task, H: sh.H, W: sh.W})
	}
	for i, list := range e.frameLists() {
		for _, d := range list {
			s.Steps = append(s.Steps, Step{Kernel: d.p.name, Stage: stages[i], X: d.x, Y: d.y, Z: d.z})
		}
	}
	return s, nil
}

// Kernels returns the distinct pipeline labels of the schedule, sorted.
func (s *Schedule) Kernels() []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range s.Steps {
		if !seen[st.Kernel] {
			seen[st.Kernel] = true
			out = append(out, st.Kernel)
		}
	}
	sort.Strings(out)
	return out
}
