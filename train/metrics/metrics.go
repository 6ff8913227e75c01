// Package metrics implements the evaluation metrics of the official DeMT code
// (src/data/metrics.py: MeanIoU, MaxF, MeanErrorInAngle, RMSE) and a SEISM-like boundary
// odsF, as accumulators that sum over a whole split: call Add once per image, then read the
// result. docs/metrics.md defines every value and lists the deviations.
//
// Every Add takes one image in the project's channels-last layout: pred is the model's raw
// output [H, W, C] (logits; normals unnormalised; depth in metres), label is [H, W, C'] in
// the official loader encoding (float32, 255 = ignore; C' = 3 for normals, else 1).
package metrics

import (
	"fmt"
	"math"
)

// Ignore is the label value that marks a pixel as not evaluated.
const Ignore = 255

// Value is one named metric result in the units the papers report: mIoU, maxF and odsF
// in percent, angles in degrees, RMSE in the label's unit (metres).
type Value struct {
	Name  string
	Value float64
}

// Accumulator is the metric of one task, summed over the images added so far.
type Accumulator interface {
	// Add accumulates one image: pred [h, w, C] raw outputs, label [h, w, C'].
	Add(pred, label []float32, h, w int) error
	// Values returns the metric (the official one first) over everything added.
	Values() []Value
}

// Dataset edge tolerances (SEISM maxDist as a fraction of the image diagonal, from ATRC).
const (
	MaxDistNYUD   = 0.011
	MaxDistPASCAL = 0.0075
)

// ForTask returns the official accumulator of a task: channels is the model's output
// channel count for it (the class count for segmentation tasks) and maxDist the boundary
// tolerance (MaxDistNYUD or MaxDistPASCAL).
func ForTask(task string, channels int, maxDist float64) (Accumulator, error) {
	switch task {
	case "semseg", "human_parts":
		if channels < 2 {
			return nil, fmt.Errorf("metrics: %s: %d output channels, want a class count ≥ 2", task, channels)
		}
		return NewMeanIoU(channels), nil
	case "sal":
		if channels != 1 && channels != 2 {
			return nil, fmt.Errorf("metrics: sal: %d output channels, want 1 or 2", channels)
		}
		return NewMaxF(), nil
	case "normals":
		if channels != 3 {
			return nil, fmt.Errorf("metrics: normals: %d output channels, want 3", channels)
		}
		return NewAngleError(), nil
	case "depth":
		if channels != 1 {
			return nil, fmt.Errorf("metrics: depth: %d output channels, want 1", channels)
		}
		return NewRMSE(), nil
	case "edge":
		if channels != 1 {
			return nil, fmt.Errorf("metrics: edge: %d output channels, want 1", channels)
		}
		return NewBoundary(maxDist), nil
	}
	return nil, fmt.Errorf("metrics: unknown task %q", task)
}

// checkSizes checks that pred holds h·w·c values and label h·w·lc.
func checkSizes(pred, label []float32, h, w, c, lc int) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("bad image size %dx%d", h, w)
	}
	if len(pred) != h*w*c {
		return fmt.Errorf("prediction has %d values, want %dx%dx%d", len(pred), h, w, c)
	}
	if len(label) != h*w*lc {
		return fmt.Errorf("label has %d values, want %dx%dx%d", len(label), h, w, lc)
	}
	return nil
}

// ratio returns a/b, 0 when b is 0 (the official NaN → 0).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// finite maps NaN to 0, as the official compute() does.
func finite(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}
