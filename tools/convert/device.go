package main

import (
	"fmt"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/gpu"
	"github.com/demt-web/demt/model"
)

// Device names of --device.
const (
	deviceAuto = "auto"
	deviceCPU  = "cpu"
	deviceGPU  = "gpu"
)

// backend is the executor a command runs on: the CPU reference or an opened GPU device.
type backend struct {
	name string      // deviceCPU or deviceGPU
	gpu  *gpu.Device // nil for the CPU
}

// close releases the GPU device, if any.
func (b *backend) close() {
	if b.gpu != nil {
		b.gpu.Close()
	}
}

// checkDevice validates a --device value before any work is done.
func checkDevice(name string) error {
	switch name {
	case deviceCPU, deviceGPU, deviceAuto:
		return nil
	}
	return usagef("unknown --device %q (want cpu, gpu or auto)", name)
}

// openBackend opens what --device asks for and returns a note for stderr saying which device
// runs. "gpu" accepts any Vulkan/WebGPU adapter, CPU-type ones (lavapipe) included, and fails
// without one; "auto" takes a hardware GPU when there is one and the CPU otherwise.
func openBackend(name string) (*backend, string, error) {
	switch name {
	case deviceCPU:
		return &backend{name: deviceCPU}, "", nil
	case deviceGPU:
		d, err := gpu.Open(gpu.DeviceOptions{AllowCPUAdapter: true})
		if err != nil {
			return nil, "", fmt.Errorf("--device gpu: %w", err)
		}
		return &backend{name: deviceGPU, gpu: d}, "device: gpu (" + d.Info() + ")", nil
	case deviceAuto:
		d, err := gpu.Open(gpu.DeviceOptions{})
		if err != nil {
			return &backend{name: deviceCPU}, fmt.Sprintf("device: cpu (reference; no hardware GPU: %v)", err), nil
		}
		return &backend{name: deviceGPU, gpu: d}, "device: gpu (" + d.Info() + ")", nil
	}
	return nil, "", checkDevice(name)
}

// execOptions tune one forward pass.
type execOptions struct {
	threads  int                   // worker threads (0 = all cores)
	keepAll  bool                  // keep every tensor readable, not only the outputs
	progress func(done, total int) // called after each op (CPU)
}

// execute runs plan p on input (normalised, channels-last [H, W, 3]) and returns a reader
// of the tensors it kept, by plan tensor id, channels-last, and a function that releases the
// executor once reading is done.
func (b *backend) execute(p *model.Plan, input []float32, opt execOptions) (get func(id int) ([]float32, error), done func(), err error) {
	if b.gpu != nil {
		ex, err := gpu.New(b.gpu, p, gpu.Options{KeepAll: opt.keepAll})
		if err != nil {
			return nil, nil, err
		}
		if err := ex.Run(input); err != nil {
			ex.Close()
			return nil, nil, err
		}
		if opt.progress != nil {
			opt.progress(len(p.Ops), len(p.Ops))
		}
		return ex.Read, ex.Close, nil
	}
	ex, err := cpu.New(p, cpu.Options{Threads: opt.threads, KeepAll: opt.keepAll, Progress: opt.progress})
	if err != nil {
		return nil, nil, err
	}
	err = ex.Run(input)
	ex.Close() // stops the workers; the buffers stay readable
	if err != nil {
		return nil, nil, err
	}
	return func(id int) ([]float32, error) { return ex.Tensor(id), nil }, func() {}, nil
}
