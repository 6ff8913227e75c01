package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/demt-web/demt/gpu"
	"github.com/demt-web/demt/session"
)

// Device names of --device.
const (
	deviceAuto = "auto"
	deviceCPU  = "cpu"
	deviceGPU  = "gpu"
)

// checkDevice validates a --device value before any work is done.
func checkDevice(name string) error {
	switch name {
	case deviceCPU, deviceGPU, deviceAuto:
		return nil
	}
	return usagef("unknown --device %q (want cpu, gpu or auto)", name)
}

// checkThreads validates a --threads value: 0 (all cores) up to session.MaxThreads().
func checkThreads(cmd string, n int) error {
	if n < 0 || n > session.MaxThreads() {
		return usagef("%s: --threads %d out of range (want 0..%d: 0 for all cores, at most 4 per core)", cmd, n, session.MaxThreads())
	}
	return nil
}

// openDevice opens what --device asks for — nil for the CPU — and returns a note for stderr
// saying which device runs. "gpu" accepts any Vulkan/WebGPU adapter, CPU-type ones (lavapipe)
// included, and fails without one; "auto" takes a hardware GPU when there is one and the CPU
// otherwise.
func openDevice(name string) (*gpu.Device, string, error) {
	if err := checkDevice(name); err != nil {
		return nil, "", err
	}
	if name == deviceCPU {
		return nil, "", nil
	}
	quietRuntimeDir()
	d, err := gpu.Open(gpu.DeviceOptions{AllowCPUAdapter: name == deviceGPU})
	switch {
	case err != nil && name == deviceGPU:
		return nil, "", fmt.Errorf("--device gpu: %w", err)
	case err != nil:
		return nil, fmt.Sprintf("device: cpu (reference; no hardware GPU: %v)", err), nil
	}
	return d, "device: gpu (" + d.Info() + ")", nil
}

// newSession opens the device and a session of m on it; close releases both.
func newSession(e *env, m *session.Model, device string, opt session.Options) (s *session.Session, close func(), err error) {
	d, note, err := openDevice(device)
	if err != nil {
		return nil, nil, err
	}
	if note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	opt.GPU = d
	s, err = session.New(m, opt)
	if err != nil {
		if d != nil {
			d.Close()
		}
		return nil, nil, err
	}
	return s, func() {
		s.Close()
		if d != nil {
			d.Close()
		}
	}, nil
}

// quietRuntimeDir points XDG_RUNTIME_DIR at a private folder when it is unset or not a
// folder, so that the Vulkan drivers (Mesa) do not print "XDG_RUNTIME_DIR is invalid or not
// set" on every run. A valid setting is left alone.
func quietRuntimeDir() {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return
		}
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("%s-runtime-%d", progName, os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		return // someone else's, or not private: leave the variable as it was
	}
	os.Setenv("XDG_RUNTIME_DIR", dir)
}
