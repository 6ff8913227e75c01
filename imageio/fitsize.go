package imageio

import "math"

// DefaultLongSide is the long side FitSize fits larger images to by default: the input size
// the CLI and the browser use when no size is given.
const DefaultLongSide = 512

// minFitSide is the smallest side FitSize returns for a shrunk image.
const minFitSide = 16

// FitSize returns the model input size for an h×w image: an image whose long side exceeds
// long is scaled down to a long side of long, keeping its aspect ratio (each side rounded,
// at least 16); smaller images keep their own size.
func FitSize(h, w, long int) (int, int) {
	m := max(h, w)
	if m <= long {
		return h, w
	}
	scale := float64(long) / float64(m)
	fit := func(side int) int { return max(minFitSide, int(math.Round(float64(side)*scale))) }
	return fit(h), fit(w)
}
