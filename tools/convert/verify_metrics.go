package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/demt-web/demt/verify"
)

// verifyMetrics is verify --fixture on a metric fixture folder (expected.json with
// "kind": "metrics"): it recomputes every official metric from the fixture's pred_/label_
// arrays and prints each value or state with its error.
func verifyMetrics(e *env, dir string) error {
	checks, err := verify.CheckMetrics(dir)
	if err != nil {
		return fmt.Errorf("verify: metric fixture %s: %w", dir, err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tgot\treference\terror\ttolerance\tresult")
	failed := 0
	for _, c := range checks {
		switch {
		case c.NoReference:
			fmt.Fprintf(tw, "%s\t%.9g\t-\t-\t-\tno reference\n", c.Name, c.Got)
			continue
		case !c.OK:
			failed++
		}
		verdict := "OK"
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%.9g\t%.9g\t%.3e\t%.0e\t%s\n", c.Name, c.Got, c.Want, c.Err, c.Tol, verdict)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "metric fixture %s: %d checks, %d failed\n", dir, len(checks), failed)
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d metric checks of %s out of tolerance", failed, len(checks), dir)
	}
	return nil
}
