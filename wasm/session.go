//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/gpu"
	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
)

// Backends a model runs on.
const (
	backendWebGPU = "webgpu"
	backendCPU    = "cpu"
)

// maxSide bounds each side of the model input (the size option of run).
const maxSide = 4096

// loaded is one model and its executor at the last input size. Only the worker goroutine
// touches it.
type loaded struct {
	file      *demtfile.File
	backend   string
	mean, std [3]float32
	h, w      int
	plan      *model.Plan
	cpu       *cpu.Executor
	gpu       *gpu.Executor
}

// sessions are the loaded models and the GPU device they share.
type sessions struct {
	next   int
	models map[int]*loaded
	dev    *gpu.Device
}

func newSessions() *sessions { return &sessions{models: map[int]*loaded{}} }

// load(reader, backend, onProgress) decodes a .demt stream.
func (s *sessions) load(a []js.Value) (any, error) {
	if len(a) != 3 {
		return nil, errors.New("load(reader, backend, onProgress): want three arguments")
	}
	backend := a[1].String()
	if backend != backendWebGPU && backend != backendCPU {
		return nil, fmt.Errorf("load: unknown backend %q (want %s or %s)", backend, backendWebGPU, backendCPU)
	}
	onProgress := a[2]
	progress := func(done, total int64) {
		if onProgress.Type() == js.TypeFunction {
			onProgress.Invoke(float64(done), float64(total))
		}
	}
	f, err := demtfile.Read(&streamReader{r: a[0]}, progress)
	if err != nil {
		var c *codedError
		if errors.As(err, &c) {
			return nil, err
		}
		code := "bad-model"
		if errors.Is(err, demtfile.ErrChecksum) {
			code = "checksum"
		}
		return nil, coded(code, err)
	}
	if backend == backendWebGPU {
		if _, err := s.device(); err != nil {
			return nil, err
		}
	}
	m := &loaded{file: f, backend: backend}
	for c := range 3 {
		m.mean[c], m.std[c] = float32(f.Meta.Normalization.Mean[c]), float32(f.Meta.Normalization.Std[c])
	}
	s.next++
	s.models[s.next] = m
	meta, err := json.Marshal(f.Meta)
	if err != nil {
		return nil, err
	}
	legends := map[string]any{}
	for _, t := range f.Meta.Config.Head.Tasks {
		legends[t.Name] = imageio.Legend(t.Name, t.ClassNames)
	}
	return js.ValueOf(map[string]any{"id": s.next, "meta": string(meta), "legends": legends}), nil
}

// device opens the GPU device on first use.
func (s *sessions) device() (*gpu.Device, error) {
	if s.dev != nil {
		return s.dev, nil
	}
	d, err := gpu.Open(gpu.DeviceOptions{AllowCPUAdapter: true})
	if err != nil {
		return nil, coded("no-webgpu", err)
	}
	s.dev = d
	return d, nil
}

func (s *sessions) model(v js.Value) (*loaded, error) {
	if v.Type() != js.TypeNumber {
		return nil, errors.New("model id is not a number")
	}
	m, ok := s.models[v.Int()]
	if !ok {
		return nil, coded("disposed", errors.New("the model was disposed"))
	}
	return m, nil
}

// prepareJS(id, h, w) builds the plan and the executor at h×w (compiling the kernels).
func (s *sessions) prepareJS(a []js.Value) (any, error) {
	if len(a) != 3 {
		return nil, errors.New("prepare(id, h, w): want three arguments")
	}
	m, err := s.model(a[0])
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := s.prepare(m, a[1].Int(), a[2].Int()); err != nil {
		return nil, err
	}
	return js.ValueOf(map[string]any{"prepareMs": ms(time.Since(t0)), "backend": m.backend}), nil
}

// prepare makes m's executor run at h×w.
func (s *sessions) prepare(m *loaded, h, w int) error {
	if m.plan != nil && m.h == h && m.w == w {
		return nil
	}
	if h < model.MinInputSize || w < model.MinInputSize {
		return coded("input-too-small", fmt.Errorf("input %dx%d is smaller than the %dx%d minimum", h, w, model.MinInputSize, model.MinInputSize))
	}
	if h > maxSide || w > maxSide {
		return coded("input-too-large", fmt.Errorf("input %dx%d exceeds %dx%d", h, w, maxSide, maxSide))
	}
	m.close()
	plain, err := model.Build(&m.file.Meta.Config, m.file.Weights, h, w)
	if err != nil {
		return fmt.Errorf("plan at %dx%d: %w", h, w, err)
	}
	plan, err := model.Optimize(plain)
	if err != nil {
		return fmt.Errorf("optimise the plan at %dx%d: %w", h, w, err)
	}
	switch m.backend {
	case backendCPU:
		m.cpu, err = cpu.New(plan, cpu.Options{Threads: 1})
	default:
		d, derr := s.device()
		if derr != nil {
			return derr
		}
		m.gpu, err = gpu.New(d, plan, gpu.Options{})
		if err != nil {
			err = coded("out-of-memory", err)
		}
	}
	if err != nil {
		return fmt.Errorf("prepare at %dx%d: %w", h, w, err)
	}
	m.plan, m.h, m.w = plan, h, w
	return nil
}

// close releases m's executor.
func (m *loaded) close() {
	if m.cpu != nil {
		m.cpu.Close()
		m.cpu = nil
	}
	if m.gpu != nil {
		m.gpu.Close()
		m.gpu = nil
	}
	m.plan, m.h, m.w = nil, 0, 0
}

// run(id, rgba, width, height, h, w, tasks) runs the model on an RGBA image resized to h×w.
func (s *sessions) run(a []js.Value) (any, error) {
	if len(a) != 7 {
		return nil, errors.New("run(id, rgba, width, height, h, w, tasks): want seven arguments")
	}
	m, err := s.model(a[0])
	if err != nil {
		return nil, err
	}
	sw, sh, h, w := a[2].Int(), a[3].Int(), a[4].Int(), a[5].Int()
	t0 := time.Now()
	if err := s.prepare(m, h, w); err != nil {
		return nil, err
	}
	t1 := time.Now()
	rgba := bytesFromJS(a[1])
	if sw <= 0 || sh <= 0 || len(rgba) != 4*sw*sh {
		return nil, coded("bad-input", fmt.Errorf("%d bytes are not a %dx%d RGBA image", len(rgba), sw, sh))
	}
	rgb := make([]uint8, 3*sw*sh)
	for p := range sw * sh {
		rgb[3*p], rgb[3*p+1], rgb[3*p+2] = rgba[4*p], rgba[4*p+1], rgba[4*p+2]
	}
	if sh != h || sw != w {
		rgb = imageio.ResizeRGB(rgb, sh, sw, h, w)
	}
	input := imageio.Normalize(rgb, h, w, m.mean, m.std)
	t2 := time.Now()
	var get func(id int) ([]float32, error)
	if m.cpu != nil {
		if err := m.cpu.Run(input); err != nil {
			return nil, err
		}
		get = func(id int) ([]float32, error) { return m.cpu.Tensor(id), nil }
	} else {
		if err := m.gpu.Run(input); err != nil {
			return nil, err
		}
		get = m.gpu.Read
	}
	want := map[string]bool{}
	if a[6].Type() == js.TypeObject {
		for i := range a[6].Length() {
			want[a[6].Index(i).String()] = true
		}
	}
	outputs := js.Global().Get("Object").New()
	var forward, display time.Duration
	t3 := time.Now()
	for _, o := range m.plan.Outputs {
		if len(want) > 0 && !want[o.Task] {
			continue
		}
		hwc, err := get(o.Tensor)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.Task, err)
		}
		if forward == 0 {
			forward = time.Since(t2) // the GPU's first readback waits for the forward
		}
		sh := m.plan.Tensors[o.Tensor].Shape
		td := time.Now()
		col := imageio.Colorize(o.Task, sh.C, hwc, sh.H, sh.W)
		display += time.Since(td)
		outputs.Set(o.Task, js.ValueOf(map[string]any{
			"channels": sh.C, "height": sh.H, "width": sh.W,
			"data": float32sToJS(model.CHWFromHWC(hwc, sh.H, sh.W, sh.C)),
			"rgba": bytesToJS(col),
		}))
	}
	timings := map[string]any{
		"prepareMs": ms(t1.Sub(t0)), "uploadMs": ms(t2.Sub(t1)), "forwardMs": ms(forward),
		"readMs": ms(time.Since(t3) - display), "displayMs": ms(display), "totalMs": ms(time.Since(t0)),
	}
	return js.ValueOf(map[string]any{"outputs": outputs, "timings": timings, "height": h, "width": w}), nil
}

// unload(id) releases a model.
func (s *sessions) unload(a []js.Value) (any, error) {
	if len(a) != 1 {
		return nil, errors.New("unload(id): want one argument")
	}
	if m, err := s.model(a[0]); err == nil {
		m.close()
		delete(s.models, a[0].Int())
	}
	return nil, nil
}

// resetDevice drops every GPU executor and the device (after a device loss); the next
// prepare opens a new one.
func (s *sessions) resetDevice([]js.Value) (any, error) {
	for _, m := range s.models {
		if m.gpu != nil {
			m.close()
		}
	}
	if s.dev != nil {
		s.dev.Close()
		s.dev = nil
	}
	return nil, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
