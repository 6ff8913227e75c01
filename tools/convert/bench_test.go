package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// bench --json prints one object with every documented key; the timings, throughput and
// memory are positive and consistent with each other.
func TestBenchJSON(t *testing.T) {
	ckpt := filepath.Join(fixtureDir(t, "swin-nyud-small"), "model.pth")
	for _, device := range []string{"cpu", "gpu"} {
		t.Run(device, func(t *testing.T) {
			stdout := mustRun(t, "bench", "--model", ckpt, "--size", "40x48", "--reps", "2", "--device", device, "--json")
			var raw map[string]any
			if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, stdout)
			}
			for _, k := range []string{"median_s", "min_s", "max_s", "gmacs", "peak_bytes", "device", "cpu", "size", "reps", "threads", "macs", "times_s"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("key %q missing", k)
				}
			}
			var r benchResult
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatal(err)
			}
			if r.Device != device || r.CPU == "" || r.Size != "40x48" || r.Reps != 2 || len(r.Times) != 2 {
				t.Errorf("device %q cpu %q size %q reps %d times %v", r.Device, r.CPU, r.Size, r.Reps, r.Times)
			}
			if !(r.Min > 0 && r.Min <= r.Median && r.Median <= r.Max) || r.MACs <= 0 || r.PeakBytes <= 0 {
				t.Errorf("min %g median %g max %g macs %d peak %d", r.Min, r.Median, r.Max, r.MACs, r.PeakBytes)
			}
			if got := float64(r.MACs) / r.Median / 1e9; r.GMACs <= 0 || got/r.GMACs < 0.999 || got/r.GMACs > 1.001 {
				t.Errorf("gmacs %g, macs/median %g", r.GMACs, got)
			}
			switch device {
			case "cpu":
				if r.Threads <= 0 || r.ActivationBytes <= 0 || r.Adapter != "" {
					t.Errorf("cpu: threads %d activations %d adapter %q", r.Threads, r.ActivationBytes, r.Adapter)
				}
			case "gpu":
				if r.Adapter == "" {
					t.Error("gpu: no adapter named")
				}
			}
		})
	}
}

func TestBenchText(t *testing.T) {
	ckpt := filepath.Join(fixtureDir(t, "swin-nyud-small"), "model.pth")
	stdout := mustRun(t, "bench", "--model", ckpt, "--size", "32", "--reps", "1", "--warmup", "0", "--threads", "1", "--plain")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "plain plan, 32x32") || !strings.Contains(lines[1], "cpu, 1 threads") ||
		!strings.Contains(lines[3], "GMAC/s") || !strings.Contains(lines[4], "peak") {
		t.Fatalf("stdout:\n%s", stdout)
	}
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--model", ckpt, "--reps", "0"},
		{"bench", "--model", ckpt, "--warmup", "-1"},
		{"bench", "--model", ckpt, "--size", "8x8"},
		{"bench", "--model", ckpt, "--device", "tpu"},
		{"bench", "--model", ckpt, "extra"},
	} {
		code, _, stderr := runCmd(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		checkOneLineError(t, stderr)
	}
}
