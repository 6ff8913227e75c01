package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/train/synth"
)

// defaultSynthSize is the scene size when --size is omitted (H×W): the default model's
// training resolution.
const defaultSynthSize = "128x160"

// maxPreviewRows bounds a contact sheet (one row per scene).
const maxPreviewRows = 256

func cmdSynth(e *env, args []string) error {
	fs := newFlagSet("synth", "synth (-o DIR [--layout native|nyud|pascal] | --preview SHEET.png) [-n N] [--size HxW] [--seed S] [--val F] [--threads N] [--json]",
		"Renders seeded synthetic indoor scenes (room, furniture, people, one point light with shadows)\n"+
			"with exact labels for semseg, human_parts, sal, normals, edge and depth (docs/synth.md).\n"+
			"-o writes a dataset: the native layout (dataset.json, splits/, one folder per task), or with\n"+
			"--layout nyud|pascal the official NYUD-v2 / PASCAL-Context folders under DIR/NYUDv2 or\n"+
			"DIR/PASCALContext (pass DIR as the official data_dir). DIR must be missing, empty or an\n"+
			"earlier synth output. --preview writes a contact sheet: one row per scene, the image and\n"+
			"every label colourised. The same flags give bit-identical files.")
	out := fs.String("o", "", "dataset `folder` to write")
	layoutName := fs.String("layout", "native", "folder layout (`NAME`: native, nyud or pascal)")
	n := fs.Int("n", 1000, "number of scenes (16 for --preview alone)")
	size := fs.String("size", defaultSynthSize, "scene size `HxW`")
	seed := fs.Uint64("seed", 1, "random seed (`S`); scene i depends only on the seed, i and the size")
	val := fs.Float64("val", synth.DefaultValFraction, "share of scenes in the val split (the last ones)")
	threads := fs.Int("threads", 0, "scenes rendered in parallel (0 = all cores)")
	preview := fs.String("preview", "", "write a contact sheet PNG `file` of the first N scenes")
	asJSON := fs.Bool("json", false, "print the dataset manifest as JSON")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	if *preview != "" && *out == "" && !nSet {
		*n = 16
	}
	switch {
	case len(pos) != 0:
		return usagef("synth: unexpected arguments %q", pos)
	case *out == "" && *preview == "":
		return usagef("synth: give -o DIR or --preview FILE")
	case *n < 1:
		return usagef("synth: -n must be at least 1")
	case *preview != "" && *out == "" && *n > maxPreviewRows:
		return usagef("synth: a contact sheet shows at most %d scenes", maxPreviewRows)
	case *val <= 0 || *val >= 1:
		return usagef("synth: --val must be in (0, 1)")
	case *threads < 0:
		return usagef("synth: --threads must be ≥ 0")
	}
	layout, err := synth.ParseLayout(*layoutName)
	if err != nil {
		return usagef("synth: %v", err)
	}
	h, w, err := parseSize(*size)
	if err != nil {
		return err
	}
	if h < 8 || w < 8 {
		return usagef("synth: --size %s is too small (at least 8x8)", *size)
	}
	workers := *threads
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	opt := synth.Options{Height: h, Width: w, Seed: *seed}

	if *out != "" {
		start := time.Now()
		prog := newSynthProgress(e, *n, start)
		m, err := synth.Generate(*out, synth.GenerateOptions{
			Options: opt, Count: *n, Layout: layout, ValFraction: *val, Workers: workers, Progress: prog.set,
		})
		prog.finish()
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		if *asJSON {
			b, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, string(b))
		} else {
			fmt.Fprintf(e.stdout, "wrote %d scenes (%d train, %d val) of %dx%d, layout %s, seed %d, to %s in %.1f s (%.1f scenes/s)\n",
				m.Count, m.Train, m.Val, h, w, m.Layout, m.Seed, *out, secs, float64(m.Count)/secs)
		}
	}
	if *preview != "" {
		rows := min(*n, maxPreviewRows)
		samples, err := renderPreview(opt, rows, workers)
		if err != nil {
			return err
		}
		rgba, ph, pw := synth.ContactSheet(samples)
		if err := imageio.WritePNG(*preview, rgba, ph, pw); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(e.stdout, "wrote %s: %d scenes, columns %v\n", *preview, rows, synth.PreviewColumns())
		}
	}
	return nil
}

// renderPreview renders scenes 0..n-1 on workers goroutines.
func renderPreview(opt synth.Options, n, workers int) ([]*synth.Sample, error) {
	samples := make([]*synth.Sample, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				samples[i], errs[i] = synth.Render(opt, i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return samples, nil
}

// synthProgress shows a bar on a terminal, or else a line every 10 %, with the rate and
// the time left.
type synthProgress struct {
	bar   *progressBar
	e     *env
	total int
	start time.Time
	next  int // next count at which to print a line
}

func newSynthProgress(e *env, total int, start time.Time) *synthProgress {
	return &synthProgress{bar: newProgress(e.stderr, "synth"), e: e, total: total, start: start, next: max(total/10, 1)}
}

func (p *synthProgress) set(done, total int) {
	if p.bar.on {
		p.bar.set(int64(done), int64(total))
		return
	}
	if total < 100 || done < p.next {
		return
	}
	p.next += max(total/10, 1)
	secs := time.Since(p.start).Seconds()
	rate := float64(done) / secs
	fmt.Fprintf(p.e.stderr, "synth: %d/%d scenes (%d%%), %.1f scenes/s, %.0f s left\n",
		done, total, done*100/total, rate, float64(total-done)/rate)
}

func (p *synthProgress) finish() { p.bar.finish() }
