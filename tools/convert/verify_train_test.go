package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyTrainFixtures(t *testing.T) {
	for _, name := range []string{"swin-nyud-train", "swin-pascal-train"} {
		dir := fixtureDir(t, filepath.Join("train", name))
		stdout := mustRun(t, "verify", "--fixture", dir)
		for _, group := range []string{"out_train ", "loss ", "grad ", "bn_after ", "sgd_step "} {
			if !strings.Contains(stdout, "\n"+group) {
				t.Errorf("%s: no %q line:\n%s", name, group, stdout)
			}
		}
		if strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, " 0 failed") {
			t.Errorf("%s: not all OK:\n%s", name, stdout)
		}
	}
	code, _, stderr := runCmd(t, "verify", "--fixture", fixtureDir(t, "train/swin-nyud-train"), "--model", "x.demt")
	if code != 2 || !strings.Contains(stderr, "training fixture") {
		t.Errorf("--model on a training fixture: exit %d, stderr %q", code, stderr)
	}
}
