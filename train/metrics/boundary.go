package metrics

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// BoundaryThresholds is the number of thresholds of the boundary F-measure: k/100 for
// k = 1..99 on the saved 8-bit map divided by 255, as the BSDS benchmark does.
const BoundaryThresholds = 99

// nmsMargin is the ratio by which a pixel must beat its neighbours across the edge to
// survive non-maximum suppression (edgesNms's m).
const nmsMargin = 1.01

// Boundary is a SEISM-like boundary F-measure (measure 'fb'), summed over the split. Per
// image: the edge logits become the 8-bit map the official code saves
// (uint8(255·sigmoid), truncated); non-maximum suppression across the local edge
// orientation; for each threshold the binary map is thinned and its pixels are matched
// one-to-one to the ground-truth boundary pixels within maxDist × the image diagonal
// (a maximum bipartite matching); pixels whose label is 255 are not evaluated. odsF is the
// best F over thresholds of the split-summed counts, oisF the F of the per-image best
// thresholds' counts. docs/metrics.md lists how this differs from SEISM.
type Boundary struct {
	maxDist float64
	// Split sums per threshold: matched prediction pixels (= matched ground-truth pixels),
	// prediction pixels, ground-truth pixels.
	match, pred, gt [BoundaryThresholds]int64
	// Sums of the per-image best threshold's counts (OIS).
	oisMatch, oisPred, oisGT int64
	images                   int

	workers int

	saved                 []uint8
	soft, smooth, tmp     []float32
	ox, oy, oxx, oxy, oyy []float32
	img                   edgeImage
	pool                  []*thresholdWorker
	counts                [BoundaryThresholds][3]int64
	offsetsFor            [2]int
}

// NewBoundary returns an empty Boundary with tolerance maxDist (a fraction of the image
// diagonal: MaxDistNYUD or MaxDistPASCAL).
// The thresholds of an image are split among up to GOMAXPROCS workers.
func NewBoundary(maxDist float64) *Boundary {
	return &Boundary{maxDist: maxDist, workers: runtime.GOMAXPROCS(0)}
}

// SavedEdge writes the 8-bit map the official code saves for edge logits:
// uint8(255·sigmoid(logit)) with float32 arithmetic and truncation.
func SavedEdge(logits []float32, dst []uint8) {
	for i, z := range logits {
		dst[i] = uint8(255 * sigmoid32(z))
	}
}

// Add accumulates one image: pred [h, w, 1] edge logits, label [h, w] 0/1 or 255.
func (b *Boundary) Add(pred, label []float32, h, w int) error {
	if err := checkSizes(pred, label, h, w, 1, 1); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	b.saved = grow(b.saved, h*w)
	SavedEdge(pred, b.saved)
	return b.AddSaved(b.saved, label, h, w)
}

// AddSaved accumulates one image given as the saved 8-bit edge map (h×w) and its label.
func (b *Boundary) AddSaved(saved []uint8, label []float32, h, w int) error {
	if h <= 0 || w <= 0 || len(saved) != h*w || len(label) != h*w {
		return fmt.Errorf("edge: %d map values and %d label values for a %dx%d image", len(saved), len(label), h, w)
	}
	b.prepare(h, w)
	im := &b.img
	im.label, im.saved = label, saved
	im.gtPix = im.gtPix[:0]
	for i, l := range label {
		im.gtIndex[i] = -1
		switch l {
		case 1:
			im.gtIndex[i] = int32(len(im.gtPix))
			im.gtPix = append(im.gtPix, int32(i))
		case 0, Ignore:
		default:
			return fmt.Errorf("edge: label value %g at pixel %d is not 0, 1 or 255", l, i)
		}
	}
	for i, v := range saved {
		b.soft[i] = float32(v) / 255
	}
	b.suppress(h, w)

	// Contiguous threshold ranges per worker: each warm-starts its matchings from the
	// previous threshold's.
	nw := max(1, min(b.workers, BoundaryThresholds))
	for len(b.pool) < nw {
		b.pool = append(b.pool, &thresholdWorker{})
	}
	var wg sync.WaitGroup
	for i := 0; i < nw; i++ {
		k0, k1 := 1+i*BoundaryThresholds/nw, 1+(i+1)*BoundaryThresholds/nw
		wg.Add(1)
		go func(t *thresholdWorker) {
			defer wg.Done()
			t.run(im, k0, k1, b.counts[k0-1:k1-1])
		}(b.pool[i])
	}
	wg.Wait()
	best, bestF := 0, -1.0
	for k, c := range b.counts {
		b.match[k] += c[0]
		b.pred[k] += c[1]
		b.gt[k] += c[2]
		if f := fMeasure(c[0], c[1], c[0], c[2]); f > bestF {
			best, bestF = k, f
		}
	}
	b.oisMatch += b.counts[best][0]
	b.oisPred += b.counts[best][1]
	b.oisGT += b.counts[best][2]
	b.images++
	return nil
}

// prepare sizes the scratch buffers for an h×w image and the radius offsets.
func (b *Boundary) prepare(h, w int) {
	n := h * w
	b.soft, b.smooth, b.tmp = grow(b.soft, n), grow(b.smooth, n), grow(b.tmp, n)
	b.ox, b.oy = grow(b.ox, n), grow(b.oy, n)
	b.oxx, b.oxy, b.oyy = grow(b.oxx, n), grow(b.oxy, n), grow(b.oyy, n)
	im := &b.img
	im.nms, im.gtIndex = grow(im.nms, n), grow(im.gtIndex, n)
	im.h, im.w = h, w
	if b.offsetsFor != [2]int{h, w} {
		b.offsetsFor = [2]int{h, w}
		im.offsets = radiusOffsets(b.maxDist*math.Hypot(float64(h), float64(w)), im.offsets[:0])
	}
}

// radiusOffsets appends to dst every (dy, dx) with dy² + dx² ≤ r², nearest first.
func radiusOffsets(r float64, dst [][2]int) [][2]int {
	ri := int(r)
	for d2 := 0; float64(d2) <= r*r; d2++ {
		for dy := -ri; dy <= ri; dy++ {
			for dx := -ri; dx <= ri; dx++ {
				if dy*dy+dx*dx == d2 {
					dst = append(dst, [2]int{dy, dx})
				}
			}
		}
	}
	return dst
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// suppress writes to b.nms the non-maximum suppression of b.soft (edgesNms with r = 1,
// m = 1.01, no border suppression): the orientation O = atan(Oyy·sign(−Oxy)/(Oxx+1e-5))
// mod π from the second derivatives of the triangle-smoothed (radius 4) map; a pixel keeps
// its value unless 1.01× its value is below the value bilinearly interpolated one pixel away
// along (cos O, sin O) on either side.
func (b *Boundary) suppress(h, w int) {
	convTri(b.soft, b.smooth, b.tmp, h, w, 4)
	gradX(b.smooth, b.ox, h, w)
	gradY(b.smooth, b.oy, h, w)
	gradX(b.ox, b.oxx, h, w)
	gradX(b.oy, b.oxy, h, w)
	gradY(b.oy, b.oyy, h, w)
	e := b.soft
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			b.img.nms[i] = e[i]
			if e[i] == 0 {
				continue
			}
			sign := float32(1)
			switch {
			case -b.oxy[i] < 0:
				sign = -1
			case b.oxy[i] == 0:
				sign = 0
			}
			o := math.Atan(float64(b.oyy[i]*sign) / float64(b.oxx[i]+1e-5))
			o = math.Mod(o, math.Pi)
			if o < 0 {
				o += math.Pi
			}
			co, si := math.Cos(o), math.Sin(o)
			v := e[i] * nmsMargin
			for _, d := range [2]float64{-1, 1} {
				if v < interp(e, h, w, float64(x)+d*co, float64(y)+d*si) {
					b.img.nms[i] = 0
					break
				}
			}
		}
	}
}

// interp samples img bilinearly at (x, y), clamped inside the image as edgesNms does.
func interp(img []float32, h, w int, x, y float64) float32 {
	x = min(max(x, 0), float64(w)-1.001)
	y = min(max(y, 0), float64(h)-1.001)
	if w == 1 {
		x = 0
	}
	if h == 1 {
		y = 0
	}
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	dx, dy := float32(x-float64(x0)), float32(y-float64(y0))
	return img[y0*w+x0]*(1-dx)*(1-dy) + img[y0*w+x1]*dx*(1-dy) + img[y1*w+x0]*(1-dx)*dy + img[y1*w+x1]*dx*dy
}

// convTri is Dollár's convTri for an integer radius r: a separable triangle filter
// [1 … r+1 … 1]/(r+1)² with symmetric (edge-repeating) padding; tmp is scratch.
func convTri(src, dst, tmp []float32, h, w, r int) {
	norm := float32((r + 1) * (r + 1))
	sym := func(i, n int) int {
		for i < 0 || i >= n {
			if i < 0 {
				i = -i - 1
			}
			if i >= n {
				i = 2*n - 1 - i
			}
		}
		return i
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float32
			for d := -r; d <= r; d++ {
				s += float32(r+1-abs(d)) * src[y*w+sym(x+d, w)]
			}
			tmp[y*w+x] = s / norm
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float32
			for d := -r; d <= r; d++ {
				s += float32(r+1-abs(d)) * tmp[sym(y+d, h)*w+x]
			}
			dst[y*w+x] = s / norm
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// gradX is MATLAB's gradient along x: central differences inside, one-sided at the borders.
func gradX(src, dst []float32, h, w int) {
	for y := 0; y < h; y++ {
		row, out := src[y*w:y*w+w], dst[y*w:y*w+w]
		for x := range out {
			switch {
			case w == 1:
				out[x] = 0
			case x == 0:
				out[x] = row[1] - row[0]
			case x == w-1:
				out[x] = row[w-1] - row[w-2]
			default:
				out[x] = (row[x+1] - row[x-1]) / 2
			}
		}
	}
}

// gradY is MATLAB's gradient along y.
func gradY(src, dst []float32, h, w int) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var g float32
			switch {
			case h == 1:
			case y == 0:
				g = src[w+x] - src[x]
			case y == h-1:
				g = src[y*w+x] - src[(y-1)*w+x]
			default:
				g = (src[(y+1)*w+x] - src[(y-1)*w+x]) / 2
			}
			dst[y*w+x] = g
		}
	}
}

// fMeasure is the boundary F of matched/prediction and matched/ground-truth counts.
func fMeasure(matchP, sumP, matchR, sumR int64) float64 {
	p := ratio(float64(matchP), float64(sumP))
	r := ratio(float64(matchR), float64(sumR))
	return ratio(2*p*r, p+r)
}

// Counts returns the split sums per threshold k/100 (k = 1..99): matched pixels, prediction
// pixels and ground-truth pixels.
func (b *Boundary) Counts() (match, pred, gt []int64) { return b.match[:], b.pred[:], b.gt[:] }

// ODS returns the optimal-dataset-scale F (a fraction) and its threshold.
func (b *Boundary) ODS() (f, threshold float64) {
	for k := range b.match {
		if v := fMeasure(b.match[k], b.pred[k], b.match[k], b.gt[k]); v > f {
			f, threshold = v, float64(k+1)/100
		}
	}
	return f, threshold
}

// OIS returns the optimal-image-scale F (a fraction).
func (b *Boundary) OIS() float64 {
	return fMeasure(b.oisMatch, b.oisPred, b.oisMatch, b.oisGT)
}

// Values returns odsF (percent), then oisF (percent) and the ODS threshold.
func (b *Boundary) Values() []Value {
	f, t := b.ODS()
	return []Value{{"odsF", 100 * f}, {"oisF", 100 * b.OIS()}, {"ods_threshold", t}}
}
