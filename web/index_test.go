package web

import (
	"bytes"
	"context"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// demoState is window.__demo of index.html.
type demoState struct {
	State   string                          `json:"state"`
	Error   *struct{ Code, Message string } `json:"error"`
	Results map[string]struct {
		Kind   string  `json:"kind"`
		Width  int     `json:"width"`
		Height int     `json:"height"`
		Finite bool    `json:"finite"`
		Min    float64 `json:"min"`
		Max    float64 `json:"max"`
	} `json:"results"`
	Readout string `json:"readout"`
}

// waitDemo polls window.__demo until its state is one of want (or "error").
func waitDemo(ctx context.Context, t *testing.T, want ...string) demoState {
	t.Helper()
	var st demoState
	cond := "window.__demo && [" + "'" + strings.Join(append(want, "error"), "','") + "'" + "].includes(window.__demo.state)"
	if err := chromedp.Run(ctx, chromedp.Poll(cond, nil, chromedp.WithPollingInterval(100*time.Millisecond)),
		chromedp.Evaluate("JSON.parse(JSON.stringify(window.__demo, (k, v) => k === 'model' ? undefined : v))", &st)); err != nil {
		t.Fatalf("waiting for the page (%v): %v", want, err)
	}
	if st.State == "error" && !contains(want, "error") {
		t.Fatalf("the page shows an error: %+v", st.Error)
	}
	return st
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestIndexPageLikeAUser opens index.html with the default device choice (on SwiftShader,
// a fallback adapter, that is the CPU path with its notice), chooses the fixture image in
// the file picker, waits for the results and checks every task's card: a non-empty canvas,
// finite values, the legend, the hover readout and the PNG download; it saves a screenshot
// to bin/screenshots/index.png.
func TestIndexPageLikeAUser(t *testing.T) {
	browserEnv(t)
	ctx, done := newTab(t, 3*time.Minute)
	defer done()
	fm := shared.models[0]
	dl := t.TempDir()
	var mu sync.Mutex
	downloaded := map[string]bool{}
	chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			mu.Lock()
			downloaded[e.GUID] = true
			mu.Unlock()
		}
	})
	url := shared.srv.URL + "/index.html?sw=0&model=/testmodels/" + filepath.Base(fm.demt)
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		c := chromedp.FromContext(ctx)
		return browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllowAndName).
			WithDownloadPath(dl).WithEventsEnabled(true).Do(cdp.WithExecutor(ctx, c.Browser))
	}), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitDemo(ctx, t, "ready")
	var backend, notice, weights string
	if err := chromedp.Run(ctx, chromedp.Text("#backend", &backend), chromedp.Text("#notice", &notice),
		chromedp.Text("#weights-notice", &weights)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(backend, "CPU") || !strings.Contains(notice, "software fallback") {
		t.Errorf("backend %q, notice %q: want the CPU path with the fallback-adapter notice", backend, notice)
	}
	if !strings.Contains(weights, "random weights") {
		t.Errorf("the page does not say that the model has random weights: %q", weights)
	}

	if err := chromedp.Run(ctx, chromedp.SetUploadFiles("#file", []string{filepath.Join(fm.fix.Dir, "input.png")}, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	st := waitDemo(ctx, t, "done")
	tasks := 0
	for task, r := range st.Results {
		tasks++
		if !r.Finite || r.Width == 0 || r.Height == 0 || !(r.Min <= r.Max) {
			t.Errorf("%s: %+v", task, r)
		}
	}
	if tasks != 4 {
		t.Fatalf("%d task results, want 4 (semseg, depth, normals, edge): %v", tasks, st.Results)
	}
	// Every canvas has pixels; the palette tasks have a legend with every class.
	var cards []struct {
		Task    string `json:"task"`
		Opaque  int    `json:"opaque"`
		Colours int    `json:"colours"`
		Legend  int    `json:"legend"`
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll(".card")].map((c) => {
		const cv = c.querySelector("canvas"), d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
		let opaque = 0; const colours = new Set();
		for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0) opaque++; colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
		return {task: c.dataset.task, opaque, colours: colours.size, legend: c.querySelectorAll(".legend li").length};
	})`, &cards)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cards {
		if c.Opaque == 0 || c.Colours < 2 {
			t.Errorf("%s: canvas has %d opaque pixels, %d colours", c.Task, c.Opaque, c.Colours)
		}
		if c.Task == "semseg" && c.Legend != 40 {
			t.Errorf("semseg legend has %d entries, want 40", c.Legend)
		}
	}
	// Hover: the readout names the class under the pointer.
	if err := chromedp.Run(ctx, chromedp.ScrollIntoView(`.card[data-task="semseg"] canvas`),
		chromedp.Evaluate(`(() => { const c = document.querySelector('.card[data-task="semseg"] canvas'), r = c.getBoundingClientRect();
			c.dispatchEvent(new MouseEvent("mousemove", {clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true})); })()`, nil)); err != nil {
		t.Fatal(err)
	}
	var readout string
	if err := chromedp.Run(ctx, chromedp.Text("#readout", &readout)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(readout, "semseg (") {
		t.Errorf("hover readout %q", readout)
	}
	// Download the depth PNG.
	if err := chromedp.Run(ctx, chromedp.Click(`.card[data-task="depth"] .download`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var pngPath string
	for time.Now().Before(deadline) && pngPath == "" {
		mu.Lock()
		for guid := range downloaded {
			pngPath = filepath.Join(dl, guid)
		}
		mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	if pngPath == "" {
		t.Fatal("the PNG download did not complete")
	}
	b, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("downloaded depth.png: %v", err)
	}
	if r := st.Results["depth"]; img.Bounds().Dx() != r.Width || img.Bounds().Dy() != r.Height {
		t.Errorf("depth.png is %v, want %dx%d", img.Bounds(), r.Width, r.Height)
	}
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("../bin/screenshots", 0o755); err == nil {
		os.WriteFile("../bin/screenshots/index.png", shot, 0o644)
	}
	t.Logf("index.html: %d tasks shown; readout %q; screenshot bin/screenshots/index.png", tasks, readout)
}

// TestIndexPageOffline loads index.html once from a server of its own (the service worker
// and the model cache fill up), stops the server, reloads, and runs a sample scene.
func TestIndexPageOffline(t *testing.T) {
	browserEnv(t)
	ctx, done := newTab(t, 3*time.Minute)
	defer done()
	srv := httptest.NewServer(shared.handler)
	defer srv.Close()
	url := srv.URL + "/index.html?model=/testmodels/" + filepath.Base(shared.models[0].demt)
	if err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitDemo(ctx, t, "ready")
	if err := chromedp.Run(ctx, chromedp.Evaluate(`navigator.serviceWorker.ready.then(() => true)`, nil, awaitPromise)); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	srv.Close()
	if err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitDemo(ctx, t, "ready")
	var fromCache bool
	if err := chromedp.Run(ctx, chromedp.Evaluate("window.__demo.model.info.fromCache", &fromCache),
		chromedp.Click("#samples button", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	st := waitDemo(ctx, t, "done")
	if !fromCache || len(st.Results) == 0 {
		t.Fatalf("offline: model from cache %v, %d results", fromCache, len(st.Results))
	}
}
