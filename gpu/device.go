// Package gpu runs a model.Plan on a GPU with WGSL compute kernels through gogpu/wgpu:
// Vulkan natively, WebGPU in the browser (the same code builds for GOOS=js). It owns the
// device, a buffer pool, a pipeline cache, and the executor that encodes a whole forward in
// one command encoder with one submit.
package gpu

import (
	"fmt"
	"strings"
	"sync"

	"github.com/demt-web/demt/shaders"
	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

// DeviceOptions choose the adapter.
type DeviceOptions struct {
	// AllowCPUAdapter accepts CPU-type adapters (lavapipe, SwiftShader): `--device gpu`.
	// Without it only a hardware GPU is accepted (`--device auto`). gogpu's Software backend
	// is never accepted.
	AllowCPUAdapter bool
}

// Device is an opened GPU device with its buffer pool and pipeline cache. Its methods are
// safe for use by one goroutine at a time (an Executor uses it from the caller's goroutine).
type Device struct {
	inst    *wgpu.Instance
	adapter *wgpu.Adapter
	dev     *wgpu.Device
	info    gputypes.AdapterInfo
	limits  gputypes.Limits

	mu        sync.Mutex
	pipelines map[string]*pipeline
	free      map[uint64][]*wgpu.Buffer // storage buffers by size, for reuse
	created   int                       // buffers created over the device's life
	dummy     *wgpu.Buffer              // bound where a kernel's optional input is absent
}

// pipeline is one compiled kernel variant with its layouts.
type pipeline struct {
	name   string
	nRead  int // read-only storage bindings 1..nRead; binding nRead+1 is the output
	bgl    *wgpu.BindGroupLayout
	layout *wgpu.PipelineLayout
	module *wgpu.ShaderModule
	pipe   *wgpu.ComputePipeline
}

// The limits the kernels rely on (within the WebGPU defaults, also in compatibility mode):
// 64 invocations per workgroup, 8 storage buffers per stage (linear.wgsl's DEFORM variant),
// 8 KiB of workgroup memory (the matmul tiles), one bind group.
const (
	needInvocations      = 64
	needStorageBuffers   = 8
	needWorkgroupStorage = 8192
	needBindGroups       = 1
)

// Open finds a suitable adapter, creates a device with the adapter's limits and runs a
// start-up self-check (a tiny linear and resize with known results).
func Open(opt DeviceOptions) (*Device, error) {
	inst, err := wgpu.CreateInstance(instanceDescriptor())
	if err != nil {
		return nil, fmt.Errorf("gpu: create instance: %w", err)
	}
	ad, err := inst.RequestAdapter(&wgpu.RequestAdapterOptions{PowerPreference: gputypes.PowerPreferenceHighPerformance})
	if err != nil {
		inst.Release()
		return nil, fmt.Errorf("gpu: no adapter: %w", err)
	}
	d := &Device{inst: inst, adapter: ad, info: ad.Info(), limits: ad.Limits(),
		pipelines: map[string]*pipeline{}, free: map[uint64][]*wgpu.Buffer{}}
	if err := checkAdapter(d.info, opt); err != nil {
		d.Close()
		return nil, err
	}
	l := d.limits
	if l.MaxComputeInvocationsPerWorkgroup < needInvocations || l.MaxStorageBuffersPerShaderStage < needStorageBuffers ||
		l.MaxComputeWorkgroupStorageSize < needWorkgroupStorage || l.MaxBindGroups < needBindGroups {
		d.Close()
		return nil, fmt.Errorf("gpu: adapter %s: limits too small (invocations %d, storage buffers %d, workgroup memory %d)",
			d.info.Name, l.MaxComputeInvocationsPerWorkgroup, l.MaxStorageBuffersPerShaderStage, l.MaxComputeWorkgroupStorageSize)
	}
	d.dev, err = ad.RequestDevice(&wgpu.DeviceDescriptor{Label: "demt", RequiredLimits: l})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("gpu: request device on %s: %w", d.info.Name, err)
	}
	d.limits = d.dev.Limits()
	if d.dummy, err = d.createBuffer("dummy", 16, gputypes.BufferUsageStorage|gputypes.BufferUsageCopyDst); err != nil {
		d.Close()
		return nil, err
	}
	if err := selfCheck(d); err != nil {
		d.Close()
		return nil, fmt.Errorf("gpu: self-check on %s failed: %w", d.Info(), err)
	}
	return d, nil
}

// Info describes the adapter: name, backend and device type.
func (d *Device) Info() string {
	return fmt.Sprintf("%s (%s, %s)", d.info.Name, d.info.Backend, deviceTypeName(d.info.DeviceType))
}

func deviceTypeName(t gputypes.DeviceType) string {
	switch t {
	case gputypes.DeviceTypeDiscreteGPU:
		return "discrete GPU"
	case gputypes.DeviceTypeIntegratedGPU:
		return "integrated GPU"
	case gputypes.DeviceTypeVirtualGPU:
		return "virtual GPU"
	case gputypes.DeviceTypeCPU:
		return "CPU"
	}
	return "other"
}

// isCPUAdapter reports whether the adapter computes on the CPU (lavapipe, SwiftShader).
func isCPUAdapter(info gputypes.AdapterInfo) bool {
	n := strings.ToLower(info.Name)
	return info.DeviceType == gputypes.DeviceTypeCPU || strings.Contains(n, "llvmpipe") ||
		strings.Contains(n, "lavapipe") || strings.Contains(n, "swiftshader")
}

// Close releases the pooled buffers, the pipelines and the device.
func (d *Device) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, bs := range d.free {
		for _, b := range bs {
			b.Release()
		}
	}
	d.free = nil
	for _, p := range d.pipelines {
		p.pipe.Release()
		p.layout.Release()
		p.bgl.Release()
		p.module.Release()
	}
	d.pipelines = nil
	if d.dummy != nil {
		d.dummy.Release()
		d.dummy = nil
	}
	if d.dev != nil {
		d.dev.Release()
		d.dev = nil
	}
	if d.adapter != nil {
		d.adapter.Release()
		d.adapter = nil
	}
	if d.inst != nil {
		d.inst.Release()
		d.inst = nil
	}
}

// BuffersCreated returns how many GPU buffers the device has created so far (pool misses,
// weights, uniforms, readback); a second Run of the same executor creates none.
func (d *Device) BuffersCreated() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.created
}

// createBuffer creates a buffer after checking it against the device limits; what names the
// tensor or constant in errors.
func (d *Device) createBuffer(what string, size uint64, usage gputypes.BufferUsage) (*wgpu.Buffer, error) {
	size = (size + 15) &^ 15
	if size > d.limits.MaxBufferSize {
		return nil, fmt.Errorf("gpu: %s needs a %d-byte buffer, the device allows %d", what, size, d.limits.MaxBufferSize)
	}
	if usage&gputypes.BufferUsageStorage != 0 && size > d.limits.MaxStorageBufferBindingSize {
		return nil, fmt.Errorf("gpu: %s needs a %d-byte storage binding, the device allows %d", what, size, d.limits.MaxStorageBufferBindingSize)
	}
	b, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Label: what, Size: size, Usage: usage})
	if err != nil {
		return nil, fmt.Errorf("gpu: create buffer for %s (%d bytes): %w", what, size, err)
	}
	d.mu.Lock()
	d.created++
	d.mu.Unlock()
	return b, nil
}

const storageUsage = gputypes.BufferUsageStorage | gputypes.BufferUsageCopyDst | gputypes.BufferUsageCopySrc

// getBuffer returns a pooled activation buffer of exactly size bytes (rounded up to 256).
func (d *Device) getBuffer(what string, size uint64) (*wgpu.Buffer, error) {
	size = poolSize(size)
	d.mu.Lock()
	if bs := d.free[size]; len(bs) > 0 {
		b := bs[len(bs)-1]
		d.free[size] = bs[:len(bs)-1]
		d.mu.Unlock()
		return b, nil
	}
	d.mu.Unlock()
	return d.createBuffer(what, size, storageUsage)
}

// putBuffer returns an activation buffer to the pool.
func (d *Device) putBuffer(b *wgpu.Buffer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.free == nil {
		b.Release()
		return
	}
	d.free[b.Size()] = append(d.free[b.Size()], b)
}

func poolSize(n uint64) uint64 { return max(256, (n+255)&^255) }

// kernel returns the pipeline of kernel name in the variant defines (cached). nRead is the
// number of read-only storage bindings; binding 0 is the Params uniform and binding nRead+1
// the read_write output.
func (d *Device) kernel(name string, nRead int, defines ...string) (*pipeline, error) {
	key := name + "|" + strings.Join(defines, ",")
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pipelines[key]; ok {
		return p, nil
	}
	src, err := shaders.Source(name, defines...)
	if err != nil {
		return nil, err
	}
	p, err := d.compile(key, src, nRead)
	if err != nil {
		return nil, err
	}
	d.pipelines[key] = p
	return p, nil
}

// compile creates the pipeline of WGSL src with the bindings convention of kernel.
func (d *Device) compile(key, src string, nRead int) (*pipeline, error) {
	name := key
	var err error
	p := &pipeline{name: key, nRead: nRead}
	if p.module, err = d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{Label: name, WGSL: src}); err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: %w", key, err)
	}
	entries := []gputypes.BindGroupLayoutEntry{{Binding: 0, Visibility: gputypes.ShaderStageCompute,
		Buffer: &gputypes.BufferBindingLayout{Type: gputypes.BufferBindingTypeUniform}}}
	for i := 1; i <= nRead+1; i++ {
		t := gputypes.BufferBindingTypeReadOnlyStorage
		if i == nRead+1 {
			t = gputypes.BufferBindingTypeStorage
		}
		entries = append(entries, gputypes.BindGroupLayoutEntry{Binding: uint32(i), Visibility: gputypes.ShaderStageCompute,
			Buffer: &gputypes.BufferBindingLayout{Type: t}})
	}
	if p.bgl, err = d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: name, Entries: entries}); err != nil {
		p.module.Release()
		return nil, fmt.Errorf("gpu: kernel %s: bind group layout: %w", key, err)
	}
	if p.layout, err = d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: name, BindGroupLayouts: []*wgpu.BindGroupLayout{p.bgl}}); err != nil {
		p.bgl.Release()
		p.module.Release()
		return nil, fmt.Errorf("gpu: kernel %s: pipeline layout: %w", key, err)
	}
	if p.pipe, err = d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{Label: name, Layout: p.layout, Module: p.module, EntryPoint: "main"}); err != nil {
		p.layout.Release()
		p.bgl.Release()
		p.module.Release()
		return nil, fmt.Errorf("gpu: kernel %s: pipeline: %w", key, err)
	}
	return p, nil
}
