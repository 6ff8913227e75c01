package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/demt-web/demt/model/demtfile"
)

func TestTrainCommand(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	mustRun(t, "synth", "-o", data, "-n", "6", "--size", "48x64", "--seed", "2")
	run := filepath.Join(tmp, "run")
	args := []string{"train", "--data", data, "-o", run, "--arch", "nano", "--head-width", "8", "--size", "48x64",
		"--batch", "2", "--steps", "2", "--log-every", "1", "--eval-every", "2", "--eval-limit", "1", "--tasks", "semseg,depth"}
	code, stdout, stderr := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "model.demt") || !strings.Contains(stderr, "step 2/2") || !strings.Contains(stderr, "semseg mIoU") {
		t.Fatalf("stdout %q\nstderr %q", stdout, stderr)
	}
	for _, f := range []string{"run.json", "model.demt", "optim.state", "log.csv", "eval.csv"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Error(err)
		}
	}
	mustRun(t, "train", "--resume", run, "--steps", "3")
	b, err := os.ReadFile(filepath.Join(run, "log.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "step,objective,loss_semseg,loss_depth,") {
		t.Fatalf("log after resume:\n%s", b)
	}
	if out := mustRun(t, "inspect", filepath.Join(run, "model.demt")); !strings.Contains(out, "depth") {
		t.Errorf("inspect of the checkpoint:\n%s", out)
	}

	// Fine-tune with the backbone frozen: backbone parameters stay, head parameters move.
	tuned := filepath.Join(tmp, "tuned")
	mustRun(t, "train", "--data", data, "-o", tuned, "--init", filepath.Join(run, "model.demt"), "--freeze", "backbone",
		"--size", "48x64", "--batch", "2", "--steps", "1")
	a, err := demtfile.ReadFile(filepath.Join(run, "model.demt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := demtfile.ReadFile(filepath.Join(tuned, "model.demt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[bool]int{}
	for _, ta := range a.Weights.Tensors {
		if ta.F32 == nil || strings.Contains(ta.Name, "running_") {
			continue
		}
		tb := b2.Weights.Get(ta.Name)
		same := slices.Equal(ta.F32, tb.F32)
		backbone := strings.HasPrefix(ta.Name, "backbone.")
		if backbone && !same {
			t.Errorf("frozen %s changed", ta.Name)
		}
		if !backbone && !same {
			changed[true]++
		}
	}
	if changed[true] == 0 {
		t.Error("no head parameter changed")
	}
}

func TestTrainUsage(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no data", []string{"train", "-o", filepath.Join(tmp, "r")}, 2, "--data"},
		{"resume with data", []string{"train", "--resume", tmp, "--data", tmp}, 2, "--resume"},
		{"existing out", []string{"train", "--data", tmp, "-o", tmp}, 2, "exists"},
		{"bad size", []string{"train", "--data", tmp, "-o", filepath.Join(tmp, "r"), "--size", "x"}, 2, "--size"},
		{"bad arch", []string{"train", "--data", tmp, "-o", filepath.Join(tmp, "r2"), "--arch", "huge"}, 2, "--arch"},
		{"resume nothing", []string{"train", "--resume", filepath.Join(tmp, "none")}, 1, "run.json"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q (want %d, %q)", tc.name, code, stderr, tc.code, tc.want)
		}
	}
}
