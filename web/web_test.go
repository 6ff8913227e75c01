// Package web holds the browser side of demt-web (JS modules and pages); its Go test runs
// the wasm module (../wasm) under Node and checks it against the official fixtures.
package web

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/npy"
)

// TestWasmCPUMatchesFixture builds the wasm module, runs demtGo.load + demtGo.infer under
// Node on a fixture image and compares every raw output with the official one.
func TestWasmCPUMatchesFixture(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for the wasm test (apt-get install nodejs): ", err)
	}
	dir := t.TempDir()
	wasm := filepath.Join(dir, "demt.wasm")
	build := exec.Command("go", "build", "-o", wasm, "../wasm")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm module: %v\n%s", err, out)
	}

	m, err := fixture.LoadModel(filepath.Join(fixture.Root(t), "swin-nyud-small"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, w, err := fixturemodel.Load(m)
	if err != nil {
		t.Fatal(err)
	}
	demt := filepath.Join(dir, "model.demt")
	meta := &demtfile.Metadata{Config: *cfg, Normalization: demtfile.ImageNetNormalization()}
	if err := demtfile.WriteFile(demt, meta, w, demtfile.WriteOptions{DType: demtfile.DTypeF32}); err != nil {
		t.Fatal(err)
	}
	rgb, h, wd, err := imageio.Decode(filepath.Join(m.Dir, "input.png"))
	if err != nil {
		t.Fatal(err)
	}
	rgba := make([]byte, 0, h*wd*4)
	for p := 0; p < h*wd; p++ {
		rgba = append(rgba, rgb[3*p], rgb[3*p+1], rgb[3*p+2], 255)
	}
	img := filepath.Join(dir, "input.rgba")
	if err := os.WriteFile(img, rgba, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	run := exec.Command(node, "demt_node.mjs", filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"), wasm, demt, img,
		strconv.Itoa(wd), strconv.Itoa(h), outDir)
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if out, err := run.Output(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, out, stderr.String())
	}
	for _, task := range cfg.Head.Tasks {
		raw, err := os.ReadFile(filepath.Join(outDir, task.Name+".f32"))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := npy.ReadFile(filepath.Join(m.Dir, "out_"+task.Name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(raw)/4)
		for i := range got {
			got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		if len(got) != ref.Numel() {
			t.Fatalf("%s: %d values, want %d", task.Name, len(got), ref.Numel())
		}
		d := fixture.Compare(got, ref.Float32())
		if !d.OK() {
			t.Errorf("%s: max|diff| %.3g relL2 %.3g", task.Name, d.MaxAbs, d.RelL2)
		} else {
			t.Logf("%s: max|diff| %.3g relL2 %.3g", task.Name, d.MaxAbs, d.RelL2)
		}
	}
}
