package metrics

import (
	"fmt"
	"math"
)

// RMSE is the depth RMSE of the official code, pooled over the split:
// sqrt(Σ (max(pred,0) − gt)² / N) over the evaluated pixels.
//
// Invalid depth: the official RMSE ignores label 0 (its ignore_index), but the official
// loader has already turned missing depth 0 into 255, so with missing depth the official
// number counts those pixels with target 255. NewRMSE ignores both 0 and 255, which equals
// the official value whenever the labels have no invalid pixels (the real NYUD val set) and
// otherwise the evident intent; NewOfficialRMSE reproduces the official mask (0 only).
type RMSE struct {
	ignore []float32
	sse    float64
	total  int64
}

// NewRMSE returns an RMSE that ignores label values 0 and 255 (invalid depth in both the
// raw and the official loader's encoding).
func NewRMSE() *RMSE { return &RMSE{ignore: []float32{0, Ignore}} }

// NewOfficialRMSE returns an RMSE with the official mask: label 0 ignored, 255 counted.
func NewOfficialRMSE() *RMSE { return &RMSE{ignore: []float32{0}} }

// Add accumulates one image: pred [h, w, 1] depth (clamped ≥ 0 here, as the official
// validation_step does), label [h, w].
func (m *RMSE) Add(pred, label []float32, h, w int) error {
	if err := checkSizes(pred, label, h, w, 1, 1); err != nil {
		return fmt.Errorf("depth: %w", err)
	}
pixels:
	for p, l := range label {
		for _, ig := range m.ignore {
			if l == ig {
				continue pixels
			}
		}
		d := float64(max(pred[p], 0)) - float64(l)
		m.sse += d * d
		m.total++
	}
	return nil
}

// State returns the official states: the sum of squared errors and the pixel count.
func (m *RMSE) State() (sse float64, total int64) { return m.sse, m.total }

// Result returns the RMSE in the label's unit.
func (m *RMSE) Result() float64 { return math.Sqrt(ratio(m.sse, float64(m.total))) }

// Values returns the RMSE.
func (m *RMSE) Values() []Value { return []Value{{"rmse", m.Result()}} }
