package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/train/synth"
)

func synthData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := synth.Generate(dir, synth.GenerateOptions{Options: synth.Options{Height: 48, Width: 64, Seed: 3}, Count: 10, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinyRun(data string) RunOptions {
	return RunOptions{Data: data, Arch: "nano", HeadWidth: 8, Batch: 2, Steps: 4, Optimizer: "sgd", CropH: 48, CropW: 64,
		DropPath: 0.1, Seed: 5, Augment: true, LR: 0.01}
}

// TestResumeIsExact stops a run after 2 of 4 steps, resumes it, and compares the final
// checkpoint and the logged losses with an uninterrupted run: bit for bit.
func TestResumeIsExact(t *testing.T) {
	data := synthData(t)
	opt := tinyRun(data)
	full := filepath.Join(t.TempDir(), "full")
	if err := Run(context.Background(), full, opt, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part")
	ctx, cancel := context.WithCancel(context.Background())
	if err := Run(ctx, part, opt, false, func(p Progress) {
		if p.Step == 2 {
			cancel()
		}
	}, nil); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run: %v", err)
	}
	f, err := demtfile.ReadFile(filepath.Join(part, ModelFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Meta.Notes, "trained 2 steps") {
		t.Fatalf("checkpoint after the stop: %q", f.Meta.Notes)
	}
	if err := Run(context.Background(), part, RunOptions{}, true, nil, nil); err != nil {
		t.Fatal(err)
	}
	a, err := demtfile.ReadFile(filepath.Join(full, ModelFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := demtfile.ReadFile(filepath.Join(part, ModelFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Weights.Tensors) != len(b.Weights.Tensors) {
		t.Fatalf("%d vs %d tensors", len(a.Weights.Tensors), len(b.Weights.Tensors))
	}
	for i, ta := range a.Weights.Tensors {
		tb := b.Weights.Tensors[i]
		for j := range ta.F32 {
			if ta.F32[j] != tb.F32[j] {
				t.Fatalf("%s[%d]: uninterrupted %v, resumed %v", ta.Name, j, ta.F32[j], tb.F32[j])
			}
		}
		for j := range ta.I64 {
			if ta.I64[j] != tb.I64[j] {
				t.Fatalf("%s[%d]: uninterrupted %v, resumed %v", ta.Name, j, ta.I64[j], tb.I64[j])
			}
		}
	}
	la, lb := logRows(t, full), logRows(t, part)
	if len(la) != 5 || len(lb) != 5 {
		t.Fatalf("log rows: %d and %d, want header + 4", len(la), len(lb))
	}
	for i := 1; i < 5; i++ {
		if la[i][1] != lb[i][1] {
			t.Errorf("step %d: objective %s uninterrupted, %s resumed", i, la[i][1], lb[i][1])
		}
	}
	if nbt := b.Weights.Get("head.bottleneck.semseg.bn.num_batches_tracked"); nbt == nil || nbt.I64[0] != 4 {
		t.Errorf("num_batches_tracked %v, want 4", nbt)
	}
}

// TestResumeRefusesMixedCheckpoint: a model and an optimiser state of different steps (a
// crash between the two writes) are refused.
func TestResumeRefusesMixedCheckpoint(t *testing.T) {
	data := synthData(t)
	opt := tinyRun(data)
	one, two := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	opt.Steps = 1
	if err := Run(context.Background(), one, opt, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	opt.Steps = 2
	if err := Run(context.Background(), two, opt, false, nil, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(one, OptimFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(two, OptimFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), two, RunOptions{Steps: 3}, true, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "step 2") || !strings.Contains(err.Error(), "step 1") {
		t.Fatalf("mixed checkpoint: %v", err)
	}
}

func logRows(t *testing.T, dir string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		rows = append(rows, strings.Split(l, ","))
	}
	return rows
}

// TestTrainingReducesLoss trains the tiny model for 25 AdamW steps on nine synthetic
// scenes (no augmentation) and checks that the objective falls.
func TestTrainingReducesLoss(t *testing.T) {
	data := synthData(t)
	opt := tinyRun(data)
	opt.Augment, opt.DropPath, opt.Steps, opt.Optimizer, opt.LR = false, 0, 25, "adamw", 3e-3
	dir := filepath.Join(t.TempDir(), "run")
	var first, last float64
	err := Run(context.Background(), dir, opt, false, func(p Progress) {
		if p.Step == 1 {
			first = p.Objective
		}
		last = p.Objective
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("objective: step 1 %.4f, step %d %.4f", first, opt.Steps, last)
	if !(last < 0.8*first) {
		t.Fatalf("objective went from %.4f to %.4f in %d steps", first, last, opt.Steps)
	}
}
