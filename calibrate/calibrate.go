// Package calibrate chooses which weights keep more precision when a model is stored in
// f16 or int8. It runs the model on a calibration image, measures how far storing each
// module's weights at the lower precision alone moves the outputs, and keeps the most
// harmful modules one step more precise until the estimated output error of the rest,
// √Σe², is within a budget. The choice feeds demtfile.WriteOptions.Precise.
package calibrate

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/session"
)

// Options tune Choose.
type Options struct {
	// DType is demtfile.DTypeF16 or demtfile.DTypeInt8.
	DType string
	// Input is a normalised channels-last calibration image of H×W pixels; nil means the
	// built-in synthetic scene at 64×64.
	Input []float32
	H, W  int
	// Budget is the target relative L2 error of the outputs (0 = DefaultBudget(DType)).
	Budget float64
	// Threads for the CPU executor (0 = all cores).
	Threads int
	// Progress, if set, is called after each trial run.
	Progress func(done, total int)
}

// DefaultBudget is the output error Choose aims for: 1e-3 for f16, 1.5e-2 for int8
// (half the tolerances of the project's f16/int8 tests, which measure on other images).
func DefaultBudget(dtype string) float64 {
	if dtype == demtfile.DTypeF16 {
		return 1e-3
	}
	return 1.5e-2
}

// Module is the measured effect of lowering one module's weights.
type Module struct {
	Name    string   // module path (weight names without their last component)
	Tensors []string // the tensors it lowers
	Params  int
	RelL2   float64 // largest per-output relative L2 error with only this module lowered
	Precise bool    // kept one step more precise
}

// Report is what Choose decided.
type Report struct {
	PreciseModules int
	Modules        []Module // sorted by RelL2, largest first
	Precise        map[string]bool
	Estimated      float64 // √Σe² over the lowered modules
	Measured       float64 // largest per-output error with the whole choice applied
	// PreciseParams and Params count the float elements of the precise and of all candidate tensors.
	PreciseParams, Params int
}

// Choose measures every module and returns the tensors to keep precise.
func Choose(cfg *model.Config, w *model.Weights, opt Options) (*Report, error) {
	if opt.DType != demtfile.DTypeF16 && opt.DType != demtfile.DTypeInt8 {
		return nil, fmt.Errorf("calibrate: dtype %q (want f16 or int8)", opt.DType)
	}
	budget := opt.Budget
	if budget == 0 {
		budget = DefaultBudget(opt.DType)
	}
	norm := demtfile.ImageNetNormalization()
	in, h, wd := opt.Input, opt.H, opt.W
	if in == nil {
		s, err := session.New(&session.Model{Config: cfg, Weights: w, Norm: norm}, session.Options{})
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		if in, h, wd, err = s.Image(SyntheticScene(64, 64), 64, 64, 64, 64); err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
	}
	run := func(ws *model.Weights) ([][]float32, error) {
		s, err := session.New(&session.Model{Config: cfg, Weights: ws, Norm: norm}, session.Options{Threads: opt.Threads})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		r, err := s.Run(in, h, wd)
		if err != nil {
			return nil, err
		}
		out := make([][]float32, len(r.Outputs))
		for i, o := range r.Outputs {
			out[i] = o.Data
		}
		return out, nil
	}
	ref, err := run(w)
	if err != nil {
		return nil, fmt.Errorf("calibrate: reference run: %w", err)
	}

	// Group the lowerable tensors by module.
	var mods []Module
	index := map[string]int{}
	lowered := map[string][]float32{}
	for _, t := range w.Tensors {
		if t.F32 == nil || demtfile.StoredDType(t, opt.DType, false) == demtfile.StoredDType(t, opt.DType, true) {
			continue
		}
		v, err := demtfile.StoredValues(t, demtfile.StoredDType(t, opt.DType, false))
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s: %w", t.Name, err)
		}
		if equal(v, t.F32) {
			continue // storing it lower changes nothing (e.g. f16 weights in an f16 file)
		}
		lowered[t.Name] = v
		mod := t.Name
		if i := strings.LastIndexByte(mod, '.'); i > 0 {
			mod = mod[:i]
		}
		i, ok := index[mod]
		if !ok {
			i = len(mods)
			index[mod] = i
			mods = append(mods, Module{Name: mod})
		}
		mods[i].Tensors = append(mods[i].Tensors, t.Name)
		mods[i].Params += len(t.F32)
	}
	withLowered := func(lower func(name string) bool) (*model.Weights, error) {
		ts := make([]*model.Tensor, len(w.Tensors))
		for i, t := range w.Tensors {
			ts[i] = t
			if v, ok := lowered[t.Name]; ok && lower(t.Name) {
				c := *t
				c.F32 = v
				ts[i] = &c
			}
		}
		return model.NewWeights(ts)
	}
	for i := range mods {
		set := map[string]bool{}
		for _, n := range mods[i].Tensors {
			set[n] = true
		}
		ws, err := withLowered(func(n string) bool { return set[n] })
		if err != nil {
			return nil, err
		}
		out, err := run(ws)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s: %w", mods[i].Name, err)
		}
		mods[i].RelL2 = worst(out, ref)
		if opt.Progress != nil {
			opt.Progress(i+1, len(mods))
		}
	}
	sort.SliceStable(mods, func(i, j int) bool { return mods[i].RelL2 > mods[j].RelL2 })

	rep := &Report{Precise: map[string]bool{}}
	var rest float64
	for _, m := range mods {
		rest += m.RelL2 * m.RelL2
		rep.Params += m.Params
	}
	for i := range mods {
		if math.Sqrt(rest) <= budget {
			break
		}
		mods[i].Precise = true
		rep.PreciseModules++
		rest -= mods[i].RelL2 * mods[i].RelL2
		rep.PreciseParams += mods[i].Params
		for _, n := range mods[i].Tensors {
			rep.Precise[n] = true
		}
	}
	rep.Modules = mods
	rep.Estimated = math.Sqrt(max(rest, 0))
	ws, err := withLowered(func(n string) bool { return !rep.Precise[n] })
	if err != nil {
		return nil, err
	}
	out, err := run(ws)
	if err != nil {
		return nil, fmt.Errorf("calibrate: final run: %w", err)
	}
	rep.Measured = worst(out, ref)
	return rep, nil
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// worst is the largest per-output relative L2 error.
func worst(got, ref [][]float32) float64 {
	var e float64
	for i := range ref {
		e = max(e, relL2(got[i], ref[i]))
	}
	return e
}

func relL2(got, ref []float32) float64 {
	var num, den float64
	for i := range ref {
		d := float64(got[i]) - float64(ref[i])
		num += d * d
		den += float64(ref[i]) * float64(ref[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// SyntheticScene renders a deterministic smooth RGB scene (sky, sun, hills, a house, a
// pond) of h×w pixels, the built-in calibration image.
func SyntheticScene(h, w int) []uint8 {
	rgb := make([]uint8, h*w*3)
	set := func(p int, r, g, b float64) {
		rgb[3*p], rgb[3*p+1], rgb[3*p+2] = uint8(r), uint8(g), uint8(b)
	}
	for y := 0; y < h; y++ {
		fy := float64(y) / float64(h)
		for x := 0; x < w; x++ {
			fx := float64(x) / float64(w)
			p := y*w + x
			// sky gradient
			set(p, 90+100*fy, 150+80*fy, 240-40*fy)
			// sun
			if d := math.Hypot(fx-0.8, fy-0.18); d < 0.09 {
				set(p, 255, 230-200*d, 90)
			}
			// hills
			if fy > 0.55+0.08*math.Sin(fx*7) {
				set(p, 60+40*fx, 140-50*fy, 50+20*math.Cos(fx*9))
			}
			// house with a roof
			if fx > 0.2 && fx < 0.42 && fy > 0.45 && fy < 0.7 {
				set(p, 200, 170, 130)
			}
			if fy > 0.33 && fy <= 0.45 && math.Abs(fx-0.31) < (fy-0.33)*1.0 {
				set(p, 160, 50, 40)
			}
			// pond
			if d := math.Hypot((fx-0.65)/1.8, fy-0.85); d < 0.08 {
				set(p, 40, 90, 170+200*d)
			}
		}
	}
	return rgb
}
