package gpu

import (
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model"
)

// TestSchedule checks the live frame's dispatch list on a fixture model: one preprocess
// dispatch, the forward, each task's display in output order; and that RunFrame renders
// what RunRGBA + ReadRGBA render.
func TestSchedule(t *testing.T) {
	d := testDevice(t)
	m, err := fixture.LoadModel(fixture.Root(t) + "/swin-nyud-small")
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := fixturemodel.Plan(m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.Optimize(plain)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Schedule(); err == nil {
		t.Fatal("Schedule before any frame gave no error")
	}
	const sw, sh = 64, 40
	img := make([]uint8, 4*sw*sh)
	for i := range img {
		img[i] = uint8(i * 29 % 251)
	}
	mean, std := [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
	if err := e.RunFrame(img, sw, sh, mean, std); err != nil {
		t.Fatal(err)
	}
	s, err := e.Schedule()
	if err != nil {
		t.Fatal(err)
	}
	if s.SourceW != sw || s.SourceH != sh || s.Image != "image" {
		t.Errorf("source %dx%d %q", s.SourceW, s.SourceH, s.Image)
	}
	if len(s.Steps) < 3 || s.Steps[0].Stage != "preprocess" || !strings.HasPrefix(s.Steps[0].Kernel, "preprocess") {
		t.Fatalf("first step %+v", s.Steps[0])
	}
	forward := 0
	var order []string
	for _, st := range s.Steps {
		if st.Stage == "forward" {
			forward++
		}
		if strings.HasPrefix(st.Stage, "display:") && (len(order) == 0 || order[len(order)-1] != st.Stage) {
			order = append(order, st.Stage)
		}
		if st.X == 0 || st.Y == 0 || st.Z == 0 {
			t.Errorf("empty dispatch %+v", st)
		}
	}
	if forward != len(e.dispatches) {
		t.Errorf("%d forward steps, the executor has %d dispatches", forward, len(e.dispatches))
	}
	if len(order) != len(p.Outputs) || len(s.Displays) != len(p.Outputs) {
		t.Fatalf("display stages %v, displays %d, outputs %d", order, len(s.Displays), len(p.Outputs))
	}
	for i, o := range p.Outputs {
		if order[i] != "display:"+o.Task || s.Displays[i].Task != o.Task || s.Displays[i].Label != "display "+o.Task {
			t.Errorf("display %d: %s %+v, want %s", i, order[i], s.Displays[i], o.Task)
		}
		sh := p.Tensors[o.Tensor].Shape
		if s.Displays[i].H != sh.H || s.Displays[i].W != sh.W {
			t.Errorf("%s: display %dx%d, output %s", o.Task, s.Displays[i].H, s.Displays[i].W, sh)
		}
	}
	if len(s.Kernels()) < 5 {
		t.Errorf("kernels %v", s.Kernels())
	}
	// RunFrame rendered in the same submit what RunRGBA + ReadRGBA render.
	frame := map[string][]uint8{}
	for _, o := range p.Outputs {
		j := e.display[o.Task]
		n := int(4 * p.Tensors[o.Tensor].Shape.H * p.Tensors[o.Tensor].Shape.W)
		b := make([]uint8, n)
		if err := e.readBytes(j.rgba, uint64(n), func(r []byte) { copy(b, r) }); err != nil {
			t.Fatal(err)
		}
		frame[o.Task] = b
	}
	if err := e.RunRGBA(img, sw, sh, mean, std); err != nil {
		t.Fatal(err)
	}
	for _, o := range p.Outputs {
		want, err := e.ReadRGBA(o.Task)
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != string(frame[o.Task]) {
			t.Errorf("%s: RunFrame's rendering differs from RunRGBA + ReadRGBA", o.Task)
		}
	}
}
