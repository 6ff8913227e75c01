package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model/demtfile"
)

// The browser tests share one Chromium (one tab per test) and one test server: the wasm
// module, the fixture models converted to .demt, and web/ itself.
var shared struct {
	once      sync.Once
	err       error
	dir       string
	srv       *httptest.Server
	handler   http.Handler   // the server's routes (the offline test starts a second server with them)
	models    []fixtureModel // smallest first
	browser   context.Context
	stop      func()
	pageMu    sync.Mutex
	pages     map[string]string // extra pages served under /test/
	routeMu   sync.Mutex
	overrides map[string]http.HandlerFunc
}

// fixtureModel is one shared fixture converted for the browser.
type fixtureModel struct {
	name  string
	fix   *fixture.Model
	demt  string // path of the .demt file
	bytes int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	if shared.srv != nil {
		shared.srv.Close()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// browserEnv builds the wasm module and the models once and starts the server.
func browserEnv(t testing.TB) {
	t.Helper()
	shared.once.Do(func() { shared.err = setUpEnv(fixture.Root(t)) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

func setUpEnv(root string) error {
	dir, err := os.MkdirTemp("", "demt-web-test-")
	if err != nil {
		return err
	}
	shared.dir = dir
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "demt.wasm"), "../wasm")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the wasm module: %v\n%s", err, out)
	}
	for _, name := range []string{"swin-nyud-small", "swin-nyud2-defmixer-v1", "hrnet18s-pascal"} {
		fm, err := fixture.LoadModel(filepath.Join(root, name))
		if err != nil {
			return err
		}
		cfg, w, err := fixturemodel.Load(fm)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name+".demt")
		meta := &demtfile.Metadata{Config: *cfg, Normalization: demtfile.ImageNetNormalization(),
			Notes: "random weights (a test fixture)"}
		if err := demtfile.WriteFile(path, meta, w, demtfile.WriteOptions{DType: demtfile.DTypeF32}); err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		shared.models = append(shared.models, fixtureModel{name: name, fix: fm, demt: path, bytes: st.Size()})
	}
	shared.pages = map[string]string{}
	shared.overrides = map[string]http.HandlerFunc{}
	mux := http.NewServeMux()
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(goruntime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/demt.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, filepath.Join(dir, "demt.wasm"))
	})
	mux.HandleFunc("/testmodels/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeFile(w, r, filepath.Join(dir, filepath.Base(r.URL.Path)))
	})
	mux.HandleFunc("/fixtures/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/fixtures/"), "/")
		if len(parts) != 2 || parts[1] != "input.png" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(root, filepath.Base(parts[0]), "input.png"))
	})
	mux.HandleFunc("/test/", func(w http.ResponseWriter, r *http.Request) {
		shared.pageMu.Lock()
		page, ok := shared.pages[strings.TrimPrefix(r.URL.Path, "/test/")]
		shared.pageMu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	files := http.FileServer(http.Dir("."))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		shared.routeMu.Lock()
		h := shared.overrides[r.URL.Path]
		shared.routeMu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	shared.handler = mux
	shared.srv = httptest.NewServer(mux)
	return nil
}

// servePage serves html at /test/name and returns its URL.
func servePage(name, html string) string {
	shared.pageMu.Lock()
	defer shared.pageMu.Unlock()
	shared.pages[name] = html
	return shared.srv.URL + "/test/" + name
}

// override makes the server answer path with h (nil removes it).
func override(path string, h http.HandlerFunc) {
	shared.routeMu.Lock()
	defer shared.routeMu.Unlock()
	if h == nil {
		delete(shared.overrides, path)
		return
	}
	shared.overrides[path] = h
}

// newTab opens a tab of the shared Chromium (started on first use) with a deadline: timeout,
// or more when the test binary's own deadline (go test -timeout) leaves more, so a loaded CI
// machine is not failed by a guess made on a quiet one.
func newTab(t *testing.T, timeout time.Duration) (context.Context, func()) {
	t.Helper()
	if d, ok := t.Deadline(); ok {
		timeout = max(timeout, time.Until(d)-30*time.Second)
	}
	browserEnv(t)
	if shared.browser == nil {
		ctx, stop := startChromium(t, true)
		shared.browser, shared.stop = ctx, stop
	}
	tab, cancelTab := chromedp.NewContext(shared.browser)
	ctx, cancel := context.WithTimeout(tab, timeout)
	return ctx, func() {
		cancel()
		cancelTab()
	}
}

// startChromium starts headless Chromium with WebGPU (SwiftShader through Vulkan, which
// also makes WebGPU canvases and video import work headless: notes/browser.md §3) and a
// fake camera playing the test clip (with the permission prompt auto-accepted when
// acceptCamera is set; without it getUserMedia is denied).
func startChromium(t testing.TB, acceptCamera bool) (context.Context, func()) {
	chromium := chromiumPath(t)
	profile, err := os.MkdirTemp("", "demt-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(shared.dir, "camera.y4m")
	if _, err := os.Stat(clip); err != nil {
		if err := writeY4M(clip, 320, 240, 60); err != nil {
			t.Fatal(err)
		}
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.UserDataDir(profile), chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.NoSandbox, chromedp.Flag("headless", "new"),
		chromedp.Flag("enable-unsafe-webgpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("enable-features", "Vulkan"), chromedp.Flag("use-vulkan", "swiftshader"),
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-file-for-fake-video-capture", clip),
		chromedp.WindowSize(1280, 1000)}
	if acceptCamera {
		opts = append(opts, chromedp.Flag("use-fake-ui-for-media-stream", true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx, func() {
		cancelCtx()
		cancelAlloc()
		os.RemoveAll(profile)
	}
}
