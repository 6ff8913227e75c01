package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/npy"
)

// runCmd runs the command in-process and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs the command and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d, stderr:\n%s", args, code, stderr)
	}
	return stdout
}

// checkOneLineError checks the error contract: one line "demt-convert: ...", nothing
// that looks like a panic.
func checkOneLineError(t *testing.T, stderr string) {
	t.Helper()
	var errLines []string
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if strings.HasPrefix(l, progName+": ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("want exactly one %q error line, stderr:\n%s", progName+": ", stderr)
	}
	for _, bad := range []string{"panic", "goroutine", "internal error"} {
		if strings.Contains(stderr, bad) {
			t.Fatalf("stderr mentions %q:\n%s", bad, stderr)
		}
	}
}

func fixtureDir(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(fixture.Root(t), name)
}

// convertFixture converts a fixture's checkpoint into a temp folder and returns the .demt path.
func convertFixture(t *testing.T, name, dtype string) string {
	t.Helper()
	m, err := fixture.LoadModel(fixtureDir(t, name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name+"."+dtype+".demt")
	mustRun(t, "convert", m.CkptPath, "-o", out, "--dtype", dtype)
	return out
}

func TestConvertThenInferRawMatchesFixture(t *testing.T) {
	model := convertFixture(t, "swin-nyud-small", "f32")
	for _, device := range []string{"cpu", "gpu"} {
		t.Run(device, func(t *testing.T) { checkInferRaw(t, model, device) })
	}
}

// checkInferRaw runs infer --raw on the swin-nyud-small fixture input on device and compares
// every out_<task>.npy with the official one.
func checkInferRaw(t *testing.T, model, device string) {
	dir := fixtureDir(t, "swin-nyud-small")
	out := filepath.Join(t.TempDir(), "out") // created by infer
	stdout := mustRun(t, "infer", "--model", model, "--npy", filepath.Join(dir, "input.npy"), "-o", out, "--raw", "--device", device)

	want, err := filepath.Glob(filepath.Join(dir, "out_*.npy"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no out_*.npy in %s (%v)", dir, err)
	}
	got, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(got) != len(want) {
		t.Fatalf("infer wrote %v, the fixture has %v", got, want)
	}
	for _, refPath := range want {
		base := filepath.Base(refPath)
		if !strings.Contains(stdout, filepath.Join(out, base)) {
			t.Errorf("stdout does not list %s:\n%s", base, stdout)
		}
		ref, err := npy.ReadFile(refPath)
		if err != nil {
			t.Fatal(err)
		}
		a, err := npy.ReadFile(filepath.Join(out, base))
		if err != nil {
			t.Fatal(err)
		}
		if a.Descr != "<f4" || !reflect.DeepEqual(a.Shape, ref.Shape) {
			t.Fatalf("%s: %s %v, want <f4 %v", base, a.Descr, a.Shape, ref.Shape)
		}
		d := fixture.Compare(a.F32, ref.Float32())
		if !d.OK() {
			t.Errorf("%s: max|diff| %.3g (max|ref| %.3g), relL2 %.3g out of tolerance", base, d.MaxAbs, d.MaxRef, d.RelL2)
		}
	}
}

func TestInferImageWritesPNGs(t *testing.T) {
	dir := fixtureDir(t, "hrnet18s-pascal")
	m, err := fixture.LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "input.png")
	_, h, w, err := imageio.Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint is used directly; flags come after the positional image.
	out := filepath.Join(t.TempDir(), "a", "b")
	mustRun(t, "infer", img, "--model", m.CkptPath, "-o", out, "--threads", "2")
	for _, task := range []string{"semseg", "human_parts", "sal", "normals", "edge"} {
		_, gh, gw, err := imageio.Decode(filepath.Join(out, task+".png"))
		if err != nil {
			t.Fatalf("%s: %v", task, err)
		}
		if gh != h || gw != w {
			t.Errorf("%s.png is %dx%d, want %dx%d", task, gh, gw, h, w)
		}
	}
	for task, n := range map[string]int{"semseg": 21, "human_parts": 7} {
		b, err := os.ReadFile(filepath.Join(out, task+"_legend.txt"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != n || lines[0] != "0\tbackground\t#000000" {
			t.Errorf("%s legend: %d lines, first %q", task, len(lines), lines[0])
		}
	}
	for _, task := range []string{"sal", "normals", "edge"} {
		if _, err := os.Stat(filepath.Join(out, task+"_legend.txt")); err == nil {
			t.Errorf("%s has a legend", task)
		}
	}

	// --size runs the model at that size; PNGs come back at the image's size, raw
	// outputs at the size the model ran at.
	out2 := t.TempDir()
	mustRun(t, "infer", "--size", "40x36", "--model", m.CkptPath, img, "-o", out2, "--device", "auto")
	_, gh, gw, err := imageio.Decode(filepath.Join(out2, "edge.png"))
	if err != nil || gh != h || gw != w {
		t.Fatalf("with --size 40x36: edge.png %dx%d (%v), want the image's %dx%d", gh, gw, err, h, w)
	}
	mustRun(t, "infer", "--size", "40x36", "--model", m.CkptPath, img, "-o", out2, "--raw", "--device", "cpu")
	a, err := npy.ReadFile(filepath.Join(out2, "out_edge.npy"))
	if err != nil || !reflect.DeepEqual(a.Shape, []int{1, 1, 40, 36}) {
		t.Fatalf("with --size 40x36 --raw: out_edge.npy %v (%v), want (1,1,40,36)", a, err)
	}
}

func TestVerifyEveryFixture(t *testing.T) {
	models, err := fixture.Models(fixture.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(models) == 0 {
		t.Fatal("no model fixtures")
	}
	for _, m := range models {
		t.Run(m.Name, func(t *testing.T) {
			for _, device := range []string{"cpu", "gpu"} {
				stdout := mustRun(t, "verify", "--model", m.CkptPath, "--fixture", m.Dir, "--device", device)
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				// header, one line per array, summary
				if len(lines) != len(m.Manifest.Arrays)+2 {
					t.Fatalf("%s: %d lines for %d arrays:\n%s", device, len(lines), len(m.Manifest.Arrays), stdout)
				}
				if !strings.HasSuffix(lines[len(lines)-1], " on "+device+": "+strconv.Itoa(len(m.Manifest.Arrays))+" arrays, 0 failed") ||
					strings.Contains(stdout, "FAIL") {
					t.Fatalf("%s: not all OK:\n%s", device, stdout)
				}
			}
		})
	}
}

func TestVerifyConvertedModel(t *testing.T) {
	dir := fixtureDir(t, "swin-nyud-small")
	f32 := convertFixture(t, "swin-nyud-small", "f32")
	mustRun(t, "verify", "--fixture", dir, "--model", f32)

	// f16 weights move the intermediates out of the fixture tolerance: exit 1, FAIL lines.
	f16 := convertFixture(t, "swin-nyud-small", "f16")
	code, stdout, stderr := runCmd(t, "verify", "--fixture", dir, "--model", f16)
	if code != 1 || !strings.Contains(stdout, "FAIL") {
		t.Fatalf("f16 model: exit %d, stdout:\n%s", code, stdout)
	}
	checkOneLineError(t, stderr)
}

func TestInspect(t *testing.T) {
	dir := fixtureDir(t, "swin-nyud-small")
	ckpt := filepath.Join(dir, "model.pth")
	demt := convertFixture(t, "swin-nyud-small", "int8")

	text := mustRun(t, "inspect", ckpt)
	for _, want := range []string{"keys:        313", "backbone:    ", "swin", "depths [2 2 4 2]",
		"DefMixer order v2", "semseg (40, named), depth (1), normals (3), edge (1)"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect checkpoint: no %q in\n%s", want, text)
		}
	}
	keys := mustRun(t, "inspect", "--keys", ckpt)
	_, listing, _ := strings.Cut(keys, "tensors:\n")
	if n := strings.Count(listing, "\n"); n != 313 {
		t.Errorf("inspect --keys lists %d tensors, want 313", n)
	}

	var tr torchReport
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", ckpt, "--json", "--keys")), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Format != "torch" || tr.Keys != 313 || tr.Config == nil || len(tr.Tensors) != 313 || tr.DTypes["float32"] == 0 {
		t.Errorf("inspect --json checkpoint: %+v", tr)
	}

	text = mustRun(t, "inspect", demt)
	for _, want := range []string{"dtype:       int8", "converter:   " + converterVersion, "source:      model.pth", "tensors:     313"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect .demt: no %q in\n%s", want, text)
		}
	}
	var dr demtReport
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "--json", demt)), &dr); err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	md := dr.Metadata
	if dr.Format != "demt" || dr.Tensors != 313 || md == nil || md.Source.SHA256 != sum || md.DType != "int8" ||
		md.ConverterVersion != converterVersion || !reflect.DeepEqual(md.Config, *tr.Config) || md.Normalization.Std[2] != 0.225 {
		t.Errorf("inspect --json .demt: %+v", dr)
	}

	// A checkpoint that is not a DeMT model: its keys are shown, the architecture error is
	// the exit status 1 and one line.
	other := filepath.Join(fixture.Root(t), "reader", "f16", "f16.pt")
	code, stdout, stderr := runCmd(t, "inspect", other)
	if code != 1 || !strings.Contains(stdout, "keys:        1\n") || !strings.Contains(stderr, "architecture: ") {
		t.Errorf("inspect non-DeMT checkpoint: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	checkOneLineError(t, stderr)
	code, _, stderr = runCmd(t, "inspect", filepath.Join(fixture.Root(t), "reader", "legacy_nonzip", "legacy_nonzip.pt"))
	if code != 1 || !strings.Contains(stderr, "legacy") {
		t.Errorf("inspect legacy checkpoint: exit %d, stderr:\n%s", code, stderr)
	}
	checkOneLineError(t, stderr)

	plan := mustRun(t, "inspect", "--plan", "--size", "64x48", demt)
	lines := strings.Split(strings.TrimSpace(plan), "\n")
	if len(lines) < 10 || !strings.HasPrefix(lines[0], "#0 ") || !strings.HasPrefix(lines[len(lines)-2], "total MACs: ") || !strings.HasPrefix(lines[len(lines)-1], "activation memory: ") {
		t.Errorf("inspect --plan:\n%s", plan)
	}
	if !strings.Contains(plan, "out=[64,48,40]") {
		t.Errorf("inspect --plan at 64x48: no semseg output of [64,48,40]")
	}
}

func TestConvertNeverOverwritesInput(t *testing.T) {
	src := filepath.Join(fixtureDir(t, "swin-nyud-small"), "model.pth")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "model.pth")
	if err := os.WriteFile(in, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.demt")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, filepath.Join(dir, ".", "model.pth"), link} {
		code, _, stderr := runCmd(t, "convert", in, "-o", out)
		if code == 0 {
			t.Fatalf("convert -o %s: exit 0", out)
		}
		checkOneLineError(t, stderr)
		if b, _ := os.ReadFile(in); !bytes.Equal(b, orig) {
			t.Fatalf("convert -o %s changed the input", out)
		}
	}
}

func TestBadInputs(t *testing.T) {
	dir := fixtureDir(t, "swin-nyud-small")
	ckpt := filepath.Join(dir, "model.pth")
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orig, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	garbage := write("garbage.pth", bytes.Repeat([]byte("garbage!"), 1000))
	empty := write("empty.pth", nil)
	truncated := write("truncated.pth", orig[:len(orig)/2])
	headOnly := write("head.pth", orig[:2000])
	fakeDemt := write("fake.demt", append([]byte("DEMT"), bytes.Repeat([]byte{0xff}, 100)...))
	small := filepath.Join(tmp, "small.png")
	if err := imageio.WritePNG(small, make([]uint8, 20*20*4), 20, 20); err != nil {
		t.Fatal(err)
	}
	wrongNPY := filepath.Join(tmp, "wrong.npy")
	if err := npy.WriteFloat32File(wrongNPY, []int{1, 4, 40, 40}, make([]float32, 4*40*40)); err != nil {
		t.Fatal(err)
	}
	smallNPY := filepath.Join(tmp, "small.npy")
	if err := npy.WriteFloat32File(smallNPY, []int{1, 3, 15, 40}, make([]float32, 3*15*40)); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "input.png")
	out := filepath.Join(tmp, "out")
	missing := filepath.Join(tmp, "missing.pth")

	cases := []struct {
		name string
		args []string
		code int
		want string // in the error line
	}{
		{"no command", nil, 2, ""},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", []string{"convert", "--frob", ckpt}, 2, "-frob"},
		{"inspect missing", []string{"inspect", missing}, 1, "missing.pth"},
		{"inspect garbage", []string{"inspect", garbage}, 1, "neither a PyTorch checkpoint"},
		{"inspect empty", []string{"inspect", empty}, 1, "empty"},
		{"inspect truncated", []string{"inspect", truncated}, 1, "truncated.pth"},
		{"inspect fake demt", []string{"inspect", fakeDemt}, 1, "demtfile"},
		{"inspect two files", []string{"inspect", ckpt, ckpt}, 2, "exactly one"},
		{"inspect bad size", []string{"inspect", "--plan", "--size", "axb", ckpt}, 2, "--size"},
		{"inspect plan too small", []string{"inspect", "--plan", "--size", "15x64", ckpt}, 1, "smaller than 16x16"},
		{"convert missing", []string{"convert", missing, "-o", filepath.Join(tmp, "x.demt")}, 1, "missing.pth"},
		{"convert garbage", []string{"convert", garbage, "-o", filepath.Join(tmp, "x.demt")}, 1, "garbage.pth"},
		{"convert truncated", []string{"convert", truncated, "-o", filepath.Join(tmp, "x.demt")}, 1, "truncated.pth"},
		{"convert head only", []string{"convert", headOnly, "-o", filepath.Join(tmp, "x.demt")}, 1, "head.pth"},
		{"convert wrong dtype", []string{"convert", ckpt, "-o", filepath.Join(tmp, "x.demt"), "--dtype", "f64"}, 2, "--dtype"},
		{"convert no output", []string{"convert", ckpt}, 2, "-o"},
		{"convert into missing folder", []string{"convert", ckpt, "-o", filepath.Join(tmp, "no", "x.demt")}, 1, "x.demt"},
		{"infer missing image", []string{"infer", "--model", ckpt, "-o", out, filepath.Join(tmp, "none.png")}, 1, "none.png"},
		{"infer garbage image", []string{"infer", "--model", ckpt, "-o", out, garbage}, 1, "garbage.pth"},
		{"infer -o names a file", []string{"infer", "--model", ckpt, "-o", small, input}, 1, "small.png: exists and is not a folder"},
		{"infer huge threads", []string{"infer", "--model", ckpt, "-o", out, "--threads", "100000", input}, 2, "--threads 100000 out of range"},
		{"infer 1000 threads", []string{"infer", "--model", ckpt, "-o", out, "--threads", "1000", input}, 2, "--threads 1000 out of range"},
		{"verify huge threads", []string{"verify", "--fixture", dir, "--threads", "100000"}, 2, "--threads"},
		{"infer small size", []string{"infer", "--model", ckpt, "-o", out, "--size", "15x64", input}, 1, "smaller than the 16x16"},
		{"infer wrong npy", []string{"infer", "--model", ckpt, "-o", out, "--npy", wrongNPY}, 1, "(1,3,H,W)"},
		{"infer small npy", []string{"infer", "--model", ckpt, "-o", out, "--npy", smallNPY}, 1, "smaller than the 16x16"},
		{"infer npy not npy", []string{"infer", "--model", ckpt, "-o", out, "--npy", garbage}, 1, "npy"},
		{"infer garbage model", []string{"infer", "--model", garbage, "-o", out, input}, 1, "garbage.pth"},
		{"infer truncated model", []string{"infer", "--model", truncated, "-o", out, input}, 1, "truncated.pth"},
		{"infer no model", []string{"infer", "-o", out, input}, 2, "--model"},
		{"infer no output", []string{"infer", "--model", ckpt, input}, 2, "-o"},
		{"infer image and npy", []string{"infer", "--model", ckpt, "-o", out, "--npy", wrongNPY, input}, 2, "not both"},
		{"infer size with npy", []string{"infer", "--model", ckpt, "-o", out, "--npy", wrongNPY, "--size", "64x64"}, 2, "--size"},
		{"infer bad device", []string{"infer", "--model", ckpt, "-o", out, "--device", "tpu", input}, 2, "--device"},
		{"infer negative threads", []string{"infer", "--model", ckpt, "-o", out, "--threads", "-1", input}, 2, "--threads"},
		{"verify no fixture", []string{"verify", "--model", ckpt}, 2, "--fixture"},
		{"verify not a fixture", []string{"verify", "--model", ckpt, "--fixture", tmp}, 1, "manifest.json"},
		{"verify garbage model", []string{"verify", "--model", garbage, "--fixture", dir}, 1, "garbage.pth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			if c.args == nil {
				if !strings.Contains(stderr, "usage:") {
					t.Fatalf("no usage on stderr:\n%s", stderr)
				}
				return
			}
			checkOneLineError(t, stderr)
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("error does not mention %q:\n%s", c.want, stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "x.demt")); err == nil {
		t.Error("a failed convert left x.demt behind")
	}
	var names []string
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"empty.pth", "fake.demt", "garbage.pth", "head.pth", "small.npy", "small.png", "truncated.pth", "wrong.npy"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("failed commands left files behind: %v, want only the inputs %v", names, want)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		code, stdout, _ := runCmd(t, args...)
		if code != 0 || !strings.Contains(stdout, "commands:") {
			t.Errorf("%v: exit %d, stdout:\n%s", args, code, stdout)
		}
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, stdout, stderr := runCmd(t, args...)
			if code != 0 || !strings.HasPrefix(stdout, "usage: "+progName+" "+c.name) || !strings.Contains(stdout, "flags:") || stderr != "" {
				t.Errorf("%v: exit %d, stdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
		}
	}
}

func TestReorderArgs(t *testing.T) {
	fs := newFlagSet("x", "", "")
	fs.String("model", "", "")
	fs.String("o", "", "")
	fs.Bool("raw", false, "")
	cases := []struct{ in, want []string }{
		{[]string{"photo.jpg", "--model", "M", "-o", "out"}, []string{"--model", "M", "-o", "out", "--", "photo.jpg"}},
		{[]string{"--model", "M", "photo.jpg", "--raw", "-o", "out"}, []string{"--model", "M", "--raw", "-o", "out", "--", "photo.jpg"}},
		{[]string{"--model=M", "a", "--raw=false", "b"}, []string{"--model=M", "--raw=false", "--", "a", "b"}},
		{[]string{"a", "--", "-b", "--raw"}, []string{"--", "a", "-b", "--raw"}},
		{[]string{"--unknown", "a", "-o"}, []string{"--unknown", "-o", "--", "a"}},
		{[]string{"-", "a"}, []string{"--", "-", "a"}},
	}
	for _, c := range cases {
		if got := reorderArgs(fs, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		h, w int
		ok   bool
	}{
		{"512x512", 512, 512, true}, {"425X560", 425, 560, true}, {"64", 64, 64, true},
		{"", 0, 0, false}, {"0x5", 0, 0, false}, {"5x", 0, 0, false}, {"-3x4", 0, 0, false},
		{"100000x4", 0, 0, false}, {"4x4x4", 0, 0, false},
	}
	for _, c := range cases {
		h, w, err := parseSize(c.in)
		if (err == nil) != c.ok || h != c.h || w != c.w {
			t.Errorf("parseSize(%q) = %d, %d, %v", c.in, h, w, err)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &progressBar{w: &buf, label: "run", on: true, last: -1}
	p.set(0, 4)
	p.set(1, 4)
	p.set(1, 4) // same percentage: no redraw
	p.set(9, 4) // clamped
	p.finish()
	p.finish() // idempotent
	want := "\rrun [..............................]   0%" +
		"\rrun [#######.......................]  25%" +
		"\rrun [##############################] 100%\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	var quiet bytes.Buffer
	q := newProgress(&quiet, "x") // not a terminal: draws nothing
	q.set(1, 2)
	q.finish()
	if quiet.Len() != 0 {
		t.Errorf("bar drawn on a non-terminal: %q", quiet.String())
	}
}

func TestPanicBecomesOneLine(t *testing.T) {
	var stderr bytes.Buffer
	code := runWithRecover(&stderr, func() int { panic("boom\nsecond line") })
	if code != 1 || stderr.String() != progName+": internal error: boom; second line\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
