package synth

import (
	"math"

	"github.com/demt-web/demt/colormap"
)

// PreviewColumns returns the names of the tiles of one contact-sheet row, left to right.
func PreviewColumns() []string {
	return []string{"image", "semseg", "human_parts", "sal", "edge", "depth", "normals"}
}

// ContactSheet lays samples out one per row — image, semseg and human parts (PASCAL VOC
// palette; 255 = "no person" shows as the palette's void colour), saliency and edges
// (white = 1), depth (turbo from DepthNear to DepthFar) and normals ((n+1)/2 as RGB) — with a 2-pixel
// gap, and returns RGBA pixels [H, W, 4]. All samples must have one size.
func ContactSheet(samples []*Sample) (rgba []uint8, h, w int) {
	if len(samples) == 0 {
		return nil, 0, 0
	}
	const gap = 2
	th, tw := samples[0].Height, samples[0].Width
	const cols = 7
	w = cols*tw + (cols-1)*gap
	h = len(samples)*th + (len(samples)-1)*gap
	rgba = make([]uint8, 4*w*h)
	for i := 3; i < len(rgba); i += 4 {
		rgba[i] = 255
	}
	pal := colormap.Palette()
	for si, s := range samples {
		for c := 0; c < cols; c++ {
			x0, y0 := c*(tw+gap), si*(th+gap)
			for y := 0; y < th && y < s.Height; y++ {
				for x := 0; x < tw && x < s.Width; x++ {
					p := y*s.Width + x
					var col [3]uint8
					switch c {
					case 0:
						col = [3]uint8{s.RGB[3*p], s.RGB[3*p+1], s.RGB[3*p+2]}
					case 1:
						col = pal[s.Semseg[p]]
					case 2:
						col = pal[s.HumanParts[p]]
					case 3:
						col = gray(s.Sal[p])
					case 4:
						col = gray(s.Edge[p])
					case 5:
						col[0], col[1], col[2] = colormap.Turbo((float64(s.Depth[p]) - DepthNear) / (DepthFar - DepthNear))
					default:
						for k := range col {
							col[k] = uint8(math.Round((float64(s.Normals[3*p+k]) + 1) / 2 * 255))
						}
					}
					q := 4 * ((y0+y)*w + x0 + x)
					rgba[q], rgba[q+1], rgba[q+2] = col[0], col[1], col[2]
				}
			}
		}
	}
	return rgba, h, w
}

func gray(v uint8) [3]uint8 {
	if v != 0 {
		return [3]uint8{255, 255, 255}
	}
	return [3]uint8{0, 0, 0}
}
