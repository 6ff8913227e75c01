package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/gpu"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/session"
)

func cmdBench(e *env, args []string) error {
	fs := newFlagSet("bench", "bench --model M [--size HxW | --npy FILE] [--device cpu|gpu|auto] [--reps N] [--warmup N] [--threads N] [--plain] [--json]",
		"Loads the model once, prepares one executor for the input size, runs it --warmup times and\n"+
			"then times --reps forward passes (Executor.Run, steady state: no allocation, the weights\n"+
			"already laid out). Prints the median, minimum and maximum seconds, the throughput in GMAC/s\n"+
			"(the plan's multiply-accumulates over the median time), and peak memory: the process's peak\n"+
			"resident set during the runs and the executor's activation memory. The input is a fixed\n"+
			"pseudo-random normalised image, or the (1,3,H,W) array given with --npy.")
	modelPath := fs.String("model", "", "the model: a .demt `file` or a PyTorch checkpoint (required)")
	size := fs.String("size", "256x256", "input size `HxW` (N means NxN)")
	npyPath := fs.String("npy", "", "time on this normalised float32 (1,3,H,W) .npy `file` (sets the size)")
	device := fs.String("device", deviceCPU, "where to run (`name`: cpu, gpu or auto)")
	reps := fs.Int("reps", 5, "timed forward passes (`N`)")
	warmup := fs.Int("warmup", 1, "untimed forward passes first (`N`)")
	threads := fs.Int("threads", 0, "number of CPU worker threads (`N`; 0 = all cores)")
	plain := fs.Bool("plain", false, "time the plain plan, without the rewrites")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("bench: unexpected arguments %q (the model is given with --model)", pos)
	case *modelPath == "":
		return usagef("bench: --model is required")
	case *reps < 1:
		return usagef("bench: --reps must be ≥ 1")
	case *warmup < 0:
		return usagef("bench: --warmup must be ≥ 0")
	}
	if err := checkThreads("bench", *threads); err != nil {
		return err
	}
	if err := checkDevice(*device); err != nil {
		return err
	}
	var input []float32
	h, w, err := parseSize(*size)
	if err != nil {
		return err
	}
	if *npyPath != "" {
		if input, h, w, err = readInputNPY(*npyPath); err != nil {
			return fmt.Errorf("bench %s: %w", *npyPath, err)
		}
	} else {
		input = benchInput(h, w)
	}
	if h < model.MinInputSize || w < model.MinInputSize {
		return usagef("bench: input %dx%d is smaller than the %dx%d minimum", h, w, model.MinInputSize, model.MinInputSize)
	}

	t, err := openBench(e, *modelPath, h, w, *device, *threads, *plain)
	if err != nil {
		return err
	}
	defer t.close()
	loadPeak, _ := peakRSS()
	// Measure the runs' own peak: drop what loading left behind, then reset the kernel's
	// high-water mark where allowed (as the ONNX Runtime peer runner does).
	debug.FreeOSMemory()
	reset := resetPeakRSS()

	res := benchResult{
		Model: *modelPath, Backbone: describeBackbone(&t.plan.Config.Backbone), Plan: "optimized",
		Size: fmt.Sprintf("%dx%d", h, w), Device: t.device, Adapter: t.adapter, CPU: cpuModel(),
		Threads: t.threads, Warmup: *warmup, Reps: *reps, MACs: t.plan.TotalMACs(), PeakRSSLoad: loadPeak,
		ActivationBytes: t.actBytes,
	}
	if *plain {
		res.Plan = "plain"
	}
	for i := 0; i < *warmup; i++ {
		if err := t.run(input); err != nil {
			return fmt.Errorf("bench %s: warm-up: %w", *modelPath, err)
		}
	}
	bar := newProgress(e.stderr, "timing")
	for i := 0; i < *reps; i++ {
		t0 := time.Now()
		if err := t.run(input); err != nil {
			bar.finish()
			return fmt.Errorf("bench %s: run %d: %w", *modelPath, i+1, err)
		}
		res.Times = append(res.Times, time.Since(t0).Seconds())
		bar.ops(i+1, *reps)
	}
	bar.finish()
	res.summarise()
	if peak, ok := peakRSS(); ok {
		res.PeakBytes = peak
		if !reset {
			res.PeakNote = "process peak RSS including loading (/proc/self/clear_refs not writable)"
		}
	} else {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		res.PeakBytes = int64(ms.Sys)
		res.PeakNote = "no /proc/self/status: memory the Go runtime obtained from the OS"
	}
	if *asJSON {
		return writeJSON(e.stdout, &res)
	}
	res.print(e)
	return nil
}

// benchTarget is a model prepared for timing: one plan and one executor.
type benchTarget struct {
	plan     *model.Plan
	device   string // deviceCPU or deviceGPU
	adapter  string // the GPU adapter, "" on the CPU
	threads  int    // CPU worker threads (0 on the GPU)
	actBytes int64  // activation memory of the executor, 0 when it does not say
	run      func(input []float32) error
	close    func()
}

// openBench loads the model, builds its plan for h×w and prepares an executor on device:
// everything a timed run needs, done once.
func openBench(e *env, path string, h, w int, device string, threads int, plain bool) (*benchTarget, error) {
	m, err := loadModel(e, path)
	if err != nil {
		return nil, fmt.Errorf("bench: model %s: %w", path, err)
	}
	p, err := session.BuildPlan(m, h, w, plain)
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", path, err)
	}
	// The executors are timed directly (not through a session, whose runs also copy and check
	// the outputs).
	dev, note, err := openDevice(device)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if note != "" {
		fmt.Fprintln(e.stderr, note)
	}
	if dev != nil {
		ex, err := gpu.New(dev, p, gpu.Options{})
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("bench %s: %w", path, err)
		}
		run := func(in []float32) error {
			if err := ex.Run(in); err != nil {
				return err
			}
			return ex.Wait()
		}
		return &benchTarget{plan: p, device: deviceGPU, adapter: dev.Info(), run: run,
			close: func() { ex.Close(); dev.Close() }}, nil
	}
	ex, err := cpu.New(p, cpu.Options{Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", path, err)
	}
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &benchTarget{plan: p, device: deviceCPU, threads: threads, actBytes: ex.Bytes(), run: ex.Run, close: ex.Close}, nil
}

// benchInput is a fixed pseudo-random normalised [h, w, 3] image (values of a normalised photo's scale).
func benchInput(h, w int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]float32, h*w*3)
	for i := range in {
		in[i] = float32(r.NormFloat64())
	}
	return in
}

// benchResult is what bench reports; the JSON names are the --json contract (docs/cli.md).
type benchResult struct {
	Model           string    `json:"model"`
	Backbone        string    `json:"backbone"`
	Plan            string    `json:"plan"` // "optimized" or "plain"
	Size            string    `json:"size"` // "HxW"
	Device          string    `json:"device"`
	Adapter         string    `json:"adapter,omitempty"`
	CPU             string    `json:"cpu"`
	Threads         int       `json:"threads"`
	Warmup          int       `json:"warmup"`
	Reps            int       `json:"reps"`
	MACs            int64     `json:"macs"`
	Times           []float64 `json:"times_s"`
	Median          float64   `json:"median_s"`
	Min             float64   `json:"min_s"`
	Max             float64   `json:"max_s"`
	GMACs           float64   `json:"gmacs"`
	PeakBytes       int64     `json:"peak_bytes"`
	PeakNote        string    `json:"peak_note,omitempty"`
	PeakRSSLoad     int64     `json:"peak_rss_load_bytes,omitempty"`
	ActivationBytes int64     `json:"activation_bytes,omitempty"`
}

// summarise fills the median (the mean of the middle two for an even count), min, max and GMAC/s.
func (r *benchResult) summarise() {
	s := slices.Clone(r.Times)
	slices.Sort(s)
	n := len(s)
	r.Min, r.Max = s[0], s[n-1]
	r.Median = s[n/2]
	if n%2 == 0 {
		r.Median = (s[n/2-1] + s[n/2]) / 2
	}
	if r.Median > 0 {
		r.GMACs = float64(r.MACs) / r.Median / 1e9
	}
}

func (r *benchResult) print(e *env) {
	const mib = 1 << 20
	fmt.Fprintf(e.stdout, "model    %s: %s, %s plan, %s, %.2f GMAC\n", r.Model, r.Backbone, r.Plan, r.Size, float64(r.MACs)/1e9)
	dev := fmt.Sprintf("cpu, %d threads", r.Threads)
	if r.Device == deviceGPU {
		dev = "gpu: " + r.Adapter
	}
	fmt.Fprintf(e.stdout, "device   %s (CPU: %s)\n", dev, r.CPU)
	fmt.Fprintf(e.stdout, "time     median %.4f s, min %.4f s, max %.4f s (%d runs after %d warm-up)\n", r.Median, r.Min, r.Max, r.Reps, r.Warmup)
	fmt.Fprintf(e.stdout, "speed    %.1f GMAC/s\n", r.GMACs)
	mem := fmt.Sprintf("peak RSS %.1f MiB during the runs", float64(r.PeakBytes)/mib)
	if r.PeakNote != "" {
		mem = fmt.Sprintf("peak %.1f MiB (%s)", float64(r.PeakBytes)/mib, r.PeakNote)
	}
	if r.ActivationBytes > 0 {
		mem += fmt.Sprintf(", activations %.1f MiB", float64(r.ActivationBytes)/mib)
	}
	if r.PeakRSSLoad > 0 {
		mem += fmt.Sprintf(", peak RSS while loading and preparing %.1f MiB", float64(r.PeakRSSLoad)/mib)
	}
	fmt.Fprintf(e.stdout, "memory   %s\n", mem)
}

// cpuModel returns the processor's model name from /proc/cpuinfo, or the architecture and
// core count where that file or field is missing.
func cpuModel() string {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" && strings.TrimSpace(v) != "" {
				return strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d logical CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// peakRSS returns the process's peak resident set size (VmHWM of /proc/self/status) in bytes.
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10, true
				}
			}
		}
	}
	return 0, false
}

// resetPeakRSS resets the kernel's peak-RSS mark to the current RSS (Linux), and reports
// whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
