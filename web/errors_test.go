package web

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// errorsPage runs demt.js on every bad input of the browser issue's part 6 and returns
// what each one gave: {name: {code, message}} (code "ok" for a success).
const errorsPage = `<!doctype html><meta charset="utf-8"><script type="module">
import { DeMT, DeMTError, _internal } from "/demt.js";
const res = {};
async function attempt(name, f) {
  try { await f(); res[name] = {code: "ok"}; }
  catch (e) { res[name] = {code: e instanceof DeMTError ? e.code : "untyped " + e, message: String(e.message), status: e.status}; }
}
window.runErrors = async (good) => {
  for (const [name, url] of [["truncated", "/bad/truncated.demt"], ["corrupted", "/bad/corrupted.demt"],
      ["missing", "/bad/missing.demt"], ["html", "/bad/page.demt"]]) {
    await attempt(name, () => DeMT.load(url, {device: "cpu", cache: false}));
  }
  // A damaged copy in Cache Storage is dropped and fetched again.
  const cache = await caches.open("demt-models-v1");
  const href = new URL(good, location.href).href;
  await cache.put(href, new Response(await (await fetch("/bad/corrupted.demt")).arrayBuffer()));
  let refetched = null;
  await attempt("damaged-cache", async () => { const c = await DeMT.load(good, {device: "cpu", size: [32, 32]}); refetched = !c.info.fromCache; await c.dispose(); });
  res.refetched = {code: refetched ? "ok" : "served the damaged copy"};
  res.cachedAgain = {code: (await cache.match(href)) ? "ok" : "not cached"};
  await cache.delete(href);
  const ac = new AbortController();
  const p = DeMT.load(good, {device: "cpu", cache: false, signal: ac.signal});
  ac.abort();
  await attempt("aborted", () => p);
  const m = await DeMT.load(good, {device: "cpu", cache: false, size: [32, 32]});
  await attempt("huge", () => m.run(new OffscreenCanvas(10000, 10000)));
  await attempt("tiny", () => m.run(new ImageData(1, 1), {size: [8, 8]}));
  await attempt("tiny-default", async () => { const o = await m.run(new ImageData(1, 1), {raw: true}); if (Object.values(o)[0].height !== 16) throw new Error("not run at 16×16"); });
  await attempt("text-file", () => m.run(new Blob(["hello"], {type: "text/plain"})));
  await attempt("garbage-png", () => m.run(new Blob([new Uint8Array([1, 2, 3, 4])], {type: "image/png"})));
  await attempt("not-a-source", () => m.run(42));
  await attempt("still-alive", () => m.run(new ImageData(40, 36)));
  await m.dispose();
  await attempt("disposed", () => m.run(new ImageData(40, 36)));

  // Device loss mid-stream: destroy the device under a WebGPU model, then recover.
  const g = await DeMT.load(good, {device: "webgpu", cache: false, size: [32, 32]});
  const img = new ImageData(32, 32);
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37) % 256;
  const before = await g.run(img, {raw: true, size: [32, 32]});
  const dev = _internal.gpuHook.device;
  dev.destroy();
  await dev.lost;
  await attempt("device-lost", () => g.run(img, {raw: true, size: [32, 32]}));
  await g.recover();
  let same = false;
  await attempt("recovered", async () => {
    const after = await g.run(img, {raw: true, size: [32, 32]});
    same = Object.keys(before).every((k) => before[k].data.every((v, i) => Math.abs(v - after[k].data[i]) <= 1e-5 * (1 + Math.abs(v))));
  });
  res.recoveredSame = {code: same ? "ok" : "different"};
  res.newDevice = {code: _internal.gpuHook.device && _internal.gpuHook.device !== dev ? "ok" : "same device"};
  return res;
};
window.runBrokenShader = async (good) => {
  await attempt("broken-shader", () => DeMT.load(good, {device: "webgpu", cache: false, size: [32, 32]}));
  return res;
};
window.__ready = true;
</script>`

// brokenShaderHook is put before demt.js: it breaks the colorize kernel's WGSL.
const brokenShaderHook = `<script>
const orig = GPUDevice.prototype.createShaderModule;
GPUDevice.prototype.createShaderModule = function (desc) {
  if (desc && String(desc.label).startsWith("colorize")) desc = {...desc, code: desc.code.replace("fn main", "fn main_broken") + "\nfn broken() { let x: f32 = 1u; }"};
  return orig.call(this, desc);
};
</script>`

type errResult struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// TestBadInputs checks that every bad input gives its typed error and leaves the page
// working: truncated, corrupted and HTML "models", a 404, a 10000×10000 and a 1×1 image,
// files that are not images, a device destroyed under a running model (recovered on a new
// device with the same results), a kernel that does not compile (the compiler's message).
func TestBadInputs(t *testing.T) {
	browserEnv(t)
	good, err := os.ReadFile(shared.models[0].demt)
	if err != nil {
		t.Fatal(err)
	}
	corrupted := append([]byte(nil), good...)
	corrupted[len(corrupted)*2/3] ^= 0x55
	serve := func(b []byte, ctype string, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			w.Write(b)
		}
	}
	override("/bad/truncated.demt", serve(good[:len(good)/2], "application/octet-stream", 200))
	override("/bad/corrupted.demt", serve(corrupted, "application/octet-stream", 200))
	override("/bad/missing.demt", serve([]byte("404 page not found"), "text/plain", 404))
	override("/bad/page.demt", serve([]byte("<!doctype html><title>Oops</title><p>Not here."), "text/html", 200))
	goodURL := "/testmodels/" + filepath.Base(shared.models[0].demt)

	ctx, done := newTab(t, 4*time.Minute)
	defer done()
	var res map[string]errResult
	if err := chromedp.Run(ctx, chromedp.Navigate(servePage("errors.html", errorsPage)), chromedp.Poll("window.__ready === true", nil),
		chromedp.Evaluate("runErrors('"+goodURL+"')", &res, awaitPromise)); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ code, text string }{
		"truncated":     {"bad-model", "truncated"},
		"corrupted":     {"checksum", "chunk"},
		"missing":       {"fetch", "404"},
		"html":          {"bad-model", "HTML page"},
		"huge":          {"input-too-large", "10000×10000"},
		"tiny":          {"input-too-small", "8x8"},
		"tiny-default":  {"ok", ""},
		"text-file":     {"unsupported-source", "text/plain"},
		"garbage-png":   {"unsupported-source", "cannot decode"},
		"not-a-source":  {"unsupported-source", ""},
		"still-alive":   {"ok", ""},
		"damaged-cache": {"ok", ""},
		"refetched":     {"ok", ""},
		"cachedAgain":   {"ok", ""},
		"aborted":       {"aborted", "aborted"},
		"disposed":      {"disposed", ""},
		"device-lost":   {"device-lost", "destroyed"},
		"recovered":     {"ok", ""},
		"recoveredSame": {"ok", ""},
		"newDevice":     {"ok", ""},
	}
	for name, w := range want {
		r, ok := res[name]
		switch {
		case !ok:
			t.Errorf("%s: no result", name)
		case r.Code != w.code || !strings.Contains(r.Message, w.text):
			t.Errorf("%s: %s %q, want %s mentioning %q", name, r.Code, r.Message, w.code, w.text)
		default:
			t.Logf("%s: %s %s", name, r.Code, r.Message)
		}
	}
	if res["missing"].Status != 404 {
		t.Errorf("404: status %d", res["missing"].Status)
	}

	// A kernel that does not compile, in a fresh page (a new Go module and device).
	ctx2, done2 := newTab(t, 2*time.Minute)
	defer done2()
	page := strings.Replace(errorsPage, "<script type=\"module\">", brokenShaderHook+"<script type=\"module\">", 1)
	if err := chromedp.Run(ctx2, chromedp.Navigate(servePage("broken.html", page)), chromedp.Poll("window.__ready === true", nil),
		chromedp.Evaluate("runBrokenShader('"+goodURL+"')", &res, awaitPromise)); err != nil {
		t.Fatal(err)
	}
	if r := res["broken-shader"]; r.Code != "shader-compile" || !strings.HasPrefix(r.Message, "kernel colorize: ") || len(r.Message) < 30 {
		t.Errorf("broken shader: %s %q, want shader-compile naming colorize with the compiler's message", r.Code, r.Message)
	} else {
		t.Logf("broken shader: %s", r.Message)
	}
}

// TestLivePageCameraDenied: in a Chromium without the fake camera's auto-accepting prompt
// (so getUserMedia is denied, as when a user says no), live.html says so and offers a
// video file.
func TestLivePageCameraDenied(t *testing.T) {
	browserEnv(t)
	bctx, stop := startChromium(t, false)
	defer stop()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	url := shared.srv.URL + "/live.html?sw=0&size=64&model=/testmodels/" + filepath.Base(shared.models[0].demt)
	var msg, state string
	if err := chromedp.Run(ctx, chromedp.Navigate(url),
		chromedp.Poll("window.__live && ['camera-denied', 'camera-missing', 'error', 'running'].includes(window.__live.state)", nil),
		chromedp.Evaluate("window.__live.state", &state), chromedp.Text("#error", &msg)); err != nil {
		t.Fatal(err)
	}
	if state != "camera-denied" || !strings.Contains(msg, "denied") || !strings.Contains(msg, "video file") {
		t.Fatalf("camera denied: state %s, message %q", state, msg)
	}
}
