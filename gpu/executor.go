package gpu

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/demt-web/demt/model"
	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

// Options tune an Executor.
type Options struct {
	// Keep lists tensors (besides the outputs and the input) that must stay readable after Run.
	Keep []int
	// KeepAll keeps every tensor (for verifying intermediates; uses more memory).
	KeepAll bool
	// F16Weights stores the Linear and Conv2D weights as f16, two per u32 (math stays f32).
	F16Weights bool
}

// Executor runs one plan on a Device. Everything is prepared by New: activation buffers
// (tensors whose lifetimes do not overlap share one), weights uploaded and re-laid out, one
// Params uniform per dispatch, bind groups. Run encodes the whole forward into one command
// encoder and submits it once; running again creates no GPU objects.
type Executor struct {
	d    *Device
	plan *model.Plan
	keep []bool

	bufs       []*wgpu.Buffer // per tensor
	slabs      []*wgpu.Buffer // activation buffers (returned to the device pool on Close)
	consts     map[string]*wgpu.Buffer
	owned      []*wgpu.Buffer // weights, uniforms, staging: released on Close
	params     *wgpu.Buffer
	paramData  []byte
	dispatches []dispatch
	groups     []*wgpu.BindGroup
	staging    *wgpu.Buffer
	inBytes    []byte
	display    map[string]*displayJob
	pre        *preprocessJob
}

// dispatch is one kernel launch of the forward.
type dispatch struct {
	p       *pipeline
	slot    int            // Params slot in the uniform buffer
	buffers []*wgpu.Buffer // bindings 1..n (the last one is the output)
	x, y, z uint32
	group   *wgpu.BindGroup
}

const (
	paramSlot = 256 // bytes per Params slot (the uniform offset alignment)
	paramSize = 64  // bytes bound per slot; every kernel's Params struct fits
	wgSize    = 64  // invocations per workgroup of the elementwise kernels
	maxGroups = 65535
)

// New prepares plan p on device d.
func New(d *Device, p *model.Plan, opt Options) (*Executor, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	keep := make([]bool, len(p.Tensors))
	for _, id := range opt.Keep {
		if id < 0 || id >= len(p.Tensors) {
			return nil, fmt.Errorf("gpu: keep tensor %d out of range", id)
		}
		keep[id] = true
	}
	mem, err := model.PlanMemory(p, model.MemoryOptions{Keep: keep, KeepAll: opt.KeepAll})
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	e := &Executor{d: d, plan: p, keep: mem.Kept, consts: map[string]*wgpu.Buffer{}}
	if err := e.allocate(mem); err != nil {
		e.Close()
		return nil, err
	}
	for i := range p.Ops {
		if err := e.prepare(&p.Ops[i], opt); err != nil {
			e.Close()
			return nil, fmt.Errorf("gpu: op #%d %s %s: %w", i, p.Ops[i].Kind, p.Ops[i].Name, err)
		}
	}
	if err := e.prepareDisplay(); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.finish(); err != nil {
		e.Close()
		return nil, err
	}
	e.inBytes = make([]byte, 4*p.Tensors[p.Input].Shape.Numel())
	return e, nil
}

// allocate takes one buffer from the device pool per slot of the memory plan and points every
// tensor at its slot's buffer.
func (e *Executor) allocate(mem *model.MemoryPlan) error {
	p := e.plan
	first := make([]int, len(mem.SlotElems)) // the largest tensor of each slot, for labels and errors
	for i := range first {
		first[i] = -1
	}
	for id, s := range mem.Slot {
		if s != model.NoSlot && (first[s] < 0 || p.Tensors[id].Shape.Numel() > p.Tensors[first[s]].Shape.Numel()) {
			first[s] = id
		}
	}
	for s, n := range mem.SlotElems {
		t := p.Tensors[first[s]]
		b, err := e.d.getBuffer(fmt.Sprintf("tensor %s %s", t.Name, t.Shape), poolSize(uint64(n)*4))
		if err != nil {
			return err
		}
		e.slabs = append(e.slabs, b)
	}
	e.bufs = make([]*wgpu.Buffer, len(p.Tensors))
	for id, s := range mem.Slot {
		if s != model.NoSlot {
			e.bufs[id] = e.slabs[s]
		}
	}
	return nil
}

// add appends a dispatch of kernel k with params words and bindings (inputs…, output).
func (e *Executor) add(k *pipeline, params []uint32, x, y, z uint32, buffers ...*wgpu.Buffer) error {
	if len(buffers) != k.nRead+1 {
		return fmt.Errorf("kernel %s wants %d bindings, got %d", k.name, k.nRead+1, len(buffers))
	}
	if len(params)*4 > paramSize {
		return fmt.Errorf("kernel %s: %d bytes of params", k.name, len(params)*4)
	}
	if x > maxGroups || y > maxGroups || z > maxGroups {
		return fmt.Errorf("kernel %s: dispatch %d×%d×%d exceeds %d workgroups per dimension", k.name, x, y, z, maxGroups)
	}
	slot := len(e.paramData) / paramSlot
	e.paramData = append(e.paramData, make([]byte, paramSlot)...)
	for i, w := range params {
		binary.LittleEndian.PutUint32(e.paramData[slot*paramSlot+4*i:], w)
	}
	e.dispatches = append(e.dispatches, dispatch{p: k, slot: slot, buffers: buffers, x: x, y: y, z: z})
	return nil
}

// finish uploads the Params of every dispatch into one uniform buffer and creates the bind groups.
func (e *Executor) finish() error {
	if len(e.paramData) == 0 {
		e.paramData = make([]byte, paramSlot)
	}
	var err error
	e.params, err = e.d.createBuffer("params", uint64(len(e.paramData)), gputypes.BufferUsageUniform|gputypes.BufferUsageCopyDst)
	if err != nil {
		return err
	}
	e.owned = append(e.owned, e.params)
	if err := e.d.dev.Queue().WriteBuffer(e.params, 0, e.paramData); err != nil {
		return fmt.Errorf("gpu: upload params: %w", err)
	}
	for i := range e.dispatches {
		if err := e.bind(&e.dispatches[i]); err != nil {
			return err
		}
	}
	for _, j := range e.display {
		for i := range j.dispatches {
			if err := e.bind(&j.dispatches[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Executor) bind(ds *dispatch) error {
	entries := []wgpu.BindGroupEntry{{Binding: 0, Buffer: e.params, Offset: uint64(ds.slot * paramSlot), Size: paramSize}}
	for i, b := range ds.buffers {
		entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(i + 1), Buffer: b})
	}
	g, err := e.d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: ds.p.name, Layout: ds.p.bgl, Entries: entries})
	if err != nil {
		return fmt.Errorf("gpu: bind group for %s: %w", ds.p.name, err)
	}
	ds.group = g
	e.groups = append(e.groups, g)
	return nil
}

// Run computes the forward pass of input, a normalised [H, W, 3] channels-last image. It
// returns once the work is submitted; Read waits for it.
func (e *Executor) Run(input []float32) error {
	if len(input)*4 != len(e.inBytes) {
		return fmt.Errorf("gpu: input has %d values, the plan wants %d (%s)", len(input), len(e.inBytes)/4, e.plan.Tensors[e.plan.Input].Shape)
	}
	for i, v := range input {
		binary.LittleEndian.PutUint32(e.inBytes[4*i:], math.Float32bits(v))
	}
	if err := e.d.dev.Queue().WriteBuffer(e.bufs[e.plan.Input], 0, e.inBytes); err != nil {
		return fmt.Errorf("gpu: upload input: %w", err)
	}
	return e.submit(e.dispatches)
}

// submit encodes the dispatch lists in one compute pass and submits them.
func (e *Executor) submit(lists ...[]dispatch) error {
	enc, err := e.d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return fmt.Errorf("gpu: command encoder: %w", err)
	}
	pass, err := enc.BeginComputePass(nil)
	if err != nil {
		return fmt.Errorf("gpu: compute pass: %w", err)
	}
	for _, ds := range lists {
		for i := range ds {
			pass.SetPipeline(ds[i].p.pipe)
			pass.SetBindGroup(0, ds[i].group, nil)
			pass.Dispatch(ds[i].x, ds[i].y, ds[i].z)
		}
	}
	if err := pass.End(); err != nil {
		return fmt.Errorf("gpu: end compute pass: %w", err)
	}
	cb, err := enc.Finish()
	if err != nil {
		return fmt.Errorf("gpu: finish commands: %w", err)
	}
	if _, err := e.d.dev.Queue().Submit(cb); err != nil {
		return fmt.Errorf("gpu: submit: %w", err)
	}
	return nil
}

// Wait blocks until the submitted work has finished (Read waits by itself).
func (e *Executor) Wait() error {
	if err := e.d.dev.WaitIdle(); err != nil {
		return fmt.Errorf("gpu: wait: %w", err)
	}
	return nil
}

// readTimeout bounds a readback so that a lost device gives an error, not a hang.
const readTimeout = 10 * time.Minute

// Read returns the channels-last data of tensor id (an output, the input, or a kept tensor)
// after Run, waiting for the GPU.
func (e *Executor) Read(id int) ([]float32, error) {
	if id < 0 || id >= len(e.plan.Tensors) || !e.keep[id] {
		return nil, fmt.Errorf("gpu: tensor %d is not kept (Options.Keep)", id)
	}
	n := e.plan.Tensors[id].Shape.Numel()
	out := make([]float32, n)
	err := e.readBytes(e.bufs[id], uint64(4*n), func(b []byte) {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: read %s: %w", e.plan.Tensors[id].Name, err)
	}
	return out, nil
}

// readBytes copies size bytes of src to the staging buffer, maps them and hands them to use.
func (e *Executor) readBytes(src *wgpu.Buffer, size uint64, use func([]byte)) error {
	if e.staging == nil {
		b, err := e.d.createBuffer("readback", e.stagingSize(), gputypes.BufferUsageMapRead|gputypes.BufferUsageCopyDst)
		if err != nil {
			return err
		}
		e.staging = b
		e.owned = append(e.owned, b)
	}
	enc, err := e.d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return fmt.Errorf("command encoder: %w", err)
	}
	enc.CopyBufferToBuffer(src, 0, e.staging, 0, size)
	cb, err := enc.Finish()
	if err != nil {
		return fmt.Errorf("finish commands: %w", err)
	}
	if _, err := e.d.dev.Queue().Submit(cb); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	if err := e.staging.Map(ctx, wgpu.MapModeRead, 0, size); err != nil {
		return fmt.Errorf("map readback: %w", err)
	}
	defer e.staging.Unmap()
	r, err := e.staging.MappedRange(0, size)
	if err != nil {
		return fmt.Errorf("mapped range: %w", err)
	}
	use(r.Bytes())
	return nil
}

// stagingSize is the largest readback: a kept tensor or a display image.
func (e *Executor) stagingSize() uint64 {
	var n uint64
	for id, k := range e.keep {
		if k {
			n = max(n, uint64(e.plan.Tensors[id].Shape.Numel())*4)
		}
	}
	for _, j := range e.display {
		n = max(n, j.rgba.Size())
	}
	return poolSize(n)
}

// Close returns the activation buffers to the device pool and releases everything else.
func (e *Executor) Close() {
	if e.pre != nil {
		e.pre.release()
		e.pre = nil
	}
	for _, g := range e.groups {
		g.Release()
	}
	e.groups = nil
	for _, b := range e.owned {
		b.Release()
	}
	e.owned = nil
	for _, b := range e.consts {
		b.Release()
	}
	e.consts = nil
	for _, b := range e.slabs {
		e.d.putBuffer(b)
	}
	e.slabs = nil
}
