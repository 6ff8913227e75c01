package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/demt-web/demt/train"
)

func cmdTrain(e *env, args []string) error {
	fs := newFlagSet("train", "train --data DIR -o RUN_DIR [--arch nano] [flags] | train --resume RUN_DIR",
		"Trains a DeMT model on the CPU in native Go, as the official N-GPU run (one image per\n"+
			"device, SyncBatchNorm, per-image loss normalisers, objective = mean over images).\n"+
			"RUN_DIR receives run.json, model.demt and optim.state (every --save-every steps, at the\n"+
			"end and on Ctrl-C), log.csv (per step: objective, raw loss per task, lr, it/s) and its\n"+
			"chart loss.png, eval.csv (the val metrics every --eval-every steps) and preview.png\n"+
			"(val predictions beside their labels). Progress goes to stderr.\n"+
			"Presets: "+strings.Join(train.PresetNames(), ", ")+" (docs/training.md).")
	data := fs.String("data", "", "dataset `folder`: NYUD-v2, PASCAL-Context or synth layout (required unless --resume)")
	out := fs.String("o", "", "run `folder` to create (required unless --resume)")
	resume := fs.String("resume", "", "continue the run in this `folder` (its run.json holds the settings)")
	arch := fs.String("arch", "nano", "architecture `preset`")
	headWidth := fs.Int("head-width", 0, "DemtHead `width` (0: 64 for nano, 256 for the official presets)")
	tasks := fs.String("tasks", "", "comma-separated `TASKS` (default: every task of the dataset)")
	initPath := fs.String("init", "", "start from this .demt `file` (fine-tuning; its architecture is used)")
	freeze := fs.String("freeze", "", "\"backbone\": update only the head's parameters (with --init)")
	batch := fs.Int("batch", 8, "images per step (each its own emulated device)")
	steps := fs.Int("steps", 1000, "optimiser steps (the poly schedule's length); with --resume, may extend the run")
	lr := fs.Float64("lr", 0, "base learning `rate` (0: 0.001, the official value for sgd and the default for adamw)")
	optimizer := fs.String("optimizer", "sgd", "sgd (official: momentum 0.9, weight decay 5e-4) or adamw")
	warmup := fs.Int("warmup", 0, "linear warm-up `steps` (not in the official code)")
	size := fs.String("size", "128x160", "training crop `HxW`")
	dropPath := fs.Float64("drop-path", 0.1, "Swin stochastic depth `rate` (official 0.1)")
	noAugment := fs.Bool("no-augment", false, "no random augmentation (centre crop/pad only)")
	seed := fs.Uint64("seed", 1, "seed of the initialisation, data order, augmentation and DropPath")
	saveEvery := fs.Int("save-every", 500, "checkpoint every `N` steps (0: at the end and on Ctrl-C only)")
	evalEvery := fs.Int("eval-every", 0, "evaluate on the val split every `N` steps (0: never)")
	evalLimit := fs.Int("eval-limit", 0, "evaluate on the first `N` val images (0: all)")
	threads := fs.Int("threads", 0, "number of CPU worker threads (`N`; 0 = all cores)")
	logEvery := fs.Int("log-every", 10, "print a progress line every `N` steps when stderr is not a terminal")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("train: unexpected arguments %q", pos)
	}
	var opt train.RunOptions
	dir := *resume
	if *resume != "" {
		if *out != "" || *data != "" || *initPath != "" {
			return usagef("train: --resume takes its settings from the run folder (no --data, -o or --init)")
		}
		opt.Steps = *steps
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["steps"] {
			opt.Steps = 0
		}
	} else {
		if *data == "" || *out == "" {
			return usagef("train: --data DIR and -o RUN_DIR are required (or --resume RUN_DIR)")
		}
		if _, err := os.Stat(*out); err == nil {
			return usagef("train: %s exists (continue it with --resume %s, or choose another -o)", *out, *out)
		}
		h, w, err := parseSize(*size)
		if err != nil {
			return usagef("train: bad --size %q (want HxW)", *size)
		}
		opt = train.RunOptions{Data: *data, Arch: *arch, HeadWidth: *headWidth, Init: *initPath, Freeze: *freeze,
			Batch: *batch, Steps: *steps, LR: *lr, Optimizer: *optimizer, Warmup: *warmup, CropH: h, CropW: w,
			DropPath: *dropPath, Seed: *seed, SaveEvery: *saveEvery, EvalEvery: *evalEvery, EvalLimit: *evalLimit,
			Threads: *threads, Augment: !*noAugment}
		if *tasks != "" {
			opt.Tasks = strings.Split(*tasks, ",")
		}
		if *initPath != "" {
			opt.Arch = ""
		} else if !slices.Contains(train.PresetNames(), *arch) {
			return usagef("train: unknown --arch %q (presets: %s)", *arch, strings.Join(train.PresetNames(), ", "))
		}
		dir = *out
	}
	if *logEvery <= 0 {
		return usagef("train: --log-every must be ≥ 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	term := isTerminal(e.stderr)
	report := func(p train.Progress) {
		if !term && p.Step%*logEvery != 0 && p.Step != p.Steps {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "step %d/%d  loss %.4f (", p.Step, p.Steps, p.Objective)
		first := true
		for _, t := range orderedTasks(p.TaskLoss) {
			if !first {
				b.WriteString(" ")
			}
			first = false
			fmt.Fprintf(&b, "%s %.4f", t, p.TaskLoss[t])
		}
		fmt.Fprintf(&b, ")  lr %.3g  %.3g it/s  ETA %s", p.LR, p.ItPerSec, p.ETA.Round(time.Second))
		if term {
			fmt.Fprintf(e.stderr, "\r%s\x1b[K", b.String())
		} else {
			fmt.Fprintln(e.stderr, b.String())
		}
	}
	err = train.Run(ctx, dir, opt, *resume != "", report, e.stderr)
	if term {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	fmt.Fprintf(e.stdout, "run %s: checkpoint %s/%s\n", dir, dir, train.ModelFile)
	return nil
}

// orderedTasks returns the tasks in the official order.
func orderedTasks(m map[string]float64) []string {
	var out []string
	for _, t := range []string{"semseg", "human_parts", "sal", "normals", "depth", "edge"} {
		if _, ok := m[t]; ok {
			out = append(out, t)
		}
	}
	return out
}
