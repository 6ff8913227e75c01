package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/demt-web/demt/session"
	"github.com/demt-web/demt/train/dataset"
	"github.com/demt-web/demt/train/evaluate"
)

func cmdEval(e *env, args []string) error {
	fs := newFlagSet("eval", "eval --model M --data DIR [--split val] [--json] [--pad HxW] [--size HxW] [--limit N] [--edge-tolerance F] [--device cpu|gpu|auto] [--threads N]",
		"Runs the model over a dataset split (NYUD-v2 or PASCAL-Context layout, or the synthetic\n"+
			"layout of 'synth') and prints the official metrics of every task the model and the data\n"+
			"share, accumulated over the whole split: mIoU (semseg, human_parts; %), maxF (sal; %),\n"+
			"mean_angle_error (normals; degrees), rmse (depth; metres), odsF (edge; %, SEISM-like).\n"+
			"docs/metrics.md defines them. --json prints one object keyed by task name.")
	modelPath := fs.String("model", "", "the model: a .demt `file` or a PyTorch checkpoint (required)")
	dataDir := fs.String("data", "", "the dataset `folder` (required)")
	split := fs.String("split", "val", "the split to evaluate (`NAME`: train or val)")
	asJSON := fs.Bool("json", false, "print the metrics as one JSON object keyed by task name")
	pad := fs.String("pad", "", "centre-pad every sample to `HxW` first, as the official PadImage (PASCAL: 512x512)")
	size := fs.String("size", "", "run the model at `HxW` (outputs resized back to the label size)")
	limit := fs.Int("limit", 0, "evaluate only the first `N` samples of the split (0 = all)")
	edgeTol := fs.Float64("edge-tolerance", 0, "boundary maxDist as a `fraction` of the diagonal (0 = the dataset's: PASCAL 0.0075, else 0.011)")
	device := fs.String("device", deviceAuto, "where to run (`name`: cpu, gpu or auto)")
	threads := fs.Int("threads", 0, "number of CPU worker threads (`N`; 0 = all cores)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("eval: unexpected arguments %q", pos)
	case *modelPath == "":
		return usagef("eval: --model is required")
	case *dataDir == "":
		return usagef("eval: --data DIR is required")
	case *limit < 0:
		return usagef("eval: --limit must be ≥ 0")
	case *edgeTol < 0 || *edgeTol >= 1:
		return usagef("eval: --edge-tolerance must be in [0, 1)")
	}
	opt := evaluate.Options{MaxDist: *edgeTol}
	if *pad != "" {
		if opt.PadH, opt.PadW, err = parseSize(*pad); err != nil {
			return usagef("eval: bad --pad %q (want HxW)", *pad)
		}
	}
	if *size != "" {
		if opt.SizeH, opt.SizeW, err = parseSize(*size); err != nil {
			return err
		}
	}
	if err := checkThreads("eval", *threads); err != nil {
		return err
	}
	if err := checkDevice(*device); err != nil {
		return err
	}
	r, err := dataset.Open(*dataDir, nil)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	ids, err := r.Split(*split)
	if err != nil {
		return fmt.Errorf("eval: dataset %s: split %s: %w", *dataDir, *split, fileErr(err))
	}
	if *limit > 0 && *limit < len(ids) {
		ids = ids[:*limit]
	}
	m, err := loadModel(e, *modelPath)
	if err != nil {
		return fmt.Errorf("eval: model %s: %w", *modelPath, err)
	}
	for _, t := range m.Config.Head.Tasks {
		opt.Tasks = append(opt.Tasks, evaluate.Task{Name: t.Name, Channels: t.Channels})
	}
	bar := newProgress(e.stderr, "evaluating")
	s, closeSession, err := newSession(e, m, *device, session.Options{Threads: *threads, MaxCached: 1})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	defer closeSession()
	opt.Progress = func(done, total int) { bar.set(int64(done), int64(total)) }
	// One session: a split of equal-sized images prepares the plan and weights once.
	forward := func(img []float32, h, w int) (map[string][]float32, error) {
		res, err := s.Run(img, h, w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Device(), err)
		}
		out := map[string][]float32{}
		for _, o := range res.Outputs {
			out[o.Task] = o.Data
		}
		return out, nil
	}
	res, err := evaluate.Run(r, ids, forward, opt)
	bar.finish()
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	fmt.Fprintf(e.stderr, "evaluated %d images of %s, split %s (%s layout), boundary maxDist %g\n", res.Images, *dataDir, *split, r.Layout(), res.MaxDist)
	if len(res.Skipped) > 0 {
		fmt.Fprintf(e.stderr, "no labels in the dataset for the model's %s: not evaluated\n", strings.Join(res.Skipped, ", "))
	}
	if *asJSON {
		out := map[string]map[string]float64{}
		for _, t := range res.Tasks {
			out[t.Task] = map[string]float64{}
			for _, v := range t.Values {
				out[t.Task][v.Name] = v.Value
			}
		}
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "task\tmetric\tvalue")
	for _, t := range res.Tasks {
		for _, v := range t.Values {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Task, v.Name, strconv.FormatFloat(v.Value, 'f', 4, 64))
		}
	}
	return tw.Flush()
}
