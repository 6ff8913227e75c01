package gpu

import (
	"context"
	"encoding/binary"
	"github.com/demt-web/demt/colormap"
	"math"
	"strings"
	"testing"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/shaders"
	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

// TestErfAccuracy runs the shaders' erf_f32 on the device over [-6, 6] and compares it with
// math.Erf.
func TestErfAccuracy(t *testing.T) {
	d := testDevice(t)
	lin, err := shaders.Source("linear")
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(lin, "fn erf_f32"), strings.Index(lin, "// act applies")
	if i < 0 || j < i {
		t.Fatal("erf_f32 not found in linear.wgsl")
	}
	src := `struct Params { n: u32, a: u32, b: u32, c: u32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
` + lin[i:j] + `
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 64u + li;
    if (i < p.n) {
        y[i] = erf_f32(x[i]);
    }
}
`
	k, err := d.compile("erf_test", src, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { k.pipe.Release(); k.layout.Release(); k.bgl.Release(); k.module.Release() }()
	const n = 240001
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i-n/2) * 5e-5
	}
	got := runRaw(t, d, k, xs)
	worst, at := 0.0, 0.0
	for i, v := range got {
		if e := math.Abs(float64(v) - math.Erf(float64(xs[i]))); e > worst || math.IsNaN(e) {
			worst, at = e, float64(xs[i])
		}
	}
	t.Logf("max |erf_f32 − math.Erf| = %.3g at x = %.6g", worst, at)
	if worst > 2e-7 {
		t.Errorf("erf error %.3g at x = %g exceeds 2e-7", worst, at)
	}
}

// runRaw runs a one-input, one-output elementwise kernel over xs with Params {n}.
func runRaw(t *testing.T, d *Device, k *pipeline, xs []float32) []float32 {
	t.Helper()
	n := len(xs)
	raw := make([]byte, 4*n)
	for i, v := range xs {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	mk := func(size int, usage gputypes.BufferUsage) *wgpu.Buffer {
		b, err := d.createBuffer("test", uint64(size), usage)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Release)
		return b
	}
	params, in, out := mk(16, gputypes.BufferUsageUniform|gputypes.BufferUsageCopyDst), mk(4*n, storageUsage), mk(4*n, storageUsage)
	rb := mk(4*n, gputypes.BufferUsageMapRead|gputypes.BufferUsageCopyDst)
	q := d.dev.Queue()
	if err := q.WriteBuffer(params, 0, binary.LittleEndian.AppendUint32(make([]byte, 0, 16), uint32(n))[:4:4]); err != nil {
		t.Fatal(err)
	}
	if err := q.WriteBuffer(in, 0, raw); err != nil {
		t.Fatal(err)
	}
	g, err := d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Layout: k.bgl, Entries: []wgpu.BindGroupEntry{
		{Binding: 0, Buffer: params}, {Binding: 1, Buffer: in}, {Binding: 2, Buffer: out}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		t.Fatal(err)
	}
	pass, err := enc.BeginComputePass(nil)
	if err != nil {
		t.Fatal(err)
	}
	pass.SetPipeline(k.pipe)
	pass.SetBindGroup(0, g, nil)
	gx, gy := grid(ceilDiv(n, 64))
	pass.Dispatch(gx, gy, 1)
	if err := pass.End(); err != nil {
		t.Fatal(err)
	}
	enc.CopyBufferToBuffer(out, 0, rb, 0, uint64(4*n))
	cb, err := enc.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Submit(cb); err != nil {
		t.Fatal(err)
	}
	if err := rb.Map(context.Background(), wgpu.MapModeRead, 0, uint64(4*n)); err != nil {
		t.Fatal(err)
	}
	defer rb.Unmap()
	r, err := rb.MappedRange(0, uint64(4*n))
	if err != nil {
		t.Fatal(err)
	}
	res := make([]float32, n)
	for i := range res {
		res[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.Bytes()[4*i:]))
	}
	return res
}

// TestRunAgainAllocatesNothing checks that a second Run (and Read) creates no GPU buffer and
// that a new executor of the same plan takes its activation buffers from the pool.
func TestRunAgainAllocatesNothing(t *testing.T) {
	d, p, in, id := smallCase(t)
	e, err := New(d, p, Options{Keep: []int{id}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(e *Executor) {
		if err := e.Run(in); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Read(id); err != nil {
			t.Fatal(err)
		}
	}
	run(e)
	before := d.BuffersCreated()
	run(e)
	if after := d.BuffersCreated(); after != before {
		t.Errorf("second Run created %d buffers", after-before)
	}
	slabs := len(e.slabs)
	e.Close()
	before = d.BuffersCreated()
	e2, err := New(d, p, Options{Keep: []int{id}})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	run(e2)
	created := d.BuffersCreated() - before
	if created > len(e2.consts)+len(e2.owned) {
		t.Errorf("second executor created %d buffers; %d activation buffers should come from the pool", created, slabs)
	}
}

// TestTooLargeTensor checks that a tensor over the binding limit is an error naming it.
func TestTooLargeTensor(t *testing.T) {
	d := testDevice(t)
	side := int(math.Sqrt(float64(d.limits.MaxStorageBufferBindingSize/4))) + 2
	p := &model.Plan{InH: side, InW: side, Tensors: []model.TensorInfo{{Name: "huge_input", Shape: optest.Sh(side, side, 1)}}}
	_, err := New(d, p, Options{})
	if err == nil || !strings.Contains(err.Error(), "huge_input") {
		t.Fatalf("want an error naming the tensor, got %v", err)
	}
}

// TestDisplay compares the GPU rendering of every kind of task output with imageio.Colorize
// (the CLI's PNGs), and the GPU preprocessing of an RGBA image with imageio.ResizeRGB +
// imageio.Normalize.
func TestDisplay(t *testing.T) {
	d := testDevice(t)
	want := colormap.Palette()
	for i, c := range palette() {
		if c != uint32(want[i][0])|uint32(want[i][1])<<8|uint32(want[i][2])<<16|255<<24 {
			t.Fatalf("palette colour %d differs from imageio.Palette", i)
		}
	}
	tasks := []struct {
		name string
		c    int
	}{{"semseg", 21}, {"human_parts", 7}, {"depth", 1}, {"normals", 3}, {"edge", 1}, {"sal", 2}, {"other", 1}}
	const h, w = 9, 11
	p := &model.Plan{InH: h, InW: w, Consts: map[string]*model.Const{}, Tensors: []model.TensorInfo{{Name: "input", Shape: optest.Sh(h, w, 3)}}}
	for i, task := range tasks {
		wn := task.name + ".w"
		data := make([]float32, 3*task.c)
		for j := range data {
			data[j] = float32((j*7+i*3)%11-5) * 0.3
		}
		p.Consts[wn] = &model.Const{Name: wn, Shape: []int{task.c, 3}, Data: data}
		p.Tensors = append(p.Tensors, model.TensorInfo{Name: "out_" + task.name, Shape: optest.Sh(h, w, task.c)})
		id := len(p.Tensors) - 1
		p.Ops = append(p.Ops, model.Op{Kind: model.OpLinear, Name: task.name, Inputs: []int{0}, Output: id, Weight: wn})
		p.Outputs = append(p.Outputs, model.Output{Task: task.name, Tensor: id})
	}
	e, err := New(d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mean, std := [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
	for _, size := range [][2]int{{w, h}, {13, 10}, {29, 17}} {
		sw, shh := size[0], size[1]
		img := make([]uint8, 4*sw*shh)
		rgb := make([]uint8, 0, 3*sw*shh)
		for i := range img {
			img[i] = uint8(i * 37 % 256)
			if i%4 != 3 {
				rgb = append(rgb, img[i])
			}
		}
		if err := e.RunRGBA(img, sw, shh, mean, std); err != nil {
			t.Fatal(err)
		}
		got, err := e.Read(0)
		if err != nil {
			t.Fatal(err)
		}
		ref := imageio.Normalize(imageio.ResizeRGB(rgb, shh, sw, h, w), h, w, mean, std)
		off := 0 // values one 8-bit level away (float32 vs float64 interpolation at a .5 boundary)
		for i := range ref {
			if d := math.Abs(float64(got[i] - ref[i])); d > 1e-6 {
				if d > 1.01/255/0.224 {
					t.Fatalf("preprocess %dx%d: value %d is %g, want %g", sw, shh, i, got[i], ref[i])
				}
				off++
			}
		}
		if off > len(ref)/100 || (sw == w && shh == h && off > 0) {
			t.Errorf("preprocess %dx%d: %d of %d values one level off", sw, shh, off, len(ref))
		}
	}
	for _, o := range p.Outputs {
		raw, err := e.Read(o.Tensor)
		if err != nil {
			t.Fatal(err)
		}
		want := imageio.Colorize(o.Task, p.Tensors[o.Tensor].Shape.C, raw, h, w)
		got, err := e.ReadRGBA(o.Task)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i := range want {
			if d := int(got[i]) - int(want[i]); d < -1 || d > 1 {
				bad++
			}
		}
		if bad > 0 || len(got) != len(want) {
			t.Errorf("%s: %d of %d bytes differ by more than 1", o.Task, bad, len(want))
		}
	}
	if _, err := e.ReadRGBA("nope"); err == nil {
		t.Error("ReadRGBA of a missing task gave no error")
	}
}

// TestRunGoAllocations reports the Go heap allocations of one Run (our code allocates
// nothing per op; gogpu's command recording does allocate).
func TestRunGoAllocations(t *testing.T) {
	d, p, in, id := smallCase(t)
	e, err := New(d, p, Options{Keep: []int{id}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	allocs := testing.AllocsPerRun(5, func() {
		if err := e.Run(in); err != nil {
			t.Fatal(err)
		}
		if err := e.Wait(); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d dispatches: %.0f Go allocations per Run", len(e.dispatches), allocs)
}

// smallCase returns the test device and the plan, input and output tensor of a small parity
// case (a conv2d with batch norm and ReLU), for tests of the executor's bookkeeping.
func smallCase(t *testing.T) (*Device, *model.Plan, []float32, int) {
	c := optest.Find(t, "conv2d/3x3-bn-relu")
	p, in, id := c.Plan(c.Seed())
	return testDevice(t), p, in, id
}
