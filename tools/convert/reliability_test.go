package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/npy"
)

// The cases of the README's "Reliability" section, one test each (issue 10).

var swinDemt struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if swinDemt.dir != "" {
		os.RemoveAll(swinDemt.dir)
	}
	os.Exit(code)
}

// smallDemt returns swin-nyud-small converted to a .demt (once per test binary).
func smallDemt(t *testing.T) string {
	t.Helper()
	swinDemt.once.Do(func() {
		dir, err := os.MkdirTemp("", "demt-reliability-")
		if err != nil {
			return
		}
		swinDemt.dir = dir
		out := filepath.Join(dir, "swin-nyud-small.demt")
		mustRun(t, "convert", filepath.Join(fixtureDir(t, "swin-nyud-small"), "model.pth"), "-o", out)
		swinDemt.path = out
	})
	if swinDemt.path == "" {
		t.Fatal("conversion failed earlier")
	}
	return swinDemt.path
}

func writePNG(t *testing.T, path string, h, w int) {
	t.Helper()
	rgba := make([]uint8, h*w*4)
	for i := range rgba {
		rgba[i] = uint8(i*7 + i/4)
	}
	if err := imageio.WritePNG(path, rgba, h, w); err != nil {
		t.Fatal(err)
	}
}

// Case 1: a photo larger than the default size runs with its long side fitted to 512; the
// PNGs come back at the photo's size, the raw outputs at the size the model ran at.
func TestReliabilityLargePhotoIsFitted(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "wide.png")
	writePNG(t, photo, 100, 1000)
	m := smallDemt(t)
	out := filepath.Join(dir, "out")
	code, _, stderr := runCmd(t, "infer", "--model", m, photo, "-o", out, "--device", "cpu")
	if code != 0 || !strings.Contains(stderr, "running at 51x512 (the image is 100x1000") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, task := range []string{"semseg", "depth", "normals", "edge"} {
		_, h, w, err := imageio.Decode(filepath.Join(out, task+".png"))
		if err != nil || h != 100 || w != 1000 {
			t.Errorf("%s.png: %dx%d (%v), want the photo's 100x1000", task, h, w, err)
		}
	}
	mustRun(t, "infer", "--model", m, photo, "-o", out, "--raw", "--device", "cpu")
	a, err := npy.ReadFile(filepath.Join(out, "out_semseg.npy"))
	if err != nil || !reflect.DeepEqual(a.Shape, []int{1, 40, 51, 512}) {
		t.Fatalf("out_semseg.npy: %v (%v), want (1,40,51,512)", a, err)
	}
	// Case 11: .npy outputs are 0644 like the PNGs.
	st, err := os.Stat(filepath.Join(out, "out_semseg.npy"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("out_semseg.npy mode %v (%v), want 0644", st.Mode().Perm(), err)
	}
}

// Case 4: images smaller than 32 px run (down to 16; smaller sides are brought up to 16).
func TestReliabilityTinyImageRuns(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "tiny.png")
	writePNG(t, img, 10, 12)
	out := filepath.Join(dir, "out")
	mustRun(t, "infer", "--model", smallDemt(t), img, "-o", out, "--device", "cpu")
	if _, h, w, err := imageio.Decode(filepath.Join(out, "depth.png")); err != nil || h != 10 || w != 12 {
		t.Errorf("depth.png %dx%d (%v), want 10x12", h, w, err)
	}
	mustRun(t, "infer", "--model", smallDemt(t), img, "-o", out, "--size", "17x23", "--raw", "--device", "cpu")
	if a, err := npy.ReadFile(filepath.Join(out, "out_depth.npy")); err != nil || !reflect.DeepEqual(a.Shape, []int{1, 1, 17, 23}) {
		t.Errorf("out_depth.npy: %v (%v)", a, err)
	}
}

// Case 5: infer never overwrites its input.
func TestReliabilityInferNeverOverwritesInput(t *testing.T) {
	fx := fixtureDir(t, "swin-nyud-small")
	out := t.TempDir()
	img := filepath.Join(out, "semseg.png")
	arr := filepath.Join(out, "out_semseg.npy")
	for src, dst := range map[string]string{filepath.Join(fx, "input.png"): img, filepath.Join(fx, "input.npy"): arr} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := smallDemt(t)
	for _, args := range [][]string{
		{"infer", "--model", m, img, "-o", out},
		{"infer", "--model", m, img, "-o", out + "/."},
		{"infer", "--model", m, "--npy", arr, "--raw", "-o", out},
	} {
		before, _ := os.ReadFile(args[3])
		if args[3] == "--npy" {
			before, _ = os.ReadFile(arr)
		}
		code, _, stderr := runCmd(t, args...)
		if code != 1 || !strings.Contains(stderr, "refusing to overwrite the input") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, stderr)
		}
		checkOneLineError(t, stderr)
		for _, p := range []string{img, arr} {
			if after, _ := os.ReadFile(p); p == args[3] && !bytes.Equal(before, after) {
				t.Errorf("%v changed the input %s", args, p)
			}
		}
	}
}

// Case 6: output paths are checked before the model is even read (so before any inference),
// and the message names the target, not a temporary file.
func TestReliabilityOutputCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.demt")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(fixtureDir(t, "swin-nyud-small"), "input.png")
	for _, c := range []struct{ out, want string }{
		{file, "-o " + file + ": exists and is not a folder"},
		{filepath.Join(file, "sub"), file + " is not a folder"},
	} {
		code, _, stderr := runCmd(t, "infer", "--model", garbage, img, "-o", c.out)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, ".tmp-") {
			t.Errorf("-o %s: exit %d, stderr:\n%s", c.out, code, stderr)
		}
	}
}

// Case 6: an interrupt removes the hidden temporary files of the outputs being written.
func TestReliabilityInterruptRemovesTemps(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "model[1].demt")
	tmp := filepath.Join(dir, ".model[1].demt.tmp-12345")
	other := filepath.Join(dir, ".other.demt.tmp-1")
	for _, p := range []string{tmp, other} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	e := &env{stdout: &bytes.Buffer{}, stderr: &stderr, outputs: &outputSet{}}
	e.outputs.add(target)
	if code := interrupted(e, os.Interrupt); code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Error("the output's temporary file is still there")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("a temporary file of another output was removed")
	}
	if !strings.Contains(stderr.String(), "interrupted (interrupt); removed 1 unfinished output file") {
		t.Errorf("stderr %q", stderr.String())
	}
}

// Case 7: non-finite input values and a normalisation with std 0 are errors, not NaN outputs.
func TestReliabilityNonFinite(t *testing.T) {
	dir := t.TempDir()
	in := make([]float32, 3*20*24)
	in[3*24*5+7] = float32(math.NaN())
	nan := filepath.Join(dir, "nan.npy")
	if err := npy.WriteFloat32File(nan, []int{1, 3, 20, 24}, in); err != nil {
		t.Fatal(err)
	}
	in[3*24*5+7] = float32(math.Inf(-1))
	inf := filepath.Join(dir, "inf.npy")
	if err := npy.WriteFloat32File(inf, []int{1, 3, 20, 24}, in); err != nil {
		t.Fatal(err)
	}
	m := smallDemt(t)
	for _, p := range []string{nan, inf} {
		code, _, stderr := runCmd(t, "infer", "--model", m, "--npy", p, "--raw", "-o", filepath.Join(dir, "out"))
		if code != 1 || !strings.Contains(stderr, "inputs must be finite") {
			t.Errorf("%s: exit %d, stderr:\n%s", p, code, stderr)
		}
		checkOneLineError(t, stderr)
	}
	bad := rewriteMeta(t, m, func(md *demtfile.Metadata) { md.Normalization.Std[1] = 0 })
	code, _, stderr := runCmd(t, "infer", "--model", bad, filepath.Join(fixtureDir(t, "swin-nyud-small"), "input.png"), "-o", filepath.Join(dir, "out"))
	if code != 1 || !strings.Contains(stderr, "normalization.std[1] = 0") {
		t.Errorf("std 0: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a failed infer created its output folder")
	}
}

// rewriteMeta writes a copy of the .demt file src with edited metadata (the writer does not
// validate, so this makes checksum-valid files that lie).
func rewriteMeta(t *testing.T, src string, edit func(*demtfile.Metadata)) string {
	t.Helper()
	f, err := demtfile.ReadFile(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	edit(&f.Meta)
	out := filepath.Join(t.TempDir(), "edited.demt")
	if err := demtfile.WriteFile(out, &f.Meta, f.Weights, demtfile.WriteOptions{DType: f.Meta.DType}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Case 8: metadata that lies is refused by every command with a message naming the field.
func TestReliabilityLyingMetadata(t *testing.T) {
	m := smallDemt(t)
	img := filepath.Join(fixtureDir(t, "swin-nyud-small"), "input.png")
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		want string
		edit func(*demtfile.Metadata)
	}{
		{"config.head.attn_heads: 0", func(md *demtfile.Metadata) { md.Config.Head.AttnHeads = 0 }},
		{"config.head.mixer_order: unknown order \"v9\"", func(md *demtfile.Metadata) { md.Config.Head.MixerOrder = "v9" }},
		{"class_names[3]: name \"bed\\twith\\ntabs\" has a control character", func(md *demtfile.Metadata) {
			md.Config.Head.Tasks[0].ClassNames[3] = "bed\twith\ntabs"
		}},
		{"tasks[1].name: unknown task \"../../evil\"", func(md *demtfile.Metadata) { md.Config.Head.Tasks[1].Name = "../../evil" }},
	} {
		bad := rewriteMeta(t, m, c.edit)
		for _, args := range [][]string{
			{"infer", "--model", bad, img, "-o", out},
			{"inspect", bad},
			{"inspect", "--fast", bad},
			{"inspect", "--plan", "--size", "32x32", bad},
		} {
			code, _, stderr := runCmd(t, args...)
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("%v: exit %d, want 1 and %q in stderr:\n%s", args[:len(args)-1], code, c.want, stderr)
			}
			checkOneLineError(t, stderr) // no "internal error"
		}
	}
}

// Case 9: inspect checks that a .demt file is complete.
func TestReliabilityInspectTruncated(t *testing.T) {
	b, err := os.ReadFile(smallDemt(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.demt")
	if err := os.WriteFile(cut, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long.demt")
	if err := os.WriteFile(long, append(bytes.Clone(b), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", cut}, "truncated"},
		{[]string{"inspect", "--fast", cut}, "truncated"},
		{[]string{"inspect", "--json", cut}, "truncated"},
		{[]string{"inspect", long}, "unexpected data after the last chunk"},
		{[]string{"inspect", "--fast", long}, "unexpected data after the last chunk"},
	} {
		code, _, stderr := runCmd(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s", c.args, code, stderr)
		}
		checkOneLineError(t, stderr)
	}
	mustRun(t, "inspect", "--fast", smallDemt(t))
}

// Case 10: with XDG_RUNTIME_DIR unset (or not a folder), the GPU drivers get a private one,
// so they print nothing about it.
func TestReliabilityQuietRuntimeDir(t *testing.T) {
	for _, v := range []string{"", filepath.Join(t.TempDir(), "missing")} {
		t.Setenv("XDG_RUNTIME_DIR", v)
		quietRuntimeDir()
		d := os.Getenv("XDG_RUNTIME_DIR")
		st, err := os.Stat(d)
		if d == v || err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("XDG_RUNTIME_DIR %q → %q (%v)", v, d, err)
		}
	}
	keep := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", keep)
	quietRuntimeDir()
	if os.Getenv("XDG_RUNTIME_DIR") != keep {
		t.Error("a valid XDG_RUNTIME_DIR was replaced")
	}
}

// Case 11: --help shows flags as the docs write them (--name, -o), with placeholders that say
// what goes there; --version prints the version.
func TestReliabilityHelpAndVersion(t *testing.T) {
	for _, c := range commands() {
		stdout := mustRun(t, c.name, "--help")
		_, flags, _ := strings.Cut(stdout, "flags:\n")
		for _, l := range strings.Split(strings.TrimRight(flags, "\n"), "\n") {
			if !strings.HasPrefix(l, "  -") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimLeft(l, " "), "-"), " ")
			if len(name) > 1 && !strings.HasPrefix(name, "-") {
				t.Errorf("%s --help: %q has a single dash", c.name, l)
			}
			// A placeholder that only repeats the flag's name says nothing ("--threads threads").
			if f := strings.Fields(l); len(f) >= 2 && strings.TrimLeft(f[0], "-") == f[1] || strings.Contains(l, "--threads count") {
				t.Errorf("%s --help: placeholder in %q", c.name, l)
			}
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if out := mustRun(t, args...); out != progName+" "+converterVersion+"\n" {
			t.Errorf("%v: %q", args, out)
		}
	}
	if out := mustRun(t, "inspect", "--help"); !strings.Contains(out, "[--plain]") {
		t.Errorf("inspect synopsis has no --plain:\n%s", out)
	}
}

// Case 11: a long step prints a plain progress line every lineEvery when stderr is not a terminal.
func TestReliabilityProgressLinesWithoutTerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&buf, "calibrating")
	p.now, p.started = func() time.Time { return clock }, clock
	p.set(1, 4) // at once: nothing
	clock = clock.Add(lineEvery)
	p.set(1, 4)
	p.set(2, 4) // within lineEvery of the last line: nothing
	clock = clock.Add(lineEvery)
	p.set(3, 4)
	p.finish()
	if buf.String() != "calibrating: 25%\ncalibrating: 75%\n" {
		t.Errorf("got %q", buf.String())
	}
}

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"512M", 512 << 20, true}, {"1.5G", 3 << 29, true},
		{"8GiB", 8 << 30, true}, {"2gb", 2 << 30, true}, {"64k", 64 << 10, true},
		{"", 0, false}, {"-1G", 0, false}, {"lots", 0, false}, {"1e30", 0, false},
	} {
		got, err := parseBytes("--max-memory", c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseBytes(%q) = %d, %v", c.in, got, err)
		}
	}
}

// Case 1: a run that would not fit is refused before anything large is allocated, with one line
// saying how much it needs and what to do.
func TestReliabilityMemoryChecked(t *testing.T) {
	img := filepath.Join(fixtureDir(t, "swin-nyud-small"), "input.png")
	out := filepath.Join(t.TempDir(), "out")
	m := smallDemt(t)
	code, _, stderr := runCmd(t, "infer", "--model", m, img, "-o", out, "--size", "3000x4000", "--max-memory", "256M", "--device", "cpu")
	if code != 1 || !strings.Contains(stderr, "a run at 3000x4000 needs about") || !strings.Contains(stderr, "than the limit (256.0 MiB)") ||
		!strings.Contains(stderr, "--size") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	checkOneLineError(t, stderr)
	// The default limit is the memory available: 16384² of this model needs far more than any machine has.
	code, _, stderr = runCmd(t, "infer", "--model", m, img, "-o", out, "--size", "16384x16384", "--device", "cpu")
	if code != 1 || !strings.Contains(stderr, "than the memory available") {
		t.Errorf("16384x16384: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "infer", "--model", m, img, "-o", out, "--max-memory", "lots"); code != 2 || !strings.Contains(stderr, "--max-memory") {
		t.Errorf("--max-memory lots: exit %d, stderr:\n%s", code, stderr)
	}
	mustRun(t, "infer", "--model", m, img, "-o", out, "--max-memory", "-1", "--device", "cpu")
	plan := mustRun(t, "inspect", "--plan", "--size", "3000x4000", m)
	if !strings.Contains(plan, "activation memory: ") {
		t.Errorf("inspect --plan shows no activation memory")
	}
}
