package dataset

import (
	"math"
	"math/rand/v2"
)

// Augmenter applies the official training augmentation (ATRC/DeMT train_transforms) with its
// own seeded random source: RandomScaling (U(0.5, 2)), RandomCrop (with cat_max_ratio 0.75
// on semseg), RandomHorizontalFlip (p 0.5) and PhotoMetricDistortion. Python's random
// stream cannot be matched; the distributions and the arithmetic are the official ones.
// An Augmenter is not safe for concurrent use.
type Augmenter struct {
	rng          *rand.Rand
	cropH, cropW int
}

// NewAugmenter returns an augmenter cropping to cropH×cropW (the official 425×560 NYUD,
// 512×512 PASCAL) with a random source seeded by seed.
func NewAugmenter(seed uint64, cropH, cropW int) *Augmenter {
	return &Augmenter{rng: rand.New(rand.NewPCG(seed, 0x64656d74)), cropH: cropH, cropW: cropW}
}

// Official augmentation constants.
const (
	minScale        = 0.5
	maxScale        = 2.0
	catMaxRatio     = 0.75
	cropTries       = 10
	brightnessDelta = 32
	contrastLo      = 0.5
	contrastHi      = 1.5
	saturationLo    = 0.5
	saturationHi    = 1.5
	hueDelta        = 18
)

// uniform is Python's random.uniform(a, b).
func (a *Augmenter) uniform(lo, hi float64) float64 { return lo + (hi-lo)*a.rng.Float64() }

// coin is a fair Bernoulli draw.
func (a *Augmenter) coin() bool { return a.rng.IntN(2) == 1 }

// Train applies the whole official train transform chain to a sample as loaded: the
// augmentation, Normalize, PadImage to the crop size and AddIgnoreRegions.
func (a *Augmenter) Train(s *Sample) {
	a.Augment(s)
	Normalize(s)
	PadTo(s, a.cropH, a.cropW)
	AddIgnoreRegions(s)
}

// Augment applies RandomScaling, RandomCrop, RandomHorizontalFlip and
// PhotoMetricDistortion, in that order, to a sample as loaded (image 0..255).
func (a *Augmenter) Augment(s *Sample) {
	a.scale(s)
	a.crop(s)
	if a.rng.Float64() < 0.5 {
		flip(s)
	}
	a.photometric(s)
}

// scale is RandomScaling: s ~ U(0.5, 2), new size (int(H·s), int(W·s)); cv2.resize with
// INTER_LINEAR for the image and INTER_NEAREST for the labels; depth divided by s.
func (a *Augmenter) scale(s *Sample) {
	f := a.uniform(minScale, maxScale)
	if f == 1 {
		return
	}
	nh, nw := int(float64(s.H)*f), int(float64(s.W)*f)
	if nh < 1 || nw < 1 {
		return
	}
	s.Image = resizeLinear(s.Image, s.H, s.W, 3, nh, nw)
	for t, l := range s.Labels {
		l = resizeNearest(l, s.H, s.W, Channels(t), nh, nw)
		if t == "depth" {
			for i := range l {
				l[i] = float32(float64(l[i]) / f)
			}
		}
		s.Labels[t] = l
	}
	s.H, s.W = nh, nw
}

// resizeLinear is cv2.resize INTER_LINEAR on float data (half-pixel centres, borders
// clamped, no low-pass filter).
func resizeLinear(src []float32, h, w, c, nh, nw int) []float32 {
	ys, xs := linearTaps(h, nh), linearTaps(w, nw)
	dst := make([]float32, nh*nw*c)
	for oy, ty := range ys {
		for ox, tx := range xs {
			for k := 0; k < c; k++ {
				at := func(y, x int) float32 { return src[(y*w+x)*c+k] }
				top := at(ty.i0, tx.i0)*(1-tx.f) + at(ty.i0, tx.i1)*tx.f
				bot := at(ty.i1, tx.i0)*(1-tx.f) + at(ty.i1, tx.i1)*tx.f
				dst[(oy*nw+ox)*c+k] = top*(1-ty.f) + bot*ty.f
			}
		}
	}
	return dst
}

type tap struct {
	i0, i1 int
	f      float32
}

// linearTaps are OpenCV's INTER_LINEAR source positions: f = (d+0.5)·n/m − 0.5, clamped.
func linearTaps(n, m int) []tap {
	scale := float64(n) / float64(m)
	out := make([]tap, m)
	for d := range out {
		f := (float64(d)+0.5)*scale - 0.5
		s := int(math.Floor(f))
		f -= float64(s)
		if s < 0 {
			s, f = 0, 0
		}
		if s >= n-1 {
			s, f = n-1, 0
		}
		out[d] = tap{i0: s, i1: min(s+1, n-1), f: float32(f)}
	}
	return out
}

// resizeNearest is cv2.resize INTER_NEAREST: source index floor(d·n/m).
func resizeNearest(src []float32, h, w, c, nh, nw int) []float32 {
	dst := make([]float32, nh*nw*c)
	fy, fx := float64(h)/float64(nh), float64(w)/float64(nw)
	for y := 0; y < nh; y++ {
		sy := min(int(math.Floor(float64(y)*fy)), h-1)
		for x := 0; x < nw; x++ {
			sx := min(int(math.Floor(float64(x)*fx)), w-1)
			copy(dst[(y*nw+x)*c:(y*nw+x+1)*c], src[(sy*w+sx)*c:(sy*w+sx+1)*c])
		}
	}
	return dst
}

// crop is RandomCrop: offsets randint(0, max(dim − crop, 0)) inclusive; with semseg, up to
// 10 re-draws until more than one non-255 class is present and the largest has a share
// below 0.75 (after 10 failures the last draw is used unchecked). A side smaller than the
// crop stays as it is; a sample of exactly the crop size is unchanged.
func (a *Augmenter) crop(s *Sample) {
	if s.H == a.cropH && s.W == a.cropW {
		return
	}
	draw := func() (int, int) {
		return a.rng.IntN(max(s.H-a.cropH, 0) + 1), a.rng.IntN(max(s.W-a.cropW, 0) + 1)
	}
	top, left := draw()
	ch, cw := min(a.cropH, s.H), min(a.cropW, s.W)
	if seg, ok := s.Labels["semseg"]; ok {
		counts := map[float32]int{}
		for try := 0; try < cropTries; try++ {
			clear(counts)
			total, largest := 0, 0
			for y := top; y < top+ch; y++ {
				for _, v := range seg[y*s.W+left : y*s.W+left+cw] {
					if v != Ignore {
						counts[v]++
						total++
						largest = max(largest, counts[v])
					}
				}
			}
			if len(counts) > 1 && float64(largest)/float64(total) < catMaxRatio {
				break
			}
			top, left = draw()
		}
	}
	cut := func(src []float32, c int) []float32 {
		dst := make([]float32, 0, ch*cw*c)
		for y := top; y < top+ch; y++ {
			dst = append(dst, src[(y*s.W+left)*c:(y*s.W+left+cw)*c]...)
		}
		return dst
	}
	s.Image = cut(s.Image, 3)
	for t, l := range s.Labels {
		s.Labels[t] = cut(l, Channels(t))
	}
	s.H, s.W = ch, cw
}

// flip mirrors the sample left-right; the normals' x component changes sign.
func flip(s *Sample) {
	mirror := func(v []float32, c int) {
		for y := 0; y < s.H; y++ {
			row := v[y*s.W*c : (y+1)*s.W*c]
			for i, j := 0, s.W-1; i < j; i, j = i+1, j-1 {
				for k := 0; k < c; k++ {
					row[i*c+k], row[j*c+k] = row[j*c+k], row[i*c+k]
				}
			}
		}
	}
	mirror(s.Image, 3)
	for t, l := range s.Labels {
		mirror(l, Channels(t))
		if t == "normals" {
			for p := 0; p < len(l); p += 3 {
				l[p] = -l[p]
			}
		}
	}
}

// photometric is PhotoMetricDistortion on the image cast to uint8 (truncating): brightness,
// then contrast first or last (a coin), saturation and hue in OpenCV's 8-bit HSV, each
// applied with probability 0.5; there is no channel swap.
func (a *Augmenter) photometric(s *Sample) {
	img := make([]uint8, len(s.Image))
	for i, v := range s.Image {
		img[i] = uint8(min(max(v, 0), 255))
	}
	convert := func(v []uint8, stride int, alpha, beta float32) {
		for i := 0; i < len(v); i += stride {
			v[i] = uint8(min(max(float32(v[i])*alpha+beta, 0), 255))
		}
	}
	if a.coin() {
		convert(img, 1, 1, float32(a.uniform(-brightnessDelta, brightnessDelta)))
	}
	contrastFirst := a.rng.Float64() < 0.5
	contrast := func() {
		if a.coin() {
			convert(img, 1, float32(a.uniform(contrastLo, contrastHi)), 0)
		}
	}
	if contrastFirst {
		contrast()
	}
	if a.coin() {
		alpha := float32(a.uniform(saturationLo, saturationHi))
		rgbToHSV(img)
		convert(img[1:], 3, alpha, 0)
		hsvToRGB(img)
	}
	if a.coin() {
		shift := a.rng.IntN(2*hueDelta) - hueDelta // numpy randint(−18, 18): −18..17
		rgbToHSV(img)
		for i := 0; i < len(img); i += 3 {
			img[i] = uint8(((int(img[i])+shift)%180 + 180) % 180)
		}
		hsvToRGB(img)
	}
	if !contrastFirst {
		contrast()
	}
	for i, v := range img {
		s.Image[i] = float32(v)
	}
}

// rgbToHSV is OpenCV's 8-bit COLOR_RGB2HSV in place (H in [0, 180), fixed point with
// 12 fractional bits, as cv::RGB2HSV_b).
func rgbToHSV(img []uint8) {
	const shift = 12
	for i := 0; i+2 < len(img); i += 3 {
		r, g, b := int(img[i]), int(img[i+1]), int(img[i+2])
		v := max(r, g, b)
		diff := v - min(r, g, b)
		s := 0
		if v != 0 {
			s = (diff*int(math.Round(float64(255<<shift)/float64(v))) + 1<<(shift-1)) >> shift
		}
		h := 0
		if diff != 0 {
			switch {
			case v == r:
				h = g - b
			case v == g:
				h = b - r + 2*diff
			default:
				h = r - g + 4*diff
			}
			h = (h*int(math.Round(float64(180<<shift)/(6*float64(diff)))) + 1<<(shift-1)) >> shift
			if h < 0 {
				h += 180
			}
		}
		img[i], img[i+1], img[i+2] = uint8(h), uint8(s), uint8(v)
	}
}

// hsvToRGB is OpenCV's 8-bit COLOR_HSV2RGB in place (through float, as cv::HSV2RGB_b).
func hsvToRGB(img []uint8) {
	sectors := [6][3]int{{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}}
	for i := 0; i+2 < len(img); i += 3 {
		h := float32(img[i]) * (6.0 / 180)
		s := float32(img[i+1]) * (1.0 / 255)
		v := float32(img[i+2]) * (1.0 / 255)
		r, g, b := v, v, v
		if s != 0 {
			for h >= 6 {
				h -= 6
			}
			sector := int(math.Floor(float64(h)))
			h -= float32(sector)
			if sector < 0 || sector >= 6 {
				sector, h = 0, 0
			}
			tab := [4]float32{v, v * (1 - s), v * (1 - s*h), v * (1 - s*(1-h))}
			b, g, r = tab[sectors[sector][0]], tab[sectors[sector][1]], tab[sectors[sector][2]]
		}
		img[i], img[i+1], img[i+2] = round8(r), round8(g), round8(b)
	}
}

// round8 is saturate_cast<uchar>(v·255), rounding half to even like cvRound.
func round8(v float32) uint8 {
	return uint8(min(max(math.RoundToEven(float64(v*255)), 0), 255))
}
