package imageio

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"strings"

	"github.com/demt-web/demt/internal/atomicfile"

	"github.com/demt-web/demt/colormap"
)

// Colorize renders one task's raw output, channels-last [H, W, C] logits, as RGBA
// (alpha 255), row-major [H, W, 4]:
//
//   - semseg, human_parts: argmax over channels (first maximum wins), coloured with
//     Palette;
//   - depth: clamped at 0 (the official evaluation clamps depth ≥ 0), min-max
//     normalised over the image, turbo colormap (blue near, red far);
//   - normals: L2-normalised per pixel, then trunc((n+1)/2·255) as R, G, B;
//   - edge: grey trunc(255·sigmoid(logit)), as the official prediction PNGs;
//   - sal: grey trunc(255·softmax(l)[1]) = trunc(255·sigmoid(l1−l0)); one-channel sal
//     uses sigmoid(l0);
//   - any other task: argmax palette when C > 1, min-max grey when C = 1.
//
// Channel values beyond the first C of each pixel are ignored; hwc must hold H·W·C values.
func Colorize(task string, channels int, hwc []float32, h, w int) []uint8 {
	n := h * w
	out := make([]uint8, n*4)
	c := channels
	if c <= 0 || len(hwc) < n*c {
		return out
	}
	set := func(p int, r, g, b uint8) {
		out[4*p], out[4*p+1], out[4*p+2], out[4*p+3] = r, g, b, 255
	}
	how := colormap.RenderingOf(task, c)
	// x0 is channel 0 of pixel p, clamped at 0 where the rendering says so.
	x0 := func(p int) float32 {
		if how.ClampZero() {
			return max(hwc[p*c], 0)
		}
		return hwc[p*c]
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	if how.MinMax() {
		for p := 0; p < n; p++ {
			lo, hi = min(lo, x0(p)), max(hi, x0(p))
		}
	}
	switch how {
	case colormap.RenderPalette:
		pal := colormap.Palette()
		for p := 0; p < n; p++ {
			k := argmax(hwc[p*c : p*c+c])
			col := pal[k%len(pal)]
			set(p, col[0], col[1], col[2])
		}
	case colormap.RenderDepth:
		for p := 0; p < n; p++ {
			t := 0.0
			if hi > lo {
				t = float64((x0(p) - lo) / (hi - lo))
			}
			r, g, b := colormap.Turbo(t)
			set(p, r, g, b)
		}
	case colormap.RenderNormals:
		for p := 0; p < n; p++ {
			var rgb [3]uint8
			var ss float64
			for k := 0; k < min(c, 3); k++ {
				ss += float64(hwc[p*c+k]) * float64(hwc[p*c+k])
			}
			norm := math.Max(math.Sqrt(ss), 1e-12) // F.normalize's eps
			for k := 0; k < min(c, 3); k++ {
				rgb[k] = truncByte((float64(hwc[p*c+k])/norm + 1) / 2 * 255)
			}
			set(p, rgb[0], rgb[1], rgb[2])
		}
	case colormap.RenderSigmoid:
		for p := 0; p < n; p++ {
			g := truncByte(255 * float64(sigmoid(x0(p))))
			set(p, g, g, g)
		}
	case colormap.RenderSal:
		for p := 0; p < n; p++ {
			g := truncByte(255 * float64(sigmoid(hwc[p*c+1]-hwc[p*c])))
			set(p, g, g, g)
		}
	case colormap.RenderMinMax:
		for p := 0; p < n; p++ {
			var g uint8
			if hi > lo {
				g = uint8(math.Round(float64((x0(p) - lo) / (hi - lo) * 255)))
			}
			set(p, g, g, g)
		}
	}
	return out
}

// argmax returns the index of the first largest value (NaNs never win).
func argmax(v []float32) int {
	best := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[best] || v[best] != v[best] {
			best = i
		}
	}
	return best
}

// sigmoid is the logistic function, rounded to float32 as torch computes it.
func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// truncByte converts to uint8 by truncation (numpy's astype(uint8)), clamped to 0..255.
func truncByte(v float64) uint8 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}

// Legend returns the colour key of a task Colorize renders with the palette: one line
// "index<TAB>name<TAB>#rrggbb" per class name. It is empty for tasks rendered otherwise
// (depth, normals, edge, sal) and when there are no class names.
func Legend(task string, classNames []string) string {
	if len(classNames) == 0 || colormap.RenderingOf(task, len(classNames)) != colormap.RenderPalette {
		return ""
	}
	pal := colormap.Palette()
	var sb strings.Builder
	for i, name := range classNames {
		c := pal[i%len(pal)]
		fmt.Fprintf(&sb, "%d\t%s\t#%02x%02x%02x\n", i, name, c[0], c[1], c[2])
	}
	return sb.String()
}

// WritePNG writes RGBA [H, W, 4] pixels (alpha not premultiplied) as a PNG file,
// atomically: it writes a temporary file in the same directory and renames it to path.
func WritePNG(path string, rgba []uint8, h, w int) error {
	if h <= 0 || w <= 0 || len(rgba) != h*w*4 {
		return fmt.Errorf("write %s: %d bytes for a %dx%d RGBA image", path, len(rgba), h, w)
	}
	img := &image.NRGBA{Pix: rgba, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := png.Encode(w, img); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
}
