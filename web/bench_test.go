package web

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model/demtfile"
)

// benchPage loads a model with demt.js and measures, on whatever adapter the browser has:
// the load stages, the first frame (the first run after load), the mean forward time of
// the next frames, and the CPU path's time per image.
const benchPage = `<!doctype html><meta charset="utf-8"><script type="module">
import { DeMT } from "/demt.js";
window.bench = async (url, size, frames) => {
  const img = new ImageData(size, size);
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 31) % 256;
  const out = {};
  const t0 = performance.now();
  const g = await DeMT.load(url, {device: "webgpu", cache: false, size: [size, size], warmup: false});
  out.load = g.info.timings.load;
  out.adapter = g.info.adapter;
  const tf = performance.now();
  await g.run(img, {size: [size, size], raw: true, tasks: [g.info.tasks[0]]});
  out.firstFrameMs = performance.now() - tf;
  out.loadToFirstFrameMs = performance.now() - t0;
  let sum = 0;
  for (let i = 0; i < frames; i++) {
    await g.run(img, {size: [size, size], raw: true, tasks: [g.info.tasks[0]]});
    sum += g.info.timings.run.forwardMs;
  }
  out.frameMs = sum / frames;
  await g.dispose();
  const c = await DeMT.load(url, {device: "cpu", cache: false, size: [size, size]});
  const tc = performance.now();
  await c.run(img, {size: [size, size], raw: true});
  out.cpuImageMs = performance.now() - tc;
  await c.dispose();
  return out;
};
window.__ready = true;
</script>`

// BenchmarkWeb measures demt.js in headless Chromium on the full-size HRNet18-S PASCAL and
// Swin-T NYUD models (random weights from keys/) at 256² (DEMT_BENCH_SIZE, DEMT_BENCH_FRAMES
// override the size and the number of frames, default 20): make bench-web.
func BenchmarkWeb(b *testing.B) {
	root := fixture.Root(b)
	size, frames := envInt("DEMT_BENCH_SIZE", 256), envInt("DEMT_BENCH_FRAMES", 20)
	browserEnv(b)
	for _, name := range []string{"hrnet18_s-pascal", "swin_t-nyud"} {
		b.Run(name+"/"+strconv.Itoa(size)+"x"+strconv.Itoa(size), func(b *testing.B) {
			cfg, w, err := fixture.RandomModel(filepath.Join(root, "keys", name+".json"), 1)
			if err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(shared.dir, name+".demt")
			meta := &demtfile.Metadata{Config: *cfg, Normalization: demtfile.ImageNetNormalization(), Notes: "random weights (benchmark)"}
			if err := demtfile.WriteFile(path, meta, w, demtfile.WriteOptions{DType: demtfile.DTypeF32}); err != nil {
				b.Fatal(err)
			}
			bctx, stop := startChromium(b, true)
			defer stop()
			var res struct {
				Load         map[string]float64 `json:"load"`
				Adapter      map[string]any     `json:"adapter"`
				FirstFrameMs float64            `json:"firstFrameMs"`
				FrameMs      float64            `json:"frameMs"`
				CPUImageMs   float64            `json:"cpuImageMs"`
			}
			for i := 0; i < b.N; i++ {
				err := chromedp.Run(bctx, chromedp.Navigate(servePage("bench.html", benchPage)), chromedp.Poll("window.__ready === true", nil),
					chromedp.Evaluate("bench('/testmodels/"+name+".demt', "+strconv.Itoa(size)+", "+strconv.Itoa(frames)+")", &res, awaitPromise))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(res.Load["totalMs"], "load-ms")
			b.ReportMetric(res.Load["decodeMs"], "decode-ms")
			b.ReportMetric(res.Load["uploadMs"], "upload+compile-ms")
			b.ReportMetric(res.FirstFrameMs, "first-frame-ms")
			b.ReportMetric(res.FrameMs, "frame-ms")
			b.ReportMetric(res.CPUImageMs, "cpu-image-ms")
			b.Logf("adapter %v", res.Adapter)
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
