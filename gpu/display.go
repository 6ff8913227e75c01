package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/demt-web/demt/colormap"
	"github.com/demt-web/demt/model"
	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

// palette returns colormap.Palette packed as RGBA8 (R in the low byte).
func palette() []uint32 {
	pal := make([]uint32, 256)
	for i, c := range colormap.Palette() {
		pal[i] = uint32(c[0]) | uint32(c[1])<<8 | uint32(c[2])<<16 | 255<<24
	}
	return pal
}

// displayJob is the prepared colorize dispatch (and min_max for depth) of one task output.
type displayJob struct {
	task       string
	tensor     int
	rgba       *wgpu.Buffer
	dispatches []dispatch
}

// prepareDisplay adds a display job per plan output (run on demand by ReadRGBA).
func (e *Executor) prepareDisplay() error {
	e.display = map[string]*displayJob{}
	if len(e.plan.Outputs) == 0 {
		return nil
	}
	var pal []byte
	for _, c := range palette() {
		pal = binary.LittleEndian.AppendUint32(pal, c)
	}
	palette, err := e.d.createBuffer("palette", uint64(len(pal)), gputypes.BufferUsageStorage|gputypes.BufferUsageCopyDst)
	if err != nil {
		return err
	}
	e.owned = append(e.owned, palette)
	if err := e.d.dev.Queue().WriteBuffer(palette, 0, pal); err != nil {
		return fmt.Errorf("gpu: upload palette: %w", err)
	}
	mm, err := e.d.createBuffer("min_max", 16, storageUsage)
	if err != nil {
		return err
	}
	e.owned = append(e.owned, mm)
	colorize, err := e.d.kernel("colorize", 3)
	if err != nil {
		return err
	}
	minMax, err := e.d.kernel("min_max", 1)
	if err != nil {
		return err
	}
	for _, o := range e.plan.Outputs {
		s := e.plan.Tensors[o.Tensor].Shape
		rgba, err := e.d.createBuffer("display "+o.Task, uint64(4*s.H*s.W), storageUsage)
		if err != nil {
			return err
		}
		e.owned = append(e.owned, rgba)
		j := &displayJob{task: o.Task, tensor: o.Tensor, rgba: rgba}
		how := colormap.RenderingOf(o.Task, s.C)
		x := e.bufs[o.Tensor]
		// The dispatches go to the job, not to the forward: record them by hand.
		mark := len(e.dispatches)
		if how.MinMax() {
			var clamp0 uint32
			if how.ClampZero() {
				clamp0 = 1
			}
			if err := e.add(minMax, []uint32{uint32(s.H * s.W), uint32(s.C), clamp0, 0}, 1, 1, 1, x, mm); err != nil {
				return err
			}
		}
		gx, gy := grid(ceilDiv(s.H*s.W, wgSize))
		if err := e.add(colorize, []uint32{uint32(s.H * s.W), uint32(s.C), uint32(how), 0}, gx, gy, 1, x, palette, mm, rgba); err != nil {
			return err
		}
		j.dispatches = append(j.dispatches, e.dispatches[mark:]...)
		e.dispatches = e.dispatches[:mark]
		e.display[o.Task] = j
	}
	return nil
}

// ReadRGBA renders the output of task for display on the GPU after Run (as
// imageio.Colorize does on the CPU) and returns it as RGBA8 [H, W, 4] at the output's size.
func (e *Executor) ReadRGBA(task string) ([]uint8, error) {
	j, ok := e.display[task]
	if !ok {
		return nil, fmt.Errorf("gpu: the plan has no output %q", task)
	}
	if err := e.submit(j.dispatches); err != nil {
		return nil, err
	}
	s := e.plan.Tensors[j.tensor].Shape
	out := make([]uint8, 4*s.H*s.W)
	if err := e.readBytes(j.rgba, uint64(len(out)), func(b []byte) { copy(out, b) }); err != nil {
		return nil, fmt.Errorf("gpu: read display of %s: %w", task, err)
	}
	return out, nil
}

// preprocessJob is the prepared preprocess dispatch for one source image size.
type preprocessJob struct {
	sw, sh    int
	mean, std [3]float32
	img       *wgpu.Buffer
	taps      *wgpu.Buffer
	params    *wgpu.Buffer
	group     *wgpu.BindGroup
	ds        []dispatch
	bytes     []byte
}

// RunRGBA runs the forward on an RGBA8 image of sw×sh pixels (row-major, 4 bytes per
// pixel, alpha ignored): preprocess.wgsl resizes it to the plan's input size and normalises
// it with mean/std on the GPU (as imageio.ResizeRGB + imageio.Normalize), in the same submit
// as the forward.
func (e *Executor) RunRGBA(rgba []uint8, sw, sh int, mean, std [3]float32) error {
	if sw <= 0 || sh <= 0 || len(rgba) != 4*sw*sh {
		return fmt.Errorf("gpu: image of %d bytes is not %d×%d RGBA", len(rgba), sw, sh)
	}
	j := e.pre
	if j == nil || j.sw != sw || j.sh != sh || j.mean != mean || j.std != std {
		if err := e.preparePreprocess(sw, sh, mean, std); err != nil {
			return err
		}
		j = e.pre
	}
	copy(j.bytes, rgba)
	if err := e.d.dev.Queue().WriteBuffer(j.img, 0, j.bytes); err != nil {
		return fmt.Errorf("gpu: upload image: %w", err)
	}
	return e.submit(j.ds, e.dispatches)
}

func (e *Executor) preparePreprocess(sw, sh int, mean, std [3]float32) error {
	if e.pre != nil {
		e.pre.release()
		e.pre = nil
	}
	in := e.plan.Tensors[e.plan.Input].Shape
	j := &preprocessJob{sw: sw, sh: sh, mean: mean, std: std, bytes: make([]byte, 4*sw*sh)}
	var err error
	if j.img, err = e.d.createBuffer("image", uint64(4*sw*sh), gputypes.BufferUsageStorage|gputypes.BufferUsageCopyDst); err != nil {
		return err
	}
	e.pre = j
	raw := tapsBytes(sh, sw, in.H, in.W)
	taps, err := e.d.createBuffer("image taps", uint64(len(raw)), gputypes.BufferUsageStorage|gputypes.BufferUsageCopyDst)
	if err != nil {
		return err
	}
	j.taps = taps
	if err := e.d.dev.Queue().WriteBuffer(taps, 0, raw); err != nil {
		return fmt.Errorf("gpu: upload image taps: %w", err)
	}
	k, err := e.d.kernel("preprocess", 2)
	if err != nil {
		return err
	}
	var pb []byte
	for _, v := range []uint32{uint32(sh), uint32(sw), uint32(in.H), uint32(in.W), uint32(in.Numel()), 0, 0, 0} {
		pb = binary.LittleEndian.AppendUint32(pb, v)
	}
	for _, v := range []float32{mean[0], mean[1], mean[2], 0, std[0], std[1], std[2], 1} {
		pb = binary.LittleEndian.AppendUint32(pb, math.Float32bits(v))
	}
	if j.params, err = e.d.createBuffer("preprocess params", uint64(len(pb)), gputypes.BufferUsageUniform|gputypes.BufferUsageCopyDst); err != nil {
		return err
	}
	if err := e.d.dev.Queue().WriteBuffer(j.params, 0, pb); err != nil {
		return fmt.Errorf("gpu: upload preprocess params: %w", err)
	}
	j.group, err = e.d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: "preprocess", Layout: k.bgl, Entries: []wgpu.BindGroupEntry{
		{Binding: 0, Buffer: j.params}, {Binding: 1, Buffer: j.img}, {Binding: 2, Buffer: taps}, {Binding: 3, Buffer: e.bufs[e.plan.Input]}}})
	if err != nil {
		return fmt.Errorf("gpu: bind group for preprocess: %w", err)
	}
	gx, gy := grid(ceilDiv(in.Numel(), wgSize))
	j.ds = []dispatch{{p: k, buffers: nil, x: gx, y: gy, z: 1, group: j.group}}
	return nil
}

func (j *preprocessJob) release() {
	if j.group != nil {
		j.group.Release()
	}
	if j.params != nil {
		j.params.Release()
	}
	if j.img != nil {
		j.img.Release()
	}
	if j.taps != nil {
		j.taps.Release()
	}
}

// InputShape returns the plan's input shape (the size RunRGBA resizes to).
func (e *Executor) InputShape() model.Shape { return e.plan.Tensors[e.plan.Input].Shape }
