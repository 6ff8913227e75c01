package metrics

import "fmt"

// MeanIoU is the official MeanIoU (semseg, human_parts): per class the intersection and
// union of argmax(pred) and the label over the pixels whose label is not 255, summed over
// the split; the result is the mean IoU over all classes, a class with an empty union
// counting 0.
type MeanIoU struct {
	classes      int
	intersection []int64
	union        []int64
}

// NewMeanIoU returns an empty MeanIoU over classes classes.
func NewMeanIoU(classes int) *MeanIoU {
	return &MeanIoU{classes: classes, intersection: make([]int64, classes), union: make([]int64, classes)}
}

// Add accumulates one image: pred [h, w, classes] logits, label [h, w] class ids or 255.
// The argmax takes the first maximal index on ties, as torch does.
func (m *MeanIoU) Add(pred, label []float32, h, w int) error {
	if err := checkSizes(pred, label, h, w, m.classes, 1); err != nil {
		return fmt.Errorf("mIoU: %w", err)
	}
	c := m.classes
	for p, l := range label {
		if l == Ignore {
			continue
		}
		g := int(l)
		if float32(g) != l || g < 0 || g >= c {
			return fmt.Errorf("mIoU: label value %g at pixel %d is neither a class in [0,%d) nor 255", l, p, c)
		}
		v := pred[p*c : p*c+c]
		best, bi := v[0], 0
		for k := 1; k < c; k++ {
			if v[k] > best {
				best, bi = v[k], k
			}
		}
		m.union[bi]++
		if bi == g {
			m.intersection[bi]++
		} else {
			m.union[g]++
		}
	}
	return nil
}

// Intersection returns the per-class intersection counts (the official state).
func (m *MeanIoU) Intersection() []int64 { return m.intersection }

// Union returns the per-class union counts (the official state).
func (m *MeanIoU) Union() []int64 { return m.union }

// IoU returns the per-class IoU, 0 for a class with an empty union.
func (m *MeanIoU) IoU() []float64 {
	out := make([]float64, m.classes)
	for k := range out {
		out[k] = ratio(float64(m.intersection[k]), float64(m.union[k]))
	}
	return out
}

// Result returns the mean IoU as a fraction (the official compute(); papers report ×100).
func (m *MeanIoU) Result() float64 {
	s := 0.0
	for _, v := range m.IoU() {
		s += v
	}
	return s / float64(m.classes)
}

// Values returns mIoU in percent.
func (m *MeanIoU) Values() []Value { return []Value{{"mIoU", 100 * m.Result()}} }
