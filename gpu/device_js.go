//go:build js

package gpu

import (
	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

func instanceDescriptor() *wgpu.InstanceDescriptor { return nil }

// checkAdapter accepts the browser's WebGPU adapter: gogpu's js build has no other backend,
// and it reports neither the backend nor whether the adapter is a fallback (SwiftShader), so
// AllowCPUAdapter cannot be enforced here; the JavaScript side can check adapter.info /
// isFallbackAdapter (platform notes §3.4). The start-up self-check still runs.
func checkAdapter(info gputypes.AdapterInfo, opt DeviceOptions) error {
	return nil
}
