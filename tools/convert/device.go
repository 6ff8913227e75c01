package main

import (
	"errors"
	"fmt"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/model"
)

// Device names of --device.
const (
	deviceAuto = "auto"
	deviceCPU  = "cpu"
	deviceGPU  = "gpu"
)

// resolveDevice checks a --device value and returns the device it means ("auto" picks
// one) and, for "auto", a note for stderr saying which.
func resolveDevice(name string) (device, note string, err error) {
	switch name {
	case deviceCPU, deviceGPU:
		return name, "", nil
	case deviceAuto:
		return deviceCPU, "device: cpu (reference)", nil
	}
	return "", "", usagef("unknown --device %q (want cpu, gpu or auto)", name)
}

// execOptions tune one forward pass.
type execOptions struct {
	threads  int                   // worker threads (0 = all cores)
	keepAll  bool                  // keep every tensor readable, not only the outputs
	progress func(done, total int) // called after each op
}

// execute runs plan p on input (normalised, channels-last [H, W, 3]) on device and
// returns a reader of the tensors it kept, by plan tensor id, channels-last.
func execute(device string, p *model.Plan, input []float32, opt execOptions) (func(id int) ([]float32, error), error) {
	switch device {
	case deviceCPU:
		ex, err := cpu.New(p, cpu.Options{Threads: opt.threads, KeepAll: opt.keepAll, Progress: opt.progress})
		if err != nil {
			return nil, err
		}
		defer ex.Close() // stops the workers; the buffers stay readable
		if err := ex.Run(input); err != nil {
			return nil, err
		}
		return func(id int) ([]float32, error) { return ex.Tensor(id), nil }, nil
	case deviceGPU:
		return nil, errors.New("gpu executor not available yet")
	}
	return nil, fmt.Errorf("unknown device %q", device)
}
