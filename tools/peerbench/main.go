// Command peerbench times the project's CPU executor side by side with ONNX Runtime
// (onnxruntime-node, CPU execution provider) on the same architecture and input — the full
// HRNet18-S DeMT with the PASCAL-Context tasks at 256×256 — alternating the two for a few
// rounds, and prints each round's medians and the ratio ORT / project. It is what
// `make bench-peers` runs. The peer side is ../shared/peers (its README: the ONNX model, the
// input and the runner script); the project side is `demt-convert bench --json` on a model
// of the same architecture built from the official key list with random weights (timing
// does not depend on the values). Each round also shows the load average: the ratio only
// means something for rounds run with nothing else heavy on the machine. Without node or
// onnxruntime-node it says so and exits 0.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model/demtfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var skip *skipError
		if errors.As(err, &skip) {
			fmt.Fprintf(os.Stdout, "bench-peers: skipped: %s\n", skip.reason)
			return
		}
		fmt.Fprintf(os.Stderr, "bench-peers: %v\n", err)
		os.Exit(1)
	}
}

// skipError says why the peer cannot run here (not a failure: exit status 0).
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skipf(format string, args ...any) error {
	return &skipError{reason: fmt.Sprintf(format, args...)}
}

// options are the command-line flags.
type options struct {
	peers, nodeModules, bin, keys, model string
	rounds, reps, warmup, threads        int
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("peerbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.peers, "peers", "../shared/peers", "the peer kit `folder` (README.md, ort_node.js, hrnet18s-pascal-256/)")
	fs.StringVar(&o.nodeModules, "node-modules", "build/peers/node_modules", "`folder` holding onnxruntime-node (make bench-peers-setup installs it)")
	fs.StringVar(&o.bin, "bin", "bin/demt-convert", "the demt-convert `binary`")
	fs.StringVar(&o.keys, "keys", "../shared/fixtures/official/keys/hrnet18_s-pascal.json", "official key list the project's model is built from (`file`)")
	fs.StringVar(&o.model, "model", "build/peers/hrnet18_s-pascal.random.demt", "the project's model `file` (made from -keys when missing)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of (ORT, project)")
	fs.IntVar(&o.reps, "reps", 5, "timed runs per side and round")
	fs.IntVar(&o.warmup, "warmup", 2, "untimed runs first, per side and round")
	fs.IntVar(&o.threads, "threads", runtime.NumCPU(), "CPU threads for both sides")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 || o.reps < 1 || o.warmup < 1 || o.threads < 1 {
		return fmt.Errorf("-rounds, -reps, -warmup and -threads must be ≥ 1")
	}
	peerDir := filepath.Join(o.peers, "hrnet18s-pascal-256")
	runner := filepath.Join(o.peers, "ort_node.js")
	node, err := exec.LookPath("node")
	if err != nil {
		return skipf("node is not installed (Debian: apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(o.nodeModules, "onnxruntime-node", "package.json")); err != nil {
		return skipf("onnxruntime-node is not installed in %s (run 'make bench-peers-setup'; it needs npm)", o.nodeModules)
	}
	for _, f := range []string{runner, filepath.Join(peerDir, "model.onnx"), filepath.Join(peerDir, "input.npy")} {
		if _, err := os.Stat(f); err != nil {
			return skipf("the peer kit is incomplete: %v", err)
		}
	}
	if err := ensureModel(o.model, o.keys, stderr); err != nil {
		return err
	}
	nodePath, err := filepath.Abs(o.nodeModules)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "HRNet18-S DeMT, PASCAL-Context tasks, 256x256, %d threads, %d rounds of (ORT, project), %d warm-up + %d timed runs each\n",
		o.threads, o.rounds, o.warmup, o.reps)
	var ratios, gmacs []float64
	var ort ortResult
	var proj projectResult
	for r := 1; r <= o.rounds; r++ {
		cmd := exec.Command(node, runner, peerDir, "--warmup", strconv.Itoa(o.warmup), "--reps", strconv.Itoa(o.reps), "--threads", strconv.Itoa(o.threads))
		cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
		if err := runJSON(cmd, stderr, &ort); err != nil {
			return fmt.Errorf("round %d: onnxruntime-node: %w", r, err)
		}
		cmd = exec.Command(o.bin, "bench", "--model", o.model, "--npy", filepath.Join(peerDir, "input.npy"), "--device", "cpu",
			"--warmup", strconv.Itoa(o.warmup), "--reps", strconv.Itoa(o.reps), "--threads", strconv.Itoa(o.threads), "--json")
		if err := runJSON(cmd, stderr, &proj); err != nil {
			return fmt.Errorf("round %d: %s bench: %w", r, o.bin, err)
		}
		if ort.Median <= 0 || proj.Median <= 0 {
			return fmt.Errorf("round %d: a median is not positive (ORT %g s, project %g s)", r, ort.Median, proj.Median)
		}
		ratio := ort.Median / proj.Median
		ratios, gmacs = append(ratios, ratio), append(gmacs, proj.GMACs)
		fmt.Fprintf(stdout, "round %d: ORT %.3f s (peak RSS %.0f MiB)   project %.3f s (%.1f GMAC/s, peak RSS %.0f MiB)   ORT/project %.2f   load %s\n",
			r, ort.Median, ort.PeakRSSInference, proj.Median, proj.GMACs, float64(proj.PeakBytes)/(1<<20), ratio, loadAverage())
	}
	fmt.Fprintf(stdout, "CPU: %s; peer: %s on the full official graph; project: %s plan, %.2f GMAC\n",
		proj.CPU, ort.Runtime, proj.Plan, float64(proj.MACs)/1e9)
	fmt.Fprintf(stdout, "ORT/project: median %.2f (rounds %.2f..%.2f); project %.1f GMAC/s (median of rounds)\n",
		median(ratios), slices.Min(ratios), slices.Max(ratios), median(gmacs))
	return nil
}

// ortResult is what ort_node.js prints (the fields used here).
type ortResult struct {
	Runtime          string  `json:"runtime"`
	Median           float64 `json:"median_s"`
	PeakRSSInference float64 `json:"peak_rss_inference_mib"`
}

// projectResult is what demt-convert bench --json prints (the fields used here).
type projectResult struct {
	CPU       string  `json:"cpu"`
	Plan      string  `json:"plan"`
	MACs      int64   `json:"macs"`
	Median    float64 `json:"median_s"`
	GMACs     float64 `json:"gmacs"`
	PeakBytes int64   `json:"peak_bytes"`
}

// runJSON runs cmd, passing its stderr through, and decodes the JSON object it prints last.
func runJSON(cmd *exec.Cmd, stderr io.Writer, v any) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	b := bytes.TrimSpace(out.Bytes())
	if i := bytes.LastIndex(b, []byte("\n{")); i >= 0 && !json.Valid(b) {
		b = b[i+1:]
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("output is not the expected JSON: %w", err)
	}
	return nil
}

// ensureModel writes the project's model when it is missing: the architecture of the key
// list with seeded random weights, as a .demt file.
func ensureModel(path, keys string, stderr io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	cfg, w, err := fixture.RandomModel(keys, 1)
	if err != nil {
		return fmt.Errorf("the project's model: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	meta := &demtfile.Metadata{
		ConverterVersion: "peerbench",
		Config:           *cfg,
		Normalization:    demtfile.ImageNetNormalization(),
		Source:           demtfile.Source{File: filepath.Base(keys), Format: "random weights for the official key list"},
		CreatedBy:        "tools/peerbench",
	}
	fmt.Fprintf(stderr, "writing %s (%s, random weights)\n", path, cfg.Backbone.Name)
	if err := demtfile.WriteFile(path, meta, w, demtfile.WriteOptions{DType: demtfile.DTypeF32}); err != nil {
		return fmt.Errorf("the project's model: %w", err)
	}
	return nil
}

// loadAverage returns the 1-minute load average (from /proc/loadavg), so that rounds run
// while other work shared the CPUs can be told apart; "?" where it cannot be read.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
