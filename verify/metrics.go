package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
	"github.com/demt-web/demt/train/metrics"
)

// MetricTolerance is the relative tolerance of a metric value (the official accumulators are
// float32); counts must match exactly.
const MetricTolerance = 1e-5

// MetricCheck is one comparison of a metric fixture: a value or a state of an official
// metric, recomputed by package metrics.
type MetricCheck struct {
	Name string
	Got  float64
	Want float64
	Err  float64 // relative error for values, max |difference| for counts
	Tol  float64
	OK   bool
	// NoReference marks a value the fixture has no reference for (printed, never failing).
	NoReference bool
}

// metricsFixture is the part of a metric fixture's expected.json that is read.
type metricsFixture struct {
	Kind    string `json:"kind"`
	Dataset string `json:"dataset"`
	Tasks   []struct {
		Name     string `json:"name"`
		Channels int    `json:"channels"`
	} `json:"tasks"`
	Results map[string]json.RawMessage `json:"results"`
}

// IsMetricFixture reports whether dir is a metric fixture folder: an expected.json whose
// "kind" is "metrics".
func IsMetricFixture(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		return false
	}
	var f metricsFixture
	return json.Unmarshal(b, &f) == nil && f.Kind == "metrics"
}

// taskData is one task's arrays, channels-last per image.
type taskData struct {
	n, c, lc, h, w int
	pred, label    []float32 // (N, H, W, C) and (N, H, W, C')
}

// image returns image i's prediction and label.
func (d *taskData) image(i int) (pred, label []float32) {
	ps, ls := d.h*d.w*d.c, d.h*d.w*d.lc
	return d.pred[i*ps : (i+1)*ps], d.label[i*ls : (i+1)*ls]
}

// readNCHW reads an (N,C,H,W) float32 array as channels-last images.
func readNCHW(path string) (data []float32, n, c, h, w int, err error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	if len(a.Shape) != 4 {
		return nil, 0, 0, 0, 0, fmt.Errorf("%s: shape %v, want (N,C,H,W)", path, a.Shape)
	}
	n, c, h, w = a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]
	src := a.Float32()
	data = make([]float32, 0, len(src))
	for i := 0; i < n; i++ {
		data = append(data, model.HWCFromCHW(src[i*c*h*w:(i+1)*c*h*w], c, h, w)...)
	}
	return data, n, c, h, w, nil
}

func readTask(dir, task, labelFile string) (*taskData, error) {
	pred, n, c, h, w, err := readNCHW(filepath.Join(dir, "pred_"+task+".npy"))
	if err != nil {
		return nil, err
	}
	label, ln, lc, lh, lw, err := readNCHW(filepath.Join(dir, labelFile))
	if err != nil {
		return nil, err
	}
	if ln != n || lh != h || lw != w {
		return nil, fmt.Errorf("%s: %d images of %dx%d, prediction %d of %dx%d", labelFile, ln, lh, lw, n, h, w)
	}
	return &taskData{n: n, c: c, lc: lc, h: h, w: w, pred: pred, label: label}, nil
}

// checker collects the checks of one fixture.
type checker struct{ out []MetricCheck }

// value compares a metric value with relative tolerance tol.
func (k *checker) value(name string, got, want, tol float64) {
	e := math.Abs(got-want) / max(math.Abs(want), 1e-30)
	k.out = append(k.out, MetricCheck{Name: name, Got: got, Want: want, Err: e, Tol: tol, OK: e <= tol})
}

// counts compares integer states exactly (Got/Want are the sums; Err the largest difference).
func (k *checker) counts(name string, got []int64, want []float64) {
	c := MetricCheck{Name: name, Tol: 0}
	if len(got) != len(want) {
		c.Err = math.Inf(1)
	}
	for i := range min(len(got), len(want)) {
		c.Got += float64(got[i])
		c.Want += want[i]
		c.Err = max(c.Err, math.Abs(float64(got[i])-want[i]))
	}
	c.OK = c.Err == 0
	k.out = append(k.out, c)
}

// CheckMetrics recomputes every metric of a metric fixture folder (expected.json,
// pred_<task>.npy, label_<task>.npy, edge_saved/) with package metrics and compares it with
// the official values and states.
func CheckMetrics(dir string) ([]MetricCheck, error) {
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		return nil, err
	}
	var fx metricsFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		return nil, fmt.Errorf("expected.json: %w", err)
	}
	if fx.Kind != "metrics" {
		return nil, errors.New(`expected.json: "kind" is not "metrics"`)
	}
	k := &checker{}
	for _, t := range fx.Tasks {
		raw, ok := fx.Results[t.Name]
		if !ok {
			return nil, fmt.Errorf("expected.json: no results for task %s", t.Name)
		}
		d, err := readTask(dir, t.Name, "label_"+t.Name+".npy")
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", t.Name, err)
		}
		if d.c != t.Channels {
			return nil, fmt.Errorf("task %s: prediction has %d channels, expected.json says %d", t.Name, d.c, t.Channels)
		}
		switch t.Name {
		case "semseg", "human_parts":
			err = checkMeanIoU(k, t.Name, d, raw)
		case "sal":
			err = checkMaxF(k, d, raw)
		case "normals":
			err = checkNormals(k, d, raw)
		case "depth":
			err = checkDepth(k, dir, d, raw, fx.Results["depth_ignore_quirk"])
		case "edge":
			err = checkEdge(k, dir, fx.Dataset, d, raw)
		default:
			err = errors.New("unknown task")
		}
		if err != nil {
			return k.out, fmt.Errorf("task %s: %w", t.Name, err)
		}
	}
	return k.out, nil
}

// addAll adds every image of d to acc.
func addAll(acc metrics.Accumulator, d *taskData) error {
	for i := 0; i < d.n; i++ {
		p, l := d.image(i)
		if err := acc.Add(p, l, d.h, d.w); err != nil {
			return fmt.Errorf("image %d: %w", i, err)
		}
	}
	return nil
}

func checkMeanIoU(k *checker, task string, d *taskData, raw json.RawMessage) error {
	var r struct {
		Value      float64 `json:"value"`
		NumClasses int     `json:"num_classes"`
		States     struct {
			Intersection []float64 `json:"intersection"`
			Union        []float64 `json:"union"`
		} `json:"states_before_compute"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	if r.NumClasses != d.c {
		return fmt.Errorf("num_classes %d, prediction channels %d", r.NumClasses, d.c)
	}
	m := metrics.NewMeanIoU(r.NumClasses)
	if err := addAll(m, d); err != nil {
		return err
	}
	k.counts(task+" intersection", m.Intersection(), r.States.Intersection)
	k.counts(task+" union", m.Union(), r.States.Union)
	k.value(task+" mIoU", m.Result(), r.Value, MetricTolerance)
	return nil
}

func checkMaxF(k *checker, d *taskData, raw json.RawMessage) error {
	var r struct {
		Value      float64   `json:"value"`
		Thresholds []float64 `json:"thresholds"`
		States     struct {
			TP []float64 `json:"true_positives"`
			PP []float64 `json:"predicted_positives"`
			AP []float64 `json:"actual_positives"`
		} `json:"states_before_compute"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	m := metrics.NewMaxF()
	th := m.Thresholds()
	bad := len(th) != len(r.Thresholds)
	for i := range min(len(th), len(r.Thresholds)) {
		bad = bad || float64(th[i]) != r.Thresholds[i]
	}
	k.out = append(k.out, MetricCheck{Name: "sal thresholds", Got: float64(len(th)), Want: float64(len(r.Thresholds)), OK: !bad, Err: b2f(bad)})
	if err := addAll(m, d); err != nil {
		return err
	}
	tp, pp, ap := m.Counts()
	k.counts("sal true_positives", tp, r.States.TP)
	k.counts("sal predicted_positives", pp, r.States.PP)
	k.counts("sal actual_positives", ap, r.States.AP)
	f, _ := m.Result()
	k.value("sal maxF", f, r.Value, MetricTolerance)
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func checkNormals(k *checker, d *taskData, raw json.RawMessage) error {
	var r struct {
		Value  float64 `json:"value"`
		States struct {
			Sum   float64 `json:"sum_deg_diff"`
			Total float64 `json:"total"`
		} `json:"states_before_compute"`
		Derived struct {
			Median float64 `json:"median_deg"`
			P1125  float64 `json:"pct_within_11.25"`
			P225   float64 `json:"pct_within_22.5"`
			P30    float64 `json:"pct_within_30"`
		} `json:"derived_not_official"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	m := metrics.NewAngleError()
	if err := addAll(m, d); err != nil {
		return err
	}
	sum, total := m.State()
	k.counts("normals total", []int64{total}, []float64{r.States.Total})
	k.value("normals sum_deg_diff", sum, r.States.Sum, MetricTolerance)
	k.value("normals mean_angle_error", m.Result(), r.Value, MetricTolerance)
	w := m.Within()
	k.value("normals within_11.25 (not official)", w[0], r.Derived.P1125, 1e-9)
	k.value("normals within_22.5 (not official)", w[1], r.Derived.P225, 1e-9)
	k.value("normals within_30 (not official)", w[2], r.Derived.P30, 1e-9)
	// The median comes from a 0.01° histogram: half a bin of absolute error.
	med := m.Median()
	c := MetricCheck{Name: "normals median (not official, 0.005° abs)", Got: med, Want: r.Derived.Median,
		Err: math.Abs(med - r.Derived.Median), Tol: 0.005}
	c.OK = c.Err <= c.Tol
	k.out = append(k.out, c)
	return nil
}

func checkDepth(k *checker, dir string, d *taskData, raw, quirk json.RawMessage) error {
	var r struct {
		Value  float64 `json:"value"`
		States struct {
			SSE   float64 `json:"sum_squared_error"`
			Total float64 `json:"total"`
		} `json:"states_before_compute"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	off := metrics.NewOfficialRMSE()
	if err := addAll(off, d); err != nil {
		return err
	}
	sse, total := off.State()
	k.counts("depth total", []int64{total}, []float64{r.States.Total})
	k.value("depth sum_squared_error", sse, r.States.SSE, MetricTolerance)
	k.value("depth rmse (official mask)", off.Result(), r.Value, MetricTolerance)
	ours := metrics.NewRMSE()
	if err := addAll(ours, d); err != nil {
		return err
	}
	k.value("depth rmse (0 and 255 ignored)", ours.Result(), r.Value, MetricTolerance)
	if quirk == nil {
		return nil
	}
	var q struct {
		Official  float64 `json:"official_value"`
		Ignore255 float64 `json:"ignore_255_value"`
	}
	if err := json.Unmarshal(quirk, &q); err != nil {
		return err
	}
	dq, err := readTask(dir, "depth", "label_depth_with_invalid.npy")
	if err != nil {
		return err
	}
	off, ours = metrics.NewOfficialRMSE(), metrics.NewRMSE()
	if err := addAll(off, dq); err != nil {
		return err
	}
	if err := addAll(ours, dq); err != nil {
		return err
	}
	k.value("depth with invalid: rmse (official mask, 255 counted)", off.Result(), q.Official, MetricTolerance)
	k.value("depth with invalid: rmse (0 and 255 ignored)", ours.Result(), q.Ignore255, MetricTolerance)
	return nil
}

func checkEdge(k *checker, dir, dataset string, d *taskData, raw json.RawMessage) error {
	var r struct {
		Files map[string]struct {
			NPY     string `json:"npy"`
			Shape   []int  `json:"shape"`
			TopLeft []int  `json:"crop_top_left"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	ids := make([]string, 0, len(r.Files))
	for id := range r.Files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) != d.n {
		return fmt.Errorf("%d saved edge maps for %d images", len(ids), d.n)
	}
	maxDist := metrics.MaxDistNYUD
	if dataset == "PASCAL" || dataset == "PASCALContext" {
		maxDist = metrics.MaxDistPASCAL
	}
	acc := metrics.NewBoundary(maxDist)
	full := make([]uint8, d.h*d.w)
	for i, id := range ids {
		f := r.Files[id]
		if len(f.Shape) != 2 || len(f.TopLeft) != 2 {
			return fmt.Errorf("%s: bad shape or crop", id)
		}
		ref, err := npy.ReadFile(filepath.Join(dir, f.NPY))
		if err != nil {
			return err
		}
		h, w, top, left := f.Shape[0], f.Shape[1], f.TopLeft[0], f.TopLeft[1]
		if top+h > d.h || left+w > d.w || ref.Numel() != h*w {
			return fmt.Errorf("%s: crop %dx%d at (%d,%d) of %dx%d, reference %v", id, h, w, top, left, d.h, d.w, ref.Shape)
		}
		pred, label := d.image(i)
		metrics.SavedEdge(pred, full)
		saved, lab := make([]uint8, 0, h*w), make([]float32, 0, h*w)
		var diff int64
		for y := top; y < top+h; y++ {
			saved = append(saved, full[y*d.w+left:y*d.w+left+w]...)
			lab = append(lab, label[y*d.w+left:y*d.w+left+w]...)
		}
		for j, v := range saved {
			if int64(v) != ref.I64[j] {
				diff++
			}
		}
		k.out = append(k.out, MetricCheck{Name: "edge saved map " + id + " (differing pixels)", Got: float64(diff), Err: float64(diff), OK: diff == 0})
		if err := acc.AddSaved(saved, lab, h, w); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	f, t := acc.ODS()
	k.out = append(k.out, MetricCheck{Name: fmt.Sprintf("edge odsF SEISM-like (maxDist %g, threshold %.2f)", maxDist, t), Got: f, OK: true, NoReference: true})
	return nil
}
