package imageio

import (
	"math"
	"runtime"
	"sync"

	"github.com/demt-web/demt/colormap"
	"github.com/demt-web/demt/model"
)

// DefaultLongSide is the long side, in pixels, a photo is fitted to before the model runs on
// it when no size is asked for (FitSize). The CLI and the JS API use the same rule.
const DefaultLongSide = 512

// MinSide is the smallest side FitSize returns: the smallest input the model accepts.
const MinSide = 16

// FitSize returns the size an h×w image is run at when its long side may be at most long:
// with scale = long/max(h, w) when max(h, w) > long (else 1, so smaller images run at their
// own size), each side becomes max(16, round(side·scale)); the aspect ratio is kept.
func FitSize(h, w, long int) (int, int) {
	m := max(h, w)
	if m <= long || m <= 0 {
		return max(MinSide, h), max(MinSide, w)
	}
	scale := float64(long) / float64(m)
	fit := func(side int) int { return max(MinSide, int(math.Round(float64(side)*scale))) }
	return fit(h), fit(w)
}

// NormalizeRGBA is Normalize for 8-bit RGBA [H, W, 4] pixels (a canvas's ImageData); alpha
// is ignored.
func NormalizeRGBA(rgba []uint8, h, w int, mean, std [3]float32) []float32 {
	out := make([]float32, h*w*3)
	for p := 0; p < min(h*w, len(rgba)/4); p++ {
		for c := 0; c < 3; c++ {
			v := float32(rgba[4*p+c]) / float32(255)
			v -= mean[c]
			out[3*p+c] = v / std[c]
		}
	}
	return out
}

// ResizeHWC resizes channels-last float32 [h, w, c] to [nh, nw, c] bilinearly with half-pixel
// centres (PyTorch's F.interpolate(mode="bilinear", align_corners=False)), as the official
// evaluation upsamples logits.
func ResizeHWC(src []float32, h, w, c, nh, nw int) []float32 {
	out := make([]float32, nh*nw*c)
	resizeRows(out, src, w, c, model.ResizeTaps(h, nh), model.ResizeTaps(w, nw), 0, nh)
	return out
}

// resizeRows writes output rows [y0, y1) of a bilinear resize into dst (rows from y0).
func resizeRows(dst, src []float32, w, c int, ys, xs []model.ResizeTap, y0, y1 int) {
	nw := len(xs)
	for oy := y0; oy < y1; oy++ {
		ty := ys[oy]
		r0, r1 := src[ty.I0*w*c:], src[ty.I1*w*c:]
		row := dst[(oy-y0)*nw*c:]
		for ox, tx := range xs {
			a0, a1 := tx.I0*c, tx.I1*c
			o := row[ox*c : ox*c+c]
			for k := range o {
				top := r0[a0+k]*tx.L0 + r0[a1+k]*tx.L1
				bot := r1[a0+k]*tx.L0 + r1[a1+k]*tx.L1
				o[k] = top*ty.L0 + bot*ty.L1
			}
		}
	}
}

// ColorizeAt renders one task's raw output, channels-last [h, w, channels] logits, as Colorize
// does, at nh×nw pixels: the logits are first resized bilinearly to nh×nw (ResizeHWC), so the
// result is Colorize of the resized logits. Multi-channel outputs are resized a band of rows
// at a time, in parallel, so no full-size copy of the logits is ever held.
func ColorizeAt(task string, channels int, hwc []float32, h, w, nh, nw int) []uint8 {
	if nh == h && nw == w {
		return Colorize(task, channels, hwc, h, w)
	}
	c := channels
	if c <= 0 || len(hwc) < h*w*c {
		return make([]uint8, nh*nw*4)
	}
	if r := colormap.RenderingOf(task, c); c == 1 || r == colormap.RenderDepth || r == colormap.RenderMinMax {
		// These normalise over the whole image; with one channel the resized map is no
		// larger than the RGBA result.
		return Colorize(task, c, ResizeHWC(hwc, h, w, c, nh, nw), nh, nw)
	}
	out := make([]uint8, nh*nw*4)
	ys, xs := model.ResizeTaps(h, nh), model.ResizeTaps(w, nw)
	const band = 16
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), (nh+band-1)/band) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, band*nw*c)
			for y0 := range jobs {
				y1 := min(y0+band, nh)
				resizeRows(buf, hwc, w, c, ys, xs, y0, y1)
				copy(out[y0*nw*4:], Colorize(task, c, buf[:(y1-y0)*nw*c], y1-y0, nw))
			}
		}()
	}
	for y0 := 0; y0 < nh; y0 += band {
		jobs <- y0
	}
	close(jobs)
	wg.Wait()
	return out
}
