package web

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
)

// apiPage loads a model with demt.js and runs it on a fixture image; the raw outputs come
// back base64-encoded (little-endian float32, CHW).
const apiPage = `<!doctype html><meta charset="utf-8"><script type="module">
import { DeMT, DeMTError } from "/demt.js";
function b64(f32) {
  const u8 = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}
window.runCase = async (model, image, device) => {
  const events = [];
  try {
    const img = await createImageBitmap(await (await fetch(image)).blob(), {colorSpaceConversion: "none", premultiplyAlpha: "none"});
    const m = await DeMT.load(model, {device, size: [img.height, img.width], cache: false, warmup: false,
      onProgress: (e) => events.push(e.status)});
    const out = await m.run(img, {raw: true});
    const outputs = {};
    for (const [k, o] of Object.entries(out)) outputs[k] = {channels: o.channels, height: o.height, width: o.width, data: b64(o.data)};
    const info = m.info;
    await m.dispose();
    return {outputs, backend: info.backend, adapter: info.adapter, timings: info.timings, events};
  } catch (e) {
    return {error: String(e && e.message || e), code: e instanceof DeMTError ? e.code : "not a DeMTError", events};
  }
};
window.__ready = true;
</script>`

type apiResult struct {
	Outputs map[string]struct {
		Channels int    `json:"channels"`
		Height   int    `json:"height"`
		Width    int    `json:"width"`
		Data     string `json:"data"`
	} `json:"outputs"`
	Backend string         `json:"backend"`
	Adapter map[string]any `json:"adapter"`
	Timings map[string]any `json:"timings"`
	Events  []string       `json:"events"`
	Error   string         `json:"error"`
	Code    string         `json:"code"`
}

// TestDeMTJSMatchesNativeCPU loads a model converted from each shared fixture with demt.js
// in headless Chromium, on WebGPU (SwiftShader) and on the CPU fallback, runs the fixture's
// input.png with {raw: true} and compares every task with the native CPU executor.
func TestDeMTJSMatchesNativeCPU(t *testing.T) {
	browserEnv(t)
	ctx, done := newTab(t, 6*time.Minute)
	defer done()
	url := servePage("api.html", apiPage)
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.Poll("window.__ready === true", nil)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	for _, fm := range shared.models {
		ref := nativeOutputs(t, fm)
		for _, device := range []string{"webgpu", "cpu"} {
			t.Run(fm.name+"/"+device, func(t *testing.T) {
				start := time.Now()
				var res apiResult
				expr := "runCase('/testmodels/" + filepath.Base(fm.demt) + "', '/fixtures/" + fm.name + "/input.png', '" + device + "')"
				if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &res, awaitPromise)); err != nil {
					t.Fatalf("chromium: %v", err)
				}
				if res.Error != "" {
					t.Fatalf("%s: %s (events %v)", res.Code, res.Error, res.Events)
				}
				if res.Backend != device {
					t.Fatalf("ran on %s, want %s", res.Backend, device)
				}
				if device == "webgpu" && res.Adapter["isFallbackAdapter"] != true {
					t.Errorf("adapter %v: SwiftShader should be reported as a fallback adapter", res.Adapter)
				}
				if len(res.Outputs) != len(ref) {
					t.Fatalf("%d outputs, want %d", len(res.Outputs), len(ref))
				}
				for task, want := range ref {
					o, ok := res.Outputs[task]
					if !ok {
						t.Fatalf("no output %s", task)
					}
					raw, err := base64.StdEncoding.DecodeString(o.Data)
					if err != nil {
						t.Fatal(err)
					}
					got := make([]float32, len(raw)/4)
					for i := range got {
						got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
					}
					if len(got) != len(want) || o.Channels*o.Height*o.Width != len(want) {
						t.Fatalf("%s: %d values (%d×%d×%d), want %d", task, len(got), o.Channels, o.Height, o.Width, len(want))
					}
					d := fixture.Compare(got, want)
					if d.RelL2 > 1e-4 || math.IsNaN(d.RelL2) {
						t.Errorf("%s: relL2 %.3g max|diff| %.3g", task, d.RelL2, d.MaxAbs)
					} else {
						t.Logf("%s: relL2 %.3g max|diff| %.3g", task, d.RelL2, d.MaxAbs)
					}
				}
				t.Logf("%s on %s: %.1fs; events %v; timings %v", fm.name, device, time.Since(start).Seconds(), res.Events, res.Timings)
			})
		}
	}
}

// nativeOutputs runs the native CPU executor on the fixture's input.png (at its own size,
// as FitSize keeps it) with the weights read back from the .demt file: CHW per task.
func nativeOutputs(t *testing.T, fm fixtureModel) map[string][]float32 {
	t.Helper()
	f, err := demtfile.ReadFile(fm.demt, nil)
	if err != nil {
		t.Fatal(err)
	}
	rgb, h, w, err := imageio.Decode(filepath.Join(fm.fix.Dir, "input.png"))
	if err != nil {
		t.Fatal(err)
	}
	if fh, fw := imageio.FitSize(h, w, imageio.DefaultLongSide); fh != h || fw != w {
		t.Fatalf("fixture image %dx%d would be resized", h, w)
	}
	plain, err := model.Build(&f.Meta.Config, f.Weights, h, w)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.Optimize(plain)
	if err != nil {
		t.Fatal(err)
	}
	e, err := cpu.New(p, cpu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := f.Meta.Normalization
	mean := [3]float32{float32(n.Mean[0]), float32(n.Mean[1]), float32(n.Mean[2])}
	std := [3]float32{float32(n.Std[0]), float32(n.Std[1]), float32(n.Std[2])}
	if err := e.Run(imageio.Normalize(rgb, h, w, mean, std)); err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, o := range p.Outputs {
		s := p.Tensors[o.Tensor].Shape
		out[o.Task] = model.CHWFromHWC(e.Tensor(o.Tensor), s.H, s.W, s.C)
	}
	return out
}
