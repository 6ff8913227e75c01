package metrics

import (
	"fmt"
	"math"
)

// angleBinsPerDegree is the resolution of the histogram the median is read from.
const angleBinsPerDegree = 100

// AngleThresholds are the customary "% of pixels within" thresholds in degrees (not
// official: the official code reports only the mean).
var AngleThresholds = [3]float64{11.25, 22.5, 30}

// AngleError is the official MeanErrorInAngle (normals): over the pixels whose three label
// channels are all not 255, both vectors L2-normalised (a zero vector stays 0), angle =
// 2·atan2(‖p̂−t̂‖, ‖p̂+t̂‖) in degrees, the mean over the split. It also keeps, as extras the
// official code lacks, the share of pixels within AngleThresholds and a histogram (0.01°
// bins) for the median.
type AngleError struct {
	sum    float64
	total  int64
	within [len(AngleThresholds)]int64
	hist   []int64
}

// NewAngleError returns an empty AngleError.
func NewAngleError() *AngleError {
	return &AngleError{hist: make([]int64, 180*angleBinsPerDegree+1)}
}

// Add accumulates one image: pred [h, w, 3] unnormalised normals, label [h, w, 3].
func (m *AngleError) Add(pred, label []float32, h, w int) error {
	if err := checkSizes(pred, label, h, w, 3, 3); err != nil {
		return fmt.Errorf("normals: %w", err)
	}
	for p := 0; p < h*w; p++ {
		t := label[3*p : 3*p+3]
		if t[0] == Ignore || t[1] == Ignore || t[2] == Ignore {
			continue
		}
		a := PixelAngle(pred[3*p:3*p+3], t)
		m.sum += a
		m.total++
		for k, th := range AngleThresholds {
			if a < th {
				m.within[k]++
			}
		}
		m.hist[min(int(a*angleBinsPerDegree), len(m.hist)-1)]++
	}
	return nil
}

// PixelAngle is the official angle in degrees between two 3-vectors after L2
// normalisation (F.normalize: v / max(‖v‖, 1e-12)).
func PixelAngle(p, t []float32) float64 {
	px, py, pz := unit(p)
	tx, ty, tz := unit(t)
	dx, dy, dz := px-tx, py-ty, pz-tz
	sx, sy, sz := px+tx, py+ty, pz+tz
	d := math.Sqrt(dx*dx + dy*dy + dz*dz)
	s := math.Sqrt(sx*sx + sy*sy + sz*sz)
	return 2 * math.Atan2(d, s) * 180 / math.Pi
}

func unit(v []float32) (x, y, z float64) {
	x, y, z = float64(v[0]), float64(v[1]), float64(v[2])
	n := max(math.Sqrt(x*x+y*y+z*z), 1e-12)
	return x / n, y / n, z / n
}

// State returns the official states: the sum of angles (degrees) and the pixel count.
func (m *AngleError) State() (sum float64, total int64) { return m.sum, m.total }

// Result returns the mean angle error in degrees (the official compute()).
func (m *AngleError) Result() float64 { return ratio(m.sum, float64(m.total)) }

// Within returns the percentage of pixels whose angle is below each of AngleThresholds.
func (m *AngleError) Within() [len(AngleThresholds)]float64 {
	var out [len(AngleThresholds)]float64
	for k, c := range m.within {
		out[k] = 100 * ratio(float64(c), float64(m.total))
	}
	return out
}

// Median returns the median angle in degrees, to the 0.01° histogram resolution (the
// centre of the bin holding the middle pixel).
func (m *AngleError) Median() float64 {
	if m.total == 0 {
		return 0
	}
	half := (m.total + 1) / 2
	var seen int64
	for b, c := range m.hist {
		seen += c
		if seen >= half {
			return (float64(b) + 0.5) / angleBinsPerDegree
		}
	}
	return 180
}

// Values returns the mean angle error (official), then the median and the within-threshold
// percentages (extras).
func (m *AngleError) Values() []Value {
	w := m.Within()
	return []Value{
		{"mean_angle_error", m.Result()},
		{"median_angle_error", m.Median()},
		{"within_11.25", w[0]},
		{"within_22.5", w[1]},
		{"within_30", w[2]},
	}
}
