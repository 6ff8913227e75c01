package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/train/dataset"
	"github.com/demt-web/demt/train/evaluate"
)

// Files of a run folder.
const (
	RunConfigFile = "run.json"    // the RunOptions of the run (for --resume)
	ModelFile     = "model.demt"  // the latest checkpoint
	OptimFile     = "optim.state" // the optimiser state of that checkpoint
	LogFile       = "log.csv"     // one row per step
	EvalFile      = "eval.csv"    // one row per evaluation
)

// RunOptions configure a training run. They are saved in the run folder as run.json.
type RunOptions struct {
	Data      string   `json:"data"`            // dataset folder (any layout dataset.Open reads)
	Tasks     []string `json:"tasks,omitempty"` // nil: every task of the dataset
	Arch      string   `json:"arch,omitempty"`  // preset (when Init is empty)
	HeadWidth int      `json:"head_width,omitempty"`
	Init      string   `json:"init,omitempty"`    // .demt to fine-tune (its architecture and weights)
	Freeze    string   `json:"freeze,omitempty"`  // "" or "backbone": only head parameters are updated
	Batch     int      `json:"batch"`             // images per step (one per emulated device)
	Steps     int      `json:"steps"`             // total optimiser steps (also the schedule length)
	LR        float64  `json:"lr"`                // base learning rate (0: the method's default)
	Optimizer string   `json:"optimizer"`         // "sgd" (official) or "adamw"
	Warmup    int      `json:"warmup,omitempty"`  // linear warm-up steps (not official)
	CropH     int      `json:"crop_h"`            // training crop (the augmentation's output size)
	CropW     int      `json:"crop_w"`            //
	DropPath  float64  `json:"drop_path"`         // Swin stochastic depth rate (official 0.1)
	Seed      uint64   `json:"seed"`              // data order, augmentation, initialisation, DropPath
	SaveEvery int      `json:"save_every"`        // checkpoint every N steps (0: only at the end / on stop)
	EvalEvery int      `json:"eval_every"`        // evaluate on val every N steps (0: never)
	EvalLimit int      `json:"eval_limit"`        // evaluate on the first N val images (0: all)
	Threads   int      `json:"threads,omitempty"` // CPU workers (0: all cores)
	Augment   bool     `json:"augment"`           // the official training augmentation (else centre pad/crop only)
}

// Progress is what a run reports after every step.
type Progress struct {
	Step, Steps int
	Objective   float64
	TaskLoss    map[string]float64 // raw loss per task, mean over the images of the step
	LR          float64
	ItPerSec    float64 // steps per second (mean over the run's steps so far)
	ETA         time.Duration
}

// Run trains (or, with resume, continues) the run in dir. It stops after opt.Steps steps or
// when ctx is cancelled (then it returns an error wrapping ErrInterrupted), and writes a
// checkpoint then. report, if set, is called after every
// step; logw receives diagnostics (e.g. evaluation results).
func Run(ctx context.Context, dir string, opt RunOptions, resume bool, report func(Progress), logw io.Writer) error {
	if logw == nil {
		logw = io.Discard
	}
	if resume {
		b, err := os.ReadFile(filepath.Join(dir, RunConfigFile))
		if err != nil {
			return fmt.Errorf("resume %s: %w", dir, err)
		}
		steps := opt.Steps
		opt = RunOptions{}
		if err := json.Unmarshal(b, &opt); err != nil {
			return fmt.Errorf("resume %s: %s: %w", dir, RunConfigFile, err)
		}
		if steps > opt.Steps {
			opt.Steps = steps // --steps may extend a finished run (the schedule stays as saved)
		}
	}
	if err := checkOptions(&opt); err != nil {
		return err
	}
	if !resume { // run.json holds absolute paths: --resume works from any folder
		for _, p := range []*string{&opt.Data, &opt.Init} {
			if *p != "" {
				a, err := filepath.Abs(*p)
				if err != nil {
					return err
				}
				*p = a
			}
		}
	}
	r, err := dataset.Open(opt.Data, opt.Tasks)
	if err != nil {
		return err
	}
	trainIDs, err := r.Split("train")
	if err != nil {
		return fmt.Errorf("dataset %s: train split: %w", opt.Data, err)
	}
	if len(trainIDs) == 0 {
		return fmt.Errorf("dataset %s: empty train split", opt.Data)
	}
	var cfg *model.Config
	var w *model.Weights
	modelStep := 0
	switch {
	case resume:
		var notes string
		cfg, w, notes, err = readCheckpointNotes(filepath.Join(dir, ModelFile))
		if err == nil {
			if _, e := fmt.Sscanf(notes, "trained %d steps", &modelStep); e != nil {
				err = fmt.Errorf("resume %s: %s: no step in its notes %q", dir, ModelFile, notes)
			}
		}
	case opt.Init != "":
		cfg, w, err = readCheckpoint(opt.Init)
	default:
		var tasks []model.Task
		for _, t := range r.Tasks() {
			tasks = append(tasks, model.Task{Name: t, Channels: taskChannels(r, t), ClassNames: r.ClassNames(t)})
		}
		cfg, err = Preset(opt.Arch, tasks, opt.HeadWidth)
		if err == nil {
			w = InitWeights(cfg, opt.Seed)
		}
	}
	if err != nil {
		return err
	}
	if !resume {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(opt, "", "  ")
		if err := writeFileAtomic(filepath.Join(dir, RunConfigFile), append(b, '\n')); err != nil {
			return err
		}
	}
	var losses []Loss
	pos := 0.8
	if r.Layout() == dataset.LayoutPASCAL {
		pos = 0.95
	}
	have := map[string]bool{}
	for _, t := range r.Tasks() {
		have[t] = true
	}
	for _, t := range cfg.Head.Tasks {
		if !have[t.Name] {
			return fmt.Errorf("the model's task %s has no labels in %s", t.Name, opt.Data)
		}
		l, err := NewLoss(t.Name, pos)
		if err != nil {
			return err
		}
		losses = append(losses, l)
	}

	p, err := model.Build(cfg, w, opt.CropH, opt.CropW)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	topt := cpu.TrainerOptions{Images: opt.Batch, Threads: opt.Threads, DropPath: opt.DropPath, Seed: opt.Seed}
	if opt.Freeze == "backbone" {
		topt.Frozen = func(name string) bool { return strings.HasPrefix(name, "backbone.") }
	}
	tr, err := cpu.NewTrainer(p, w, topt)
	if err != nil {
		return err
	}
	defer tr.Close()
	var params []Param
	for _, tp := range tr.Params() {
		params = append(params, Param{Name: tp.Name, Value: tp.Value, Grad: tp.Grad})
	}
	ocfg := OfficialSGD(opt.Steps)
	if opt.Optimizer == "adamw" {
		ocfg = DefaultAdamW(opt.Steps)
	}
	if opt.LR > 0 {
		ocfg.LR = opt.LR
	}
	ocfg.WarmupSteps = opt.Warmup
	optim, err := New(ocfg, params)
	if err != nil {
		return err
	}
	if resume {
		if err := optim.LoadState(filepath.Join(dir, OptimFile)); err != nil {
			return fmt.Errorf("resume %s: %w", dir, err)
		}
		if modelStep != optim.Steps() {
			return fmt.Errorf("resume %s: %s is of step %d, %s of step %d (interrupted while saving?)", dir, ModelFile, modelStep, OptimFile, optim.Steps())
		}
	}
	meta := &demtfile.Metadata{Config: *cfg, Normalization: demtfile.ImageNetNormalization(),
		Source: demtfile.Source{File: filepath.Base(dir), Format: "demt-train"}, CreatedBy: "demt train"}
	// The model first, then the optimiser state: a crash in between leaves files of different
	// steps, which resume detects (the step is in both).
	save := func() error {
		meta.Notes = fmt.Sprintf(stepNote, optim.Steps(), dir)
		if err := demtfile.WriteFile(filepath.Join(dir, ModelFile), meta, w, demtfile.WriteOptions{}); err != nil {
			return err
		}
		if err := optim.SaveState(filepath.Join(dir, OptimFile)); err != nil {
			return err
		}
		return WriteLossCurve(filepath.Join(dir, LogFile), filepath.Join(dir, CurveFile))
	}

	logf, err := openLog(filepath.Join(dir, LogFile), "step,objective,"+joinTasks(losses)+",lr,it_per_s\n")
	if err != nil {
		return err
	}
	defer logf.Close()
	var ev *evaluator
	var evalLog *os.File
	if opt.EvalEvery > 0 {
		ev, err = newEvaluator(r, cfg, w, opt)
		if err != nil {
			return err
		}
		defer ev.close()
		evalLog, err = openLog(filepath.Join(dir, EvalFile), "step,task,metric,value\n")
		if err != nil {
			return err
		}
		defer evalLog.Close()
	}

	pf := &prefetcher{b: newBatcher(r, trainIDs, losses, opt), ch: make(chan prefetched, 1)}
	defer pf.settle() // no loader left running
	inputs := make([][]float32, opt.Batch)
	taskLoss := map[string]float64{}
	perImage := make([][]float64, opt.Batch) // raw loss of task t on image i
	for i := range perImage {
		perImage[i] = make([]float64, len(losses))
	}
	lossErr := make([]error, opt.Batch)
	start, first := time.Now(), optim.Steps()
	for optim.Steps() < opt.Steps {
		if ctx.Err() != nil {
			break
		}
		k := optim.Steps()
		samples, err := pf.get(k)
		if err != nil {
			return err
		}
		if k+1 < opt.Steps {
			pf.start(k + 1) // loads while this step computes
		}
		for i, s := range samples {
			inputs[i] = s.Image
		}
		tr.SeedDropPath(opt.Seed, uint64(k))
		if err := tr.Forward(inputs); err != nil {
			return err
		}
		// The losses of the images in parallel (each image writes only its own gradients).
		var wg sync.WaitGroup
		workers := min(opt.Batch, runtime.GOMAXPROCS(0))
		for wk := 0; wk < workers; wk++ {
			wg.Add(1)
			go func(wk int) {
				defer wg.Done()
				for img := wk; img < opt.Batch; img += workers {
					s := samples[img]
					lossErr[img] = nil
					for ti, l := range losses {
						c := p.Tensors[p.Outputs[ti].Tensor].Shape.C
						v, err := l.Eval(tr.Output(img, ti), s.Labels[l.Task], opt.CropH, opt.CropW, c, l.Weight/float64(opt.Batch), tr.OutputGrad(img, ti))
						if err != nil {
							lossErr[img] = fmt.Errorf("step %d, image %s: %w", k, s.ID, err)
							break
						}
						perImage[img][ti] = v
					}
				}
			}(wk)
		}
		wg.Wait()
		objective := 0.0
		for ti, l := range losses {
			sum := 0.0
			for img := range samples {
				if lossErr[img] != nil {
					return lossErr[img]
				}
				sum += perImage[img][ti]
			}
			taskLoss[l.Task] = sum / float64(opt.Batch)
			objective += l.Weight * taskLoss[l.Task]
		}
		tr.ZeroGrad()
		tr.Backward()
		lr := optim.LR()
		optim.Step()
		tr.Refresh()

		done := optim.Steps()
		el := time.Since(start).Seconds()
		ips := float64(done-first) / el
		pr := Progress{Step: done, Steps: opt.Steps, Objective: objective, TaskLoss: taskLoss, LR: lr, ItPerSec: ips}
		if ips > 0 {
			pr.ETA = time.Duration(float64(opt.Steps-done) / ips * float64(time.Second))
		}
		fmt.Fprintf(logf, "%d,%.6g", done, objective)
		for _, l := range losses {
			fmt.Fprintf(logf, ",%.6g", taskLoss[l.Task])
		}
		fmt.Fprintf(logf, ",%.6g,%.4g\n", lr, ips)
		if report != nil {
			report(pr)
		}
		if opt.SaveEvery > 0 && done%opt.SaveEvery == 0 && done < opt.Steps {
			if err := save(); err != nil {
				return err
			}
		}
		if ev != nil && (done%opt.EvalEvery == 0 || done == opt.Steps) {
			pf.settle() // the dataset reader is not shared between goroutines
			res, err := ev.run()
			if err != nil {
				return fmt.Errorf("evaluation at step %d: %w", done, err)
			}
			var parts []string
			for _, t := range res.Tasks {
				for _, v := range t.Values {
					fmt.Fprintf(evalLog, "%d,%s,%s,%.6g\n", done, t.Task, v.Name, v.Value)
					parts = append(parts, fmt.Sprintf("%s %s %.4g", t.Task, v.Name, v.Value))
				}
			}
			fmt.Fprintf(logw, "step %d: val (%d images): %s\n", done, res.Images, strings.Join(parts, ", "))
			if err := ev.writePreview(filepath.Join(dir, PreviewFile)); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w at step %d of %d; checkpoint written (continue with --resume %s)", ErrInterrupted, optim.Steps(), opt.Steps, dir)
	}
	return nil
}

// ErrInterrupted is returned by Run when its context was cancelled (after the checkpoint).
var ErrInterrupted = errors.New("interrupted")

func checkOptions(o *RunOptions) error {
	switch {
	case o.Data == "":
		return errors.New("no dataset folder")
	case o.Batch <= 0:
		return fmt.Errorf("batch %d: want ≥ 1", o.Batch)
	case o.Steps <= 0:
		return fmt.Errorf("steps %d: want ≥ 1", o.Steps)
	case o.Optimizer != "sgd" && o.Optimizer != "adamw":
		return fmt.Errorf("optimizer %q: want sgd or adamw", o.Optimizer)
	case o.Freeze != "" && o.Freeze != "backbone":
		return fmt.Errorf("freeze %q: only \"backbone\" can be frozen", o.Freeze)
	case o.CropH < model.MinInputSize || o.CropW < model.MinInputSize:
		return fmt.Errorf("crop %dx%d: want at least %dx%d", o.CropH, o.CropW, model.MinInputSize, model.MinInputSize)
	case o.Init == "" && o.Arch == "":
		return errors.New("no architecture (a preset) and no --init checkpoint")
	case o.Freeze != "" && o.Init == "":
		return errors.New("freezing the backbone needs --init (a trained backbone)")
	case o.LR < 0 || o.DropPath < 0 || o.DropPath >= 1 || o.SaveEvery < 0 || o.EvalEvery < 0 || o.EvalLimit < 0 || o.Warmup < 0:
		return errors.New("negative learning rate, drop-path rate, warm-up or interval (or drop path ≥ 1)")
	}
	return nil
}

func taskChannels(r dataset.Reader, task string) int {
	switch task {
	case "semseg", "human_parts":
		if n := len(r.ClassNames(task)); n > 0 {
			return n
		}
		if task == "human_parts" {
			return 7
		}
		if r.Layout() == dataset.LayoutPASCAL {
			return 21
		}
		return 40
	case "sal":
		return 2
	case "normals":
		return 3
	}
	return 1
}

func joinTasks(ls []Loss) string {
	var s []string
	for _, l := range ls {
		s = append(s, "loss_"+l.Task)
	}
	return strings.Join(s, ",")
}

// stepNote is the notes of a run's checkpoint: the step and the run folder.
const stepNote = "trained %d steps (run %s)"

// readCheckpoint reads a .demt file's architecture and weights.
func readCheckpoint(path string) (*model.Config, *model.Weights, error) {
	c, w, _, err := readCheckpointNotes(path)
	return c, w, err
}

// readCheckpointNotes is readCheckpoint that also returns the file's notes.
func readCheckpointNotes(path string) (*model.Config, *model.Weights, string, error) {
	f, err := demtfile.ReadFile(path, nil)
	if err != nil {
		return nil, nil, "", err
	}
	cfg := f.Meta.Config
	if err := model.CheckKeys(f.Weights, &cfg); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, f.Weights, f.Meta.Notes, nil
}

// openLog opens a CSV log for appending, writing header if the file is new.
func openLog(path, header string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		_, err = io.WriteString(f, header)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// prefetcher loads the batch of the next step on another goroutine while a step computes.
// At most one load runs; settle waits for it and keeps its result for get.
type prefetcher struct {
	b    *batcher
	ch   chan prefetched
	busy bool
	held *prefetched
}

type prefetched struct {
	k       int
	samples []*dataset.Sample
	err     error
}

func (p *prefetcher) start(k int) {
	p.busy = true
	go func() {
		s, err := p.b.batch(k)
		p.ch <- prefetched{k, s, err}
	}()
}

func (p *prefetcher) settle() {
	if p.busy {
		r := <-p.ch
		p.busy, p.held = false, &r
	}
}

// get returns the batch of step k: the prefetched one, or loaded now.
func (p *prefetcher) get(k int) ([]*dataset.Sample, error) {
	p.settle()
	if h := p.held; h != nil && h.k == k {
		p.held = nil
		return h.samples, h.err
	}
	p.held = nil
	return p.b.batch(k)
}

// batcher loads the samples of step k: a deterministic function of (seed, k), so a resumed
// run sees the data an uninterrupted run would.
type batcher struct {
	r     dataset.Reader
	ids   []string
	opt   RunOptions
	tasks []string
}

func newBatcher(r dataset.Reader, ids []string, losses []Loss, opt RunOptions) *batcher {
	b := &batcher{r: r, ids: ids, opt: opt}
	for _, l := range losses {
		b.tasks = append(b.tasks, l.Task)
	}
	return b
}

// batch returns the samples of step k: epoch e = k·N / len(ids) visits the ids in the order
// of a permutation seeded by (seed, e) (drop_last as the official loader).
func (b *batcher) batch(k int) ([]*dataset.Sample, error) {
	samples := make([]*dataset.Sample, b.opt.Batch)
	n, per := b.opt.Batch, len(b.ids)/b.opt.Batch
	if per == 0 {
		per = 1
	}
	epoch, pos := k/per, (k%per)*n
	perm := rand.New(rand.NewPCG(b.opt.Seed, uint64(epoch))).Perm(len(b.ids))
	for i := 0; i < n; i++ {
		id := b.ids[perm[(pos+i)%len(perm)]]
		s, err := b.r.Load(id)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", id, err)
		}
		if b.opt.Augment {
			dataset.NewAugmenter(b.opt.Seed^uint64(k)<<8^uint64(i), b.opt.CropH, b.opt.CropW).Train(s)
		} else {
			centreCrop(s, b.opt.CropH, b.opt.CropW)
			dataset.EvalTransform(s, b.opt.CropH, b.opt.CropW)
		}
		if s.H != b.opt.CropH || s.W != b.opt.CropW {
			return nil, fmt.Errorf("sample %s: %dx%d after the transforms, want %dx%d", id, s.H, s.W, b.opt.CropH, b.opt.CropW)
		}
		for _, t := range b.tasks {
			if s.Labels[t] == nil {
				return nil, fmt.Errorf("sample %s: no %s label", id, t)
			}
		}
		samples[i] = s
	}
	return samples, nil
}

// centreCrop crops a sample larger than h×w to its centre (smaller sides are left to PadTo).
func centreCrop(s *dataset.Sample, h, w int) {
	ch, cw := min(s.H, h), min(s.W, w)
	if ch == s.H && cw == s.W {
		return
	}
	t, l := (s.H-ch)/2, (s.W-cw)/2
	crop := func(src []float32, c int) []float32 {
		out := make([]float32, 0, ch*cw*c)
		for y := t; y < t+ch; y++ {
			out = append(out, src[(y*s.W+l)*c:(y*s.W+l+cw)*c]...)
		}
		return out
	}
	s.Image = crop(s.Image, 3)
	for k, v := range s.Labels {
		s.Labels[k] = crop(v, len(v)/(s.H*s.W))
	}
	s.H, s.W = ch, cw
	s.RawH, s.RawW = ch, cw
}

// evaluator runs the eval-mode canonical plan (running statistics, shared weights) over the
// val split.
type evaluator struct {
	r    dataset.Reader
	ids  []string
	cfg  *model.Config
	w    *model.Weights
	opt  RunOptions
	size [2]int
	e    *cpu.Executor
	ref  *cpu.WeightRefresher
}

func newEvaluator(r dataset.Reader, cfg *model.Config, w *model.Weights, opt RunOptions) (*evaluator, error) {
	ids, err := r.Split("val")
	if err != nil {
		return nil, fmt.Errorf("dataset %s: val split: %w", opt.Data, err)
	}
	if opt.EvalLimit > 0 && opt.EvalLimit < len(ids) {
		ids = ids[:opt.EvalLimit]
	}
	return &evaluator{r: r, ids: ids, cfg: cfg, w: w, opt: opt}, nil
}

func (v *evaluator) close() {
	if v.e != nil {
		v.e.Close()
	}
}

func (v *evaluator) forward(img []float32, h, w int) (map[string][]float32, error) {
	if v.e == nil || v.size != [2]int{h, w} {
		v.close()
		p, err := model.Build(v.cfg, v.w, h, w)
		if err != nil {
			return nil, err
		}
		if v.e, err = cpu.New(p, cpu.Options{Threads: v.opt.Threads}); err != nil {
			return nil, err
		}
		v.ref, v.size = cpu.NewWeightRefresher(v.e), [2]int{h, w}
	}
	if err := v.e.Run(img); err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for _, o := range v.e.Plan().Outputs {
		out[o.Task] = append([]float32(nil), v.e.Tensor(o.Tensor)...)
	}
	return out, nil
}

func (v *evaluator) run() (*evaluate.Result, error) {
	if v.e != nil {
		v.ref.Refresh() // the weights and running statistics changed since the last run
	}
	var tasks []evaluate.Task
	for _, t := range v.cfg.Head.Tasks {
		tasks = append(tasks, evaluate.Task{Name: t.Name, Channels: t.Channels})
	}
	return evaluate.Run(v.r, v.ids, v.forward, evaluate.Options{Tasks: tasks})
}
