package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/session"
	"github.com/demt-web/demt/verify"
)

func cmdVerify(e *env, args []string) error {
	fs := newFlagSet("verify", "verify --fixture DIR [--model M] [--device cpu|gpu|auto] [--threads N]",
		"Runs the model on a fixture's input.npy and compares every array the fixture's manifest\n"+
			"lists (outputs and intermediates) with the reference. Prints one line per array and\n"+
			"exits 1 when any is out of tolerance: max|diff| <= 1e-3*max(1,max|ref|), relL2 <= 1e-4.\n"+
			"A metric fixture folder (expected.json with \"kind\": \"metrics\") needs no model: every\n"+
			"official metric is recomputed from its pred_/label_ arrays (values to relative 1e-5,\n"+
			"counts exactly).")
	modelPath := fs.String("model", "", "the model: a .demt `file` or a PyTorch checkpoint (default: the fixture's checkpoint)")
	fixtureDir := fs.String("fixture", "", "the fixture `folder` (with manifest.json) (required)")
	device := fs.String("device", deviceAuto, "where to run (`name`: cpu, gpu or auto)")
	threads := fs.Int("threads", 0, "number of CPU worker threads (`N`; 0 = all cores)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("verify: unexpected arguments %q (the model and fixture are flags)", pos)
	case *fixtureDir == "":
		return usagef("verify: --fixture DIR is required")
	}
	if err := checkThreads("verify", *threads); err != nil {
		return err
	}
	if err := checkDevice(*device); err != nil {
		return err
	}
	if verify.IsMetricFixture(*fixtureDir) {
		if *modelPath != "" {
			return usagef("verify: %s is a metric fixture: it takes no --model", *fixtureDir)
		}
		return verifyMetrics(e, *fixtureDir)
	}
	fx, err := fixture.LoadModel(*fixtureDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("verify: fixture %s: no manifest.json (not a fixture folder)", *fixtureDir)
	}
	if err != nil {
		return fmt.Errorf("verify: fixture %s: %w", *fixtureDir, err)
	}
	if *modelPath == "" {
		*modelPath = fx.CkptPath
	}
	input, h, w, err := verify.Input(fx)
	if err != nil {
		return fmt.Errorf("verify: fixture %s: %w", *fixtureDir, err)
	}
	m, err := loadModel(e, *modelPath)
	if err != nil {
		return fmt.Errorf("verify: model %s: %w", *modelPath, err)
	}
	bar := newProgress(e.stderr, "running")
	s, closeSession, err := newSession(e, m, *device, session.Options{Threads: *threads, Plain: true, KeepAll: true, Progress: bar.ops})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer closeSession()
	res, err := s.Run(input, h, w)
	bar.finish()
	if err != nil {
		return fmt.Errorf("verify: model %s: %s: %w", *modelPath, s.Device(), err)
	}
	results, err := verify.Compare(res.Plan, fx, res.Tensor)
	if err != nil {
		return fmt.Errorf("verify: fixture %s: %w", *fixtureDir, err)
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "array\tmax|diff|\tmax|ref|\trelL2\tresult")
	failed := 0
	for _, r := range results {
		verdict := "OK"
		if !r.OK {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%.3e\t%.3e\t%.3e\t%s\n", r.Name, r.Diff.MaxAbs, r.Diff.MaxRef, r.Diff.RelL2, verdict)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%s on %s: %d arrays, %d failed\n", fx.Name, s.Device(), len(results), failed)
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d arrays of %s out of tolerance", failed, len(results), fx.Name)
	}
	return nil
}
