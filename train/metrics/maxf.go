package metrics

import (
	"fmt"
	"math"
)

// BetaSquared is the official β² of MaxF.
const BetaSquared = 0.3

// maxFThresholdBits are the float32 bit patterns of torch.arange(0.05, 1, 0.05) (torch 1.13,
// CPU): 0.05 … 0.95, where the 11th is 0.59999996, not the nearest float32 to 0.6.
var maxFThresholdBits = [...]uint32{
	0x3d4ccccd, 0x3dcccccd, 0x3e19999a, 0x3e4ccccd, 0x3e800000, 0x3e99999a, 0x3eb33333,
	0x3ecccccd, 0x3ee66666, 0x3f000000, 0x3f0ccccd, 0x3f199999, 0x3f266666, 0x3f333333,
	0x3f400000, 0x3f4ccccd, 0x3f59999a, 0x3f666666, 0x3f733333,
}

// MaxFThresholds returns the 19 official thresholds.
func MaxFThresholds() []float32 {
	out := make([]float32, len(maxFThresholdBits))
	for i, b := range maxFThresholdBits {
		out[i] = math.Float32frombits(b)
	}
	return out
}

// MaxF is the official saliency MaxF: prob = softmax(pred)[1] (sigmoid for a 1-channel
// output); for each threshold τ over the pixels whose label is not 255, TP += [prob ≥ τ]·y,
// PP += [prob ≥ τ], AP += y, summed over the split; F = (1+β²)PR/(β²P+R), NaN → 0; the
// result is the largest F.
type MaxF struct {
	thresholds []float32
	tp, pp, ap []int64
}

// NewMaxF returns an empty MaxF over the official thresholds.
func NewMaxF() *MaxF {
	n := len(maxFThresholdBits)
	return &MaxF{thresholds: MaxFThresholds(), tp: make([]int64, n), pp: make([]int64, n), ap: make([]int64, n)}
}

// Add accumulates one image: pred [h, w, 2] logits (or [h, w, 1]), label [h, w] 0/1 or 255.
func (m *MaxF) Add(pred, label []float32, h, w int) error {
	if h > 0 && w > 0 && len(pred) != 2*h*w && len(pred) != h*w {
		return fmt.Errorf("maxF: prediction has %d values, want %dx%dx2 or x1", len(pred), h, w)
	}
	c := 1
	if len(pred) == 2*h*w {
		c = 2
	}
	if err := checkSizes(pred, label, h, w, c, 1); err != nil {
		return fmt.Errorf("maxF: %w", err)
	}
	for p, l := range label {
		if l == Ignore {
			continue
		}
		if l != 0 && l != 1 {
			return fmt.Errorf("maxF: label value %g at pixel %d is not 0, 1 or 255", l, p)
		}
		var prob float32
		if c == 2 {
			prob = softmax2(pred[2*p], pred[2*p+1])
		} else {
			prob = sigmoid32(pred[p])
		}
		pos := l == 1
		for k, t := range m.thresholds {
			if prob >= t {
				m.pp[k]++
				if pos {
					m.tp[k]++
				}
			}
			if pos {
				m.ap[k]++
			}
		}
	}
	return nil
}

// softmax2 is torch's float32 softmax of (a, b), its second entry.
func softmax2(a, b float32) float32 {
	mx := max(a, b)
	ea := float32(math.Exp(float64(a - mx)))
	eb := float32(math.Exp(float64(b - mx)))
	return eb / (ea + eb)
}

// sigmoid32 is 1/(1+e^−x) in float32.
func sigmoid32(x float32) float32 {
	return 1 / (1 + float32(math.Exp(float64(-x))))
}

// Thresholds returns the thresholds; Counts the official states TP, PP and AP per threshold.
func (m *MaxF) Thresholds() []float32 { return m.thresholds }

// Counts returns the official states: true positives, predicted positives and actual
// positives per threshold.
func (m *MaxF) Counts() (tp, pp, ap []int64) { return m.tp, m.pp, m.ap }

// F returns the F-measure per threshold.
func (m *MaxF) F() []float64 {
	out := make([]float64, len(m.thresholds))
	for k := range out {
		p := float64(m.tp[k]) / float64(m.pp[k])
		r := float64(m.tp[k]) / float64(m.ap[k])
		out[k] = finite((1 + BetaSquared) * p * r / (BetaSquared*p + r))
	}
	return out
}

// Result returns maxF as a fraction (the official compute(); papers report ×100) and the
// index of the threshold that attains it.
func (m *MaxF) Result() (f float64, threshold int) {
	for k, v := range m.F() {
		if v > f {
			f, threshold = v, k
		}
	}
	return f, threshold
}

// Values returns maxF in percent.
func (m *MaxF) Values() []Value {
	f, _ := m.Result()
	return []Value{{"maxF", 100 * f}}
}
