package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/demt-web/demt/verify"
)

// verifyTrain is verify --fixture on a training fixture folder (manifest "kind": "train"):
// one official training step in Go (train-mode forward, losses, backward, SGD) compared with
// the reference, one line per output, loss, gradient, BatchNorm buffer and update.
func verifyTrain(e *env, dir string, threads int) error {
	checks, err := verify.Train(dir, threads)
	if err != nil {
		return fmt.Errorf("verify: training fixture %s: %w", dir, err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "group\tname\terror\ttolerance\tmeasure\tresult")
	failed := 0
	for _, c := range checks {
		verdict := "OK"
		if !c.OK {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3e\t%.0e\t%s\t%s\n", c.Group, c.Name, c.Err, c.Tol, c.Measure, verdict)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "training fixture %s: %d checks, %d failed\n", dir, len(checks), failed)
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d training checks of %s out of tolerance", failed, len(checks), dir)
	}
	return nil
}
