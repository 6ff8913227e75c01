// Package train holds the numerics of training that sit outside the plan: the six official
// DeMT task losses with their gradients w.r.t. the logits, and the optimisers (official SGD
// with the polynomial schedule, and AdamW) with state that can be saved and restored.
// Arrays are channels-last like every activation of the project: an image's logits are
// [H, W, C] and its label [H, W, Cl] (Cl = 3 for normals, else 1), 255 = ignore.
package train

import (
	"fmt"
	"math"
)

// Ignore is the label value of pixels that do not count.
const Ignore = 255

// Loss is one official task loss (src/model/criterion.py) with its weight in the total.
type Loss struct {
	Task   string
	Weight float64
	// PosWeight is the edge loss's positive weight w (0.8 NYUD, 0.95 PASCAL).
	PosWeight float64
}

// TaskWeights are the official loss weights (src/model/builder.py).
var TaskWeights = map[string]float64{
	"semseg": 1, "human_parts": 2, "sal": 5, "normals": 10, "depth": 1, "edge": 50,
}

// EdgePosWeight returns the official edge_pos_weight of a dataset ("nyud" or "pascal").
func EdgePosWeight(dataset string) (float64, error) {
	switch dataset {
	case "nyud":
		return 0.8, nil
	case "pascal":
		return 0.95, nil
	}
	return 0, fmt.Errorf("unknown dataset %q (want nyud or pascal)", dataset)
}

// NewLoss returns the official loss of task with its official weight.
func NewLoss(task string, edgePosWeight float64) (Loss, error) {
	w, ok := TaskWeights[task]
	if !ok {
		return Loss{}, fmt.Errorf("unknown task %q", task)
	}
	if task == "edge" && !(edgePosWeight > 0 && edgePosWeight < 1) {
		return Loss{}, fmt.Errorf("edge pos weight %v outside (0, 1)", edgePosWeight)
	}
	return Loss{Task: task, Weight: w, PosWeight: edgePosWeight}, nil
}

// LabelChannels returns the channels of task's label (3 for normals, else 1).
func LabelChannels(task string) int {
	if task == "normals" {
		return 3
	}
	return 1
}

// Eval computes the raw (unweighted) loss of one image: logits [h·w·c] and label [h·w·Cl]
// channels-last. If grad is not nil (same length as logits) it receives scale·dL/dlogits
// (overwritten). Normalisers (|V|, the saliency class weight) are those of this image alone,
// as on one device of the official run.
func (l Loss) Eval(logits, label []float32, h, w, c int, scale float64, grad []float32) (float64, error) {
	n := h * w
	if len(logits) != n*c {
		return 0, fmt.Errorf("%s loss: %d logits, want %d·%d·%d", l.Task, len(logits), h, w, c)
	}
	if len(label) != n*LabelChannels(l.Task) {
		return 0, fmt.Errorf("%s loss: %d label values, want %d", l.Task, len(label), n*LabelChannels(l.Task))
	}
	if grad != nil && len(grad) != len(logits) {
		return 0, fmt.Errorf("%s loss: gradient has %d values, want %d", l.Task, len(grad), len(logits))
	}
	if grad != nil {
		clear(grad)
	}
	switch l.Task {
	case "semseg", "human_parts", "sal":
		return l.crossEntropy(logits, label, n, c, scale, grad)
	case "normals":
		if c != 3 {
			return 0, fmt.Errorf("normals loss: %d channels, want 3", c)
		}
		return normalsL1(logits, label, n, scale, grad), nil
	case "depth":
		if c != 1 {
			return 0, fmt.Errorf("depth loss: %d channels, want 1", c)
		}
		return depthL1(logits, label, scale, grad), nil
	case "edge":
		if c != 1 {
			return 0, fmt.Errorf("edge loss: %d channels, want 1", c)
		}
		return edgeBCE(logits, label, l.PosWeight, scale, grad), nil
	}
	return 0, fmt.Errorf("unknown task %q", l.Task)
}

// crossEntropy is CrossEntropyLoss(ignore_index=255) summed over valid pixels and divided by
// max(|V|, 1); for sal the balanced form: class weights [1−w, w] with w = #negatives/|V|,
// still divided by the pixel count.
func (l Loss) crossEntropy(logits, label []float32, n, c int, scale float64, grad []float32) (float64, error) {
	valid, neg := 0, 0
	for p := 0; p < n; p++ {
		y := label[p]
		if y == Ignore {
			continue
		}
		k := int(y) // the official .long() truncates
		if float32(k) != y || k < 0 || k >= c {
			return 0, fmt.Errorf("%s loss: label %v at pixel %d outside 0..%d", l.Task, y, p, c-1)
		}
		if l.Task == "sal" && k > 1 {
			return 0, fmt.Errorf("sal loss: label %v at pixel %d is not binary", y, p)
		}
		valid++
		if k == 0 {
			neg++
		}
	}
	if valid == 0 {
		return 0, nil
	}
	cw := [2]float64{1, 1}
	balanced := l.Task == "sal"
	if balanced {
		wpos := float64(neg) / float64(valid)
		cw = [2]float64{1 - wpos, wpos}
	}
	inv := 1 / float64(valid)
	var total float64
	for p := 0; p < n; p++ {
		y := label[p]
		if y == Ignore {
			continue
		}
		k := int(y)
		z := logits[p*c : (p+1)*c]
		mx := math.Inf(-1)
		for _, v := range z {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range z {
			s += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(s)
		wt := 1.0
		if balanced {
			wt = cw[k]
		}
		total += wt * (lse - float64(z[k]))
		if grad != nil {
			g := grad[p*c : (p+1)*c]
			f := scale * wt * inv
			for j, v := range z {
				g[j] = float32(f * math.Exp(float64(v)-lse))
			}
			g[k] -= float32(f)
		}
	}
	return total * inv, nil
}

// normalsL1 is L1Loss(normalize=True): F.normalize(z) (eps 1e-12) against the label, summed
// over the 3 channels, averaged over pixels whose 3 label channels are all valid.
func normalsL1(logits, label []float32, n int, scale float64, grad []float32) float64 {
	valid := 0
	for p := 0; p < n; p++ {
		if label[3*p] != Ignore && label[3*p+1] != Ignore && label[3*p+2] != Ignore {
			valid++
		}
	}
	if valid == 0 {
		return 0
	}
	inv := 1 / float64(valid)
	var total float64
	for p := 0; p < n; p++ {
		y := label[3*p : 3*p+3]
		if y[0] == Ignore || y[1] == Ignore || y[2] == Ignore {
			continue
		}
		z := logits[3*p : 3*p+3]
		z0, z1, z2 := float64(z[0]), float64(z[1]), float64(z[2])
		norm := math.Sqrt(z0*z0 + z1*z1 + z2*z2)
		d := math.Max(norm, 1e-12)
		nh := [3]float64{z0 / d, z1 / d, z2 / d}
		var s [3]float64
		for j := range nh {
			e := nh[j] - float64(y[j])
			total += math.Abs(e)
			s[j] = sign(e)
		}
		if grad != nil {
			f := scale * inv / d
			g := grad[3*p : 3*p+3]
			if norm > 1e-12 {
				// d n̂/d z = (I − n̂ n̂ᵀ)/‖z‖.
				dot := nh[0]*s[0] + nh[1]*s[1] + nh[2]*s[2]
				for j := range g {
					g[j] = float32(f * (s[j] - nh[j]*dot))
				}
			} else {
				for j := range g {
					g[j] = float32(f * s[j])
				}
			}
		}
	}
	return total * inv
}

// depthL1 is L1Loss over pixels whose label is not 255.
func depthL1(logits, label []float32, scale float64, grad []float32) float64 {
	valid := 0
	for _, y := range label {
		if y != Ignore {
			valid++
		}
	}
	if valid == 0 {
		return 0
	}
	inv := 1 / float64(valid)
	var total float64
	for p, y := range label {
		if y == Ignore {
			continue
		}
		e := float64(logits[p]) - float64(y)
		total += math.Abs(e)
		if grad != nil {
			grad[p] = float32(scale * inv * sign(e))
		}
	}
	return total * inv
}

// edgeBCE is BalancedBinaryCrossEntropyLoss(pos_weight=w): the mean over valid pixels of
// −w·y·log σ(z) − (1−w)(1−y)·log(1−σ(z)), in the stable log-sum-exp form.
func edgeBCE(logits, label []float32, w, scale float64, grad []float32) float64 {
	valid := 0
	for _, y := range label {
		if y != Ignore {
			valid++
		}
	}
	if valid == 0 {
		return 0
	}
	inv := 1 / float64(valid)
	var total float64
	for p, yl := range label {
		if yl == Ignore {
			continue
		}
		z, y := float64(logits[p]), float64(yl)
		// −log σ(z) = softplus(−z), −log(1−σ(z)) = softplus(z).
		spNeg := math.Log1p(math.Exp(-math.Abs(z))) + math.Max(-z, 0)
		spPos := spNeg + z
		total += w*y*spNeg + (1-w)*(1-y)*spPos
		if grad != nil {
			sig := 1 / (1 + math.Exp(-z))
			grad[p] = float32(scale * inv * (-w*y*(1-sig) + (1-w)*(1-y)*sig))
		}
	}
	return total * inv
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// BatchResult is the losses of a batch of images.
type BatchResult struct {
	// PerImage[i][t] is the raw loss of task t (in the order of the losses) on image i.
	PerImage [][]float64
	// Total[i] = Σ_t weight_t · PerImage[i][t].
	Total []float64
	// Objective is the mean of Total over the images (what the official DDP run optimises).
	Objective float64
}

// Batch evaluates the losses on a batch of n images of h×w: logits[t] holds the n images of
// task t back to back ([n, h, w, C_t]), labels[t] likewise ([n, h, w, Cl_t]). If grads is not
// nil, grads[t] (the length of logits[t]) receives d Objective / d logits[t] = w_t/n · dL_t/dz.
func Batch(losses []Loss, n, h, w int, logits, labels, grads [][]float32) (BatchResult, error) {
	if len(logits) != len(losses) || len(labels) != len(losses) || grads != nil && len(grads) != len(losses) {
		return BatchResult{}, fmt.Errorf("batch loss: %d losses, %d logits, %d labels, %d grads", len(losses), len(logits), len(labels), len(grads))
	}
	if n <= 0 {
		return BatchResult{}, fmt.Errorf("batch loss: %d images", n)
	}
	r := BatchResult{PerImage: make([][]float64, n), Total: make([]float64, n)}
	for i := 0; i < n; i++ {
		r.PerImage[i] = make([]float64, len(losses))
	}
	for t, l := range losses {
		if len(logits[t])%(n*h*w) != 0 {
			return BatchResult{}, fmt.Errorf("%s: %d logits do not split into %d images of %d×%d", l.Task, len(logits[t]), n, h, w)
		}
		c := len(logits[t]) / (n * h * w)
		lc := LabelChannels(l.Task)
		if len(labels[t]) != n*h*w*lc {
			return BatchResult{}, fmt.Errorf("%s: %d label values, want %d", l.Task, len(labels[t]), n*h*w*lc)
		}
		img, lab := h*w*c, h*w*lc
		for i := 0; i < n; i++ {
			var g []float32
			if grads != nil {
				if len(grads[t]) != len(logits[t]) {
					return BatchResult{}, fmt.Errorf("%s: gradient has %d values, want %d", l.Task, len(grads[t]), len(logits[t]))
				}
				g = grads[t][i*img : (i+1)*img]
			}
			v, err := l.Eval(logits[t][i*img:(i+1)*img], labels[t][i*lab:(i+1)*lab], h, w, c, l.Weight/float64(n), g)
			if err != nil {
				return BatchResult{}, fmt.Errorf("image %d: %w", i, err)
			}
			r.PerImage[i][t] = v
			r.Total[i] += l.Weight * v
		}
	}
	for _, v := range r.Total {
		r.Objective += v
	}
	r.Objective /= float64(n)
	return r, nil
}
