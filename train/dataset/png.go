package dataset

import (
	"fmt"
	"image"
	"image/png"
	"os"

	"github.com/demt-web/demt/imageio"
)

// readImageRGB reads a PNG or JPEG as 8-bit RGB turned into float32 0..255 (PIL
// convert('RGB') then astype(float32)). JPEG decoding is Go's, which can differ from PIL's
// libjpeg by a few levels (docs/metrics.md).
func readImageRGB(path string) ([]float32, int, int, error) {
	rgb, h, w, err := imageio.Decode(path)
	if err != nil {
		return nil, 0, 0, err
	}
	out := make([]float32, len(rgb))
	for i, v := range rgb {
		out[i] = float32(v)
	}
	return out, h, w, nil
}

// readRGB8 reads a PNG's 8-bit RGB values.
func readRGB8(path string) ([]uint8, int, int, error) {
	return imageio.Decode(path)
}

// readGrayPNG reads a single-channel PNG as np.array(Image.open(path)) sees it: grey
// values, or palette indices (not colours) for a palette PNG; 16-bit grey keeps its value.
func readGrayPNG(path string) ([]int32, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > imageio.MaxPixels {
		return nil, 0, 0, fmt.Errorf("%s: %dx%d exceeds %d pixels", path, cfg.Height, cfg.Width, imageio.MaxPixels)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, 0, 0, err
	}
	img, err := png.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	out := make([]int32, h*w)
	switch m := img.(type) {
	case *image.Paletted:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out[y*w+x] = int32(m.Pix[y*m.Stride+x])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out[y*w+x] = int32(m.Pix[y*m.Stride+x])
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out[y*w+x] = int32(m.Gray16At(b.Min.X+x, b.Min.Y+y).Y)
			}
		}
	default:
		return nil, 0, 0, fmt.Errorf("%s: %w", path, errNotGray)
	}
	return out, h, w, nil
}

// normalsFromRGB decodes an 8-bit normals PNG as the official loaders do, in float32:
// 2·v/255 − 1 per channel (R, G, B → x, y, z).
func normalsFromRGB(rgb []uint8) []float32 {
	out := make([]float32, len(rgb))
	for i, v := range rgb {
		t := 2 * float32(v)
		t /= 255
		out[i] = t - 1
	}
	return out
}
