//go:build !js

package gpu

import (
	"fmt"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
	_ "github.com/gogpu/wgpu/hal/allbackends" // registers the Vulkan backend
)

func instanceDescriptor() *wgpu.InstanceDescriptor {
	return &wgpu.InstanceDescriptor{Backends: gputypes.BackendsVulkan}
}

// checkAdapter requires the Vulkan backend (never gogpu's silent Software backend, which
// computes wrong results) and, unless allowed, a hardware GPU.
func checkAdapter(info gputypes.AdapterInfo, opt DeviceOptions) error {
	if info.Backend != gputypes.BackendVulkan {
		return fmt.Errorf("gpu: adapter %q uses the %s backend, want Vulkan (is a Vulkan driver installed?)", info.Name, info.Backend)
	}
	if !opt.AllowCPUAdapter && isCPUAdapter(info) {
		return fmt.Errorf("gpu: adapter %q is a CPU adapter (use --device gpu to accept it)", info.Name)
	}
	return nil
}
