package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// gpuTestPage runs the gpu package's own test binary (GOOS=js) in the page: the WebGPU
// executor of the browser build, the same Go code as natively. Devices are hooked so that
// WebGPU validation errors, which gogpu's browser build does not report to Go
// (notes/platform.md §3.4), are collected too.
const gpuTestPage = `<!doctype html><meta charset="utf-8">
<script src="/wasm_exec.js"></script><script>
window.__log = [];
window.__gpuErrors = [];
const origLog = console.log;
console.log = (...a) => { window.__log.push(a.join(" ")); origLog(...a); };
const origRequestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = async function (...a) {
  const d = await origRequestDevice.apply(this, a);
  d.addEventListener("uncapturederror", e => window.__gpuErrors.push(e.error.message));
  return d;
};
window.__finished = (async () => {
  const go = new Go();
  go.argv = ["gpu.test", "-test.v", "-test.run", "TEST_RUN"];
  const { instance } = await WebAssembly.instantiateStreaming(fetch("/gpu.test.wasm"), go.importObject);
  await go.run(instance);
  return {log: window.__log.join("\n"), gpuErrors: window.__gpuErrors};
})().catch(e => ({log: window.__log.join("\n") + "\n" + String(e), gpuErrors: window.__gpuErrors}));
</script>`

// TestGPUExecutorInChromium builds the gpu package's tests for GOOS=js and runs the parity
// table (every kernel against the CPU reference, f32 and f16 weights) and the self-check in
// headless Chromium's WebGPU (SwiftShader).
func TestGPUExecutorInChromium(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gpu.test.wasm")
	build := exec.Command("go", "test", "-c", "-o", bin, "../gpu")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the gpu tests for wasm: %v\n%s", err, out)
	}
	page := strings.Replace(gpuTestPage, "TEST_RUN", "^(TestParity|TestOpen)$", 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(page)) })
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/gpu.test.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, bin)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cctx, stop := newTab(t, 8*time.Minute)
	defer stop()
	var res struct {
		Log       string   `json:"log"`
		GPUErrors []string `json:"gpuErrors"`
	}
	err := chromedp.Run(cctx, chromedp.Navigate(srv.URL),
		chromedp.Evaluate("window.__finished", &res, awaitPromise))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	passed := strings.Count(res.Log, "--- PASS")
	if !strings.Contains(res.Log, "\nPASS") || strings.Contains(res.Log, "FAIL") || passed < 10 {
		t.Fatalf("gpu tests in Chromium (%d passed):\n%s", passed, res.Log)
	}
	if len(res.GPUErrors) > 0 {
		t.Fatalf("WebGPU errors: %s", strings.Join(res.GPUErrors, "; "))
	}
	t.Logf("gpu tests in Chromium: %d passed", passed)
}
