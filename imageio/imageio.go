// Package imageio converts between images and model tensors: it decodes PNG and JPEG
// files to 8-bit RGB, resizes and normalises them into the channels-last float32 input a
// plan takes, and turns raw task outputs (logits) into displayable RGBA images and PNGs.
package imageio

import (
	"fmt"
	"github.com/demt-web/demt/model"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"math"
	"os"
)

// MaxPixels is the largest image Decode accepts (width × height), checked from the
// header before any pixel is decoded.
const MaxPixels = 1 << 28

// Decode reads a PNG or JPEG file and returns its pixels as 8-bit RGB, row-major
// [H, W, 3]. Alpha is dropped (the stored colour is kept, as PIL's convert("RGB") does);
// palette, grey and 16-bit images are converted to 8-bit RGB (16-bit keeps the high byte).
// PNG decoding is exact; JPEG decoding may differ from libjpeg by a grey level or so.
func Decode(path string) (rgb []uint8, h, w int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("decode %s: %w (want a PNG or JPEG image)", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, 0, 0, fmt.Errorf("decode %s: %dx%d image exceeds the limit of %d pixels", path, cfg.Height, cfg.Width, MaxPixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, 0, err
	}
	img, format, err := image.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("decode %s: %w (want a PNG or JPEG image)", path, err)
	}
	b := img.Bounds()
	h, w = b.Dy(), b.Dx()
	if h <= 0 || w <= 0 {
		return nil, 0, 0, fmt.Errorf("decode %s: empty %s image", path, format)
	}
	return toRGB(img), h, w, nil
}

// toRGB copies any image into packed 8-bit RGB, with fast paths for the types the PNG
// and JPEG decoders return most often.
func toRGB(img image.Image) []uint8 {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	out := make([]uint8, h*w*3)
	switch m := img.(type) {
	case *image.RGBA: // opaque 8-bit RGB PNGs decode to this
		for y := 0; y < h; y++ {
			row := m.Pix[(y)*m.Stride:]
			for x := 0; x < w; x++ {
				if row[4*x+3] != 0xff {
					c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
					copy(out[(y*w+x)*3:], []uint8{c.R, c.G, c.B})
					continue
				}
				copy(out[(y*w+x)*3:], row[4*x:4*x+3])
			}
		}
	case *image.NRGBA: // 8-bit RGBA PNGs: non-premultiplied, so dropping alpha keeps RGB
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				copy(out[(y*w+x)*3:], row[4*x:4*x+3])
			}
		}
	case *image.YCbCr: // JPEG
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				i := (y*w + x) * 3
				out[i], out[i+1], out[i+2] = r, g, bl
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := (y*w + x) * 3
				out[i], out[i+1], out[i+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

// Normalize turns 8-bit RGB [H, W, 3] into the normalised channels-last float32 input
// of a plan, exactly as the official transform does in float32:
// ((float32(v) / 255) − mean[c]) / std[c], each step rounded to float32.
func Normalize(rgb []uint8, h, w int, mean, std [3]float32) []float32 {
	out := make([]float32, h*w*3)
	for i := range out[:min(len(out), len(rgb))] {
		c := i % 3
		v := float32(rgb[i]) / float32(255)
		v -= mean[c]
		out[i] = v / std[c]
	}
	return out
}

// ResizeRGB resizes 8-bit RGB [h, w, 3] to [nh, nw, 3] by bilinear interpolation with
// half-pixel centres (PyTorch's align_corners=False, OpenCV's INTER_LINEAR), rounding to
// the nearest level. It does not low-pass filter first, so shrinking by more than 2×
// aliases fine detail.
func ResizeRGB(rgb []uint8, h, w, nh, nw int) []uint8 {
	out := make([]uint8, nh*nw*3)
	ys := model.ResizeTaps(h, nh)
	xs := model.ResizeTaps(w, nw)
	for oy, ty := range ys {
		r0 := rgb[ty.I0*w*3:]
		r1 := rgb[ty.I1*w*3:]
		for ox, tx := range xs {
			for c := 0; c < 3; c++ {
				top := float64(r0[tx.I0*3+c])*float64(tx.L0) + float64(r0[tx.I1*3+c])*float64(tx.L1)
				bot := float64(r1[tx.I0*3+c])*float64(tx.L0) + float64(r1[tx.I1*3+c])*float64(tx.L1)
				v := top*float64(ty.L0) + bot*float64(ty.L1)
				out[(oy*nw+ox)*3+c] = uint8(math.Min(255, math.Max(0, math.Round(v))))
			}
		}
	}
	return out
}
