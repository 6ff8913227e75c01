package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/demt-web/demt/internal/atomicfile"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
	"github.com/demt-web/demt/session"
)

func cmdInfer(e *env, args []string) error {
	fs := newFlagSet("infer", "infer --model M (IMAGE | --npy FILE) -o OUTDIR [--raw] [--size HxW] [--device cpu|gpu|auto] [--threads N] [--plain] [--max-memory SIZE]",
		"Runs the model on a PNG/JPEG image or an already normalised float32 (1,3,H,W) .npy array.\n"+
			"An image whose long side exceeds "+strconv.Itoa(imageio.DefaultLongSide)+" pixels is scaled down to that long side\n"+
			"first (aspect kept; sides at least 16); --size HxW runs at exactly that size instead.\n"+
			"Writes OUTDIR/<task>.png at the image's own size (and <task>_legend.txt for segmentation\n"+
			"tasks), or with --raw OUTDIR/out_<task>.npy: float32 (1,C,H,W) raw logits at the size the\n"+
			"model ran at. Inputs are never overwritten; non-finite inputs or outputs are an error.")
	modelPath := fs.String("model", "", "the model: a .demt `file` or a PyTorch checkpoint (required)")
	npyPath := fs.String("npy", "", "read the input from this normalised float32 (1,3,H,W) .npy `file` instead of an image")
	outDir := fs.String("o", "", "output `folder`, created if missing (required)")
	raw := fs.Bool("raw", false, "write raw logits as out_<task>.npy instead of PNGs")
	size := fs.String("size", "", "run the image at `HxW` instead of fitting its long side to "+strconv.Itoa(imageio.DefaultLongSide)+" (images only)")
	device := fs.String("device", deviceAuto, "where to run (`name`: cpu, gpu or auto)")
	threads := fs.Int("threads", 0, "number of CPU worker threads (`N`; 0 = all cores)")
	plain := fs.Bool("plain", false, "run the plain plan, without the rewrites (slower; same results within float rounding)")
	maxMem := fs.String("max-memory", "0", "refuse a run whose activation memory exceeds `SIZE` (e.g. 2G; 0 = the memory available, -1 = no limit)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case *modelPath == "":
		return usagef("infer: --model is required")
	case *outDir == "":
		return usagef("infer: -o OUTDIR is required")
	case *npyPath == "" && len(pos) != 1:
		return usagef("infer: want exactly one image (or --npy FILE), got %d arguments", len(pos))
	case *npyPath != "" && len(pos) != 0:
		return usagef("infer: give either an image or --npy, not both")
	case *npyPath != "" && *size != "":
		return usagef("infer: --size applies to images only, not to --npy input")
	}
	if err := checkThreads("infer", *threads); err != nil {
		return err
	}
	maxBytes := int64(-1)
	if *maxMem != "-1" {
		if maxBytes, err = parseBytes("--max-memory", *maxMem); err != nil {
			return err
		}
	}
	var nh, nw int
	if *size != "" {
		if nh, nw, err = parseSize(*size); err != nil {
			return err
		}
	}
	if err := checkDevice(*device); err != nil {
		return err
	}
	if err := checkWritableFolder(*outDir); err != nil {
		return fmt.Errorf("infer: -o %s: %w", *outDir, err)
	}

	// Read the input before the (slower) model, so a bad input fails fast.
	var input []float32
	var rgb []uint8
	var h, w int // the image's (or array's) own size
	inName := *npyPath
	if inName != "" {
		if input, h, w, err = readInputNPY(inName); err != nil {
			return fmt.Errorf("infer %s: %w", inName, err)
		}
		if h < model.MinInputSize || w < model.MinInputSize {
			return fmt.Errorf("infer %s: input %dx%d is smaller than the %dx%d minimum", inName, h, w, model.MinInputSize, model.MinInputSize)
		}
	} else {
		inName = pos[0]
		if rgb, h, w, err = imageio.Decode(inName); err != nil {
			return fmt.Errorf("infer: %w", err) // names the image
		}
		if nh > 0 && (nh < model.MinInputSize || nw < model.MinInputSize) {
			return fmt.Errorf("infer %s: --size %dx%d is smaller than the %dx%d minimum", inName, nh, nw, model.MinInputSize, model.MinInputSize)
		}
	}

	m, err := loadModel(e, *modelPath)
	if err != nil {
		return fmt.Errorf("infer: model %s: %w", *modelPath, err)
	}
	files, err := outputFiles(*outDir, m.Config, *raw)
	if err != nil {
		return fmt.Errorf("infer: model %s: %w", *modelPath, err)
	}
	for _, f := range files {
		for _, in := range []string{inName, *modelPath} {
			if sameFile(f, in) {
				return fmt.Errorf("infer %s: refusing to overwrite the input %s with the output %s (choose another -o)", inName, in, f)
			}
		}
	}
	bar := newProgress(e.stderr, "running")
	s, closeSession, err := newSession(e, m, *device, session.Options{Threads: *threads, Plain: *plain, MaxMemory: maxBytes, Progress: bar.ops})
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	defer closeSession()
	ih, iw := h, w
	if rgb != nil {
		if ih, iw = nh, nw; nh == 0 {
			ih, iw = s.InputSize(h, w)
		}
	}
	// Prepare the plan first: its memory is checked before the input is resized or anything
	// large is allocated.
	if _, err := s.Plan(ih, iw); err != nil {
		return fmt.Errorf("infer %s: %w", inName, err)
	}
	if rgb != nil {
		if input, ih, iw, err = s.Image(rgb, h, w, ih, iw); err != nil {
			return fmt.Errorf("infer %s: %w", inName, err)
		}
		rgb = nil
		if ih != h || iw != w {
			fmt.Fprintf(e.stderr, "running at %dx%d (the image is %dx%d; --size to choose)\n", ih, iw, h, w)
		}
	}
	res, err := s.Run(input, ih, iw)
	bar.finish()
	if err != nil {
		return fmt.Errorf("infer %s: %s: %w", inName, s.Device(), err)
	}

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return fmt.Errorf("infer: output folder: %w", err)
	}
	e.outputs.add(files...)
	for _, o := range res.Outputs {
		files, err := writeOutput(*outDir, m.Config, o, *raw, h, w)
		if err != nil {
			return fmt.Errorf("infer %s: output %s: %w", inName, o.Task, err)
		}
		for _, f := range files {
			fmt.Fprintln(e.stdout, f)
		}
	}
	return nil
}

// outputFiles lists the files infer writes for the tasks of cfg; a task name that is not a
// plain file name is an error.
func outputFiles(dir string, cfg *model.Config, raw bool) ([]string, error) {
	var files []string
	for _, t := range cfg.Head.Tasks {
		if !safeName(t.Name) {
			return nil, fmt.Errorf("task name %q cannot be a file name", t.Name)
		}
		if raw {
			files = append(files, filepath.Join(dir, "out_"+t.Name+".npy"))
			continue
		}
		files = append(files, filepath.Join(dir, t.Name+".png"))
		if imageio.Legend(t.Name, t.ClassNames) != "" {
			files = append(files, filepath.Join(dir, t.Name+"_legend.txt"))
		}
	}
	return files, nil
}

// safeName reports whether s is a non-empty run of ASCII letters, digits, '_' and '-'.
func safeName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// checkWritableFolder checks, before any expensive work, that dir is (or can be created as) a
// folder this process can write files in: it creates and removes a probe file in dir or in
// the nearest folder above it that exists. Nothing is left behind.
func checkWritableFolder(dir string) error {
	probe := filepath.Clean(dir)
	for {
		st, err := os.Stat(probe)
		if err == nil {
			if !st.IsDir() {
				if probe == filepath.Clean(dir) {
					return errors.New("exists and is not a folder")
				}
				return fmt.Errorf("%s is not a folder", probe)
			}
			break
		}
		up := filepath.Dir(probe)
		if up == probe {
			return fileErr(err)
		}
		probe = up
	}
	f, err := os.CreateTemp(probe, ".demt-convert-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", probe, fileErr(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// writeOutput writes one task output to dir and returns the files written: raw logits at the
// size the model ran at, or a PNG rendered at the image's own size h×w.
func writeOutput(dir string, cfg *model.Config, o session.Output, raw bool, h, w int) ([]string, error) {
	s := o.Shape
	if raw {
		path := filepath.Join(dir, "out_"+o.Task+".npy")
		if err := npy.WriteFloat32File(path, []int{1, s.C, s.H, s.W}, model.CHWFromHWC(o.Data, s.H, s.W, s.C)); err != nil {
			return nil, err
		}
		return []string{path}, nil
	}
	path := filepath.Join(dir, o.Task+".png")
	if err := imageio.WritePNG(path, imageio.ColorizeAt(o.Task, s.C, o.Data, s.H, s.W, h, w), h, w); err != nil {
		return nil, err
	}
	files := []string{path}
	var names []string
	for _, t := range cfg.Head.Tasks {
		if t.Name == o.Task {
			names = t.ClassNames
		}
	}
	if legend := imageio.Legend(o.Task, names); legend != "" {
		lp := filepath.Join(dir, o.Task+"_legend.txt")
		if err := writeFileAtomic(lp, []byte(legend)); err != nil {
			return nil, err
		}
		files = append(files, lp)
	}
	return files, nil
}

// writeFileAtomic writes b to path (mode 0644) through a temporary file in the same folder.
func writeFileAtomic(path string, b []byte) error {
	return fileErr(atomicfile.WriteBytes(path, b))
}

// readInputNPY reads a normalised float32 (1,3,H,W) array as channels-last [H, W, 3].
func readInputNPY(path string) (hwc []float32, h, w int, err error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fileErr(err)
	}
	if len(a.Shape) != 4 || a.Shape[0] != 1 || a.Shape[1] != 3 {
		return nil, 0, 0, fmt.Errorf("array shape %v, want (1,3,H,W)", a.Shape)
	}
	if a.Descr != "<f4" {
		return nil, 0, 0, fmt.Errorf("array dtype %s, want float32 (<f4)", a.Descr)
	}
	h, w = a.Shape[2], a.Shape[3]
	return model.HWCFromCHW(a.F32, 3, h, w), h, w, nil
}

// maxSide bounds each side of --size.
const maxSide = 16384

// parseSize parses "HxW" (or "N" for N×N).
func parseSize(s string) (h, w int, err error) {
	hs, ws, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		ws = hs
	}
	h, err1 := strconv.Atoi(hs)
	w, err2 := strconv.Atoi(ws)
	if err1 != nil || err2 != nil || h <= 0 || w <= 0 || h > maxSide || w > maxSide {
		return 0, 0, usagef("bad --size %q (want HxW, e.g. 512x512)", s)
	}
	return h, w, nil
}
