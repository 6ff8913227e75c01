package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/demt-web/demt/shaders"
)

// chromiumPath is Debian's Chromium, or $DEMT_CHROMIUM.
func chromiumPath(t testing.TB) string {
	p := os.Getenv("DEMT_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("Chromium is required for the browser tests (apt-get install chromium): %v", err)
	}
	return p
}

// awaitPromise makes chromedp.Evaluate wait for a returned promise.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// tintPage compiles every shader of /shaders.json with the page's WebGPU device (Tint) and
// creates its compute pipeline inside a validation error scope; window.__result resolves to
// {adapter, results: [{name, errors}]}.
const tintPage = `<!doctype html><meta charset="utf-8"><script>
window.__result = (async () => {
  if (!navigator.gpu) return {error: "no navigator.gpu"};
  const ad = await navigator.gpu.requestAdapter();
  if (!ad) return {error: "no WebGPU adapter"};
  const dev = await ad.requestDevice({requiredLimits: {
    maxStorageBuffersPerShaderStage: ad.limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: ad.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: ad.limits.maxComputeInvocationsPerWorkgroup}});
  const list = await (await fetch("/shaders.json")).json();
  const results = [];
  for (const s of list) {
    const errors = [];
    dev.pushErrorScope("validation");
    const m = dev.createShaderModule({code: s.src});
    const info = await m.getCompilationInfo();
    for (const x of info.messages) if (x.type === "error") errors.push(x.lineNum + ":" + x.linePos + " " + x.message);
    try { dev.createComputePipeline({layout: "auto", compute: {module: m, entryPoint: "main"}}); } catch (e) { errors.push(String(e)); }
    const err = await dev.popErrorScope();
    if (err) errors.push(err.message);
    results.push({name: s.name, errors});
  }
  const info = ad.info || {};
  return {adapter: (info.vendor || "") + " " + (info.architecture || ""), results};
})();
</script>`

type shaderSource struct {
	Name string `json:"name"`
	Src  string `json:"src"`
}

// TestShadersCompileInChromium compiles every kernel in every variant with Tint, the WGSL
// compiler browsers use, in headless Chromium (WebGPU on SwiftShader): naga, which the native
// path uses, accepts WGSL that browsers reject (notes/platform.md §1.2). A deliberately
// invalid shader checks that the harness sees errors.
func TestShadersCompileInChromium(t *testing.T) {
	var list []shaderSource
	for _, name := range shaders.Names() {
		variants, err := shaders.Variants(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range variants {
			src, err := shaders.Source(name, v...)
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, shaderSource{Name: strings.Join(append([]string{name}, v...), "+"), Src: src})
		}
	}
	const bad = "invalid-control"
	list = append(list, shaderSource{Name: bad, Src: "@compute @workgroup_size(1) fn main() { let x = 1.0 + 2u; }"})
	body, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, tintPage) })
	mux.HandleFunc("/shaders.json", func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cctx, stop := newTab(t, 3*time.Minute)
	defer stop()
	var res struct {
		Error   string `json:"error"`
		Adapter string `json:"adapter"`
		Results []struct {
			Name   string   `json:"name"`
			Errors []string `json:"errors"`
		} `json:"results"`
	}
	err = chromedp.Run(cctx, chromedp.Navigate(srv.URL),
		chromedp.Evaluate("window.__result", &res, awaitPromise))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if res.Error != "" {
		t.Fatalf("chromium: %s", res.Error)
	}
	if len(res.Results) != len(list) {
		t.Fatalf("%d results for %d shaders", len(res.Results), len(list))
	}
	for _, r := range res.Results {
		switch {
		case r.Name == bad && len(r.Errors) == 0:
			t.Errorf("the invalid control shader compiled: the harness does not see errors")
		case r.Name != bad && len(r.Errors) > 0:
			t.Errorf("%s: %s", r.Name, strings.Join(r.Errors, "; "))
		}
	}
	t.Logf("%d kernel variants compiled with Tint on %q", len(list)-1, res.Adapter)
}
