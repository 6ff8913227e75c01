package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/npy"
)

func cmdInfer(e *env, args []string) error {
	fs := newFlagSet("infer", "infer --model M (IMAGE | --npy FILE) -o OUTDIR [--raw] [--size HxW] [--device cpu|gpu|auto] [--threads N]",
		"Runs the model on a PNG/JPEG image or an already normalised float32 (1,3,H,W) .npy array, at\n"+
			"the input's size (at least 32x32). Writes OUTDIR/<task>.png (and <task>_legend.txt for\n"+
			"segmentation tasks), or with --raw OUTDIR/out_<task>.npy: float32 (1,C,H,W) raw logits.")
	modelPath := fs.String("model", "", "the model: a .demt `file` or a PyTorch checkpoint (required)")
	npyPath := fs.String("npy", "", "read the input from this normalised float32 (1,3,H,W) .npy `file` instead of an image")
	outDir := fs.String("o", "", "output `folder`, created if missing (required)")
	raw := fs.Bool("raw", false, "write raw logits as out_<task>.npy instead of PNGs")
	size := fs.String("size", "", "resize the image to `HxW` first (images only)")
	device := fs.String("device", deviceAuto, "where to run: cpu, gpu or auto")
	threads := fs.Int("threads", 0, "CPU worker `threads` (0 = all cores)")
	plain := fs.Bool("plain", false, "run the plain plan, without the rewrites (slower; same results within float rounding)")
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
	case *threads < 0:
		return usagef("infer: --threads must be ≥ 0")
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

	// Read the input before the (slower) model, so a bad input fails fast.
	var input []float32
	var rgb []uint8
	var h, w int
	inName := *npyPath
	if inName != "" {
		if input, h, w, err = readInputNPY(inName); err != nil {
			return fmt.Errorf("infer %s: %w", inName, err)
		}
	} else {
		inName = pos[0]
		if rgb, h, w, err = imageio.Decode(inName); err != nil {
			return fmt.Errorf("infer: %w", err) // names the image
		}
		if nh > 0 {
			rgb, h, w = imageio.ResizeRGB(rgb, h, w, nh, nw), nh, nw
		}
	}
	if h < model.MinInputSize || w < model.MinInputSize {
		hint := ""
		if *size == "" && *npyPath == "" {
			hint = " (use --size to upscale)"
		}
		return fmt.Errorf("infer %s: input %dx%d is smaller than the %dx%d minimum%s",
			inName, h, w, model.MinInputSize, model.MinInputSize, hint)
	}

	m, err := loadModel(e, *modelPath)
	if err != nil {
		return fmt.Errorf("infer: model %s: %w", *modelPath, err)
	}
	if input == nil {
		mean, std := normalization(m.norm)
		input = imageio.Normalize(rgb, h, w, mean, std)
	}
	p, err := buildPlan(m, h, w, *plain)
	if err != nil {
		return fmt.Errorf("infer %s: %w", inName, err)
	}
	be, devNote, err := openBackend(*device)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	defer be.close()
	if devNote != "" {
		fmt.Fprintln(e.stderr, devNote)
	}
	bar := newProgress(e.stderr, "running")
	get, done, err := be.execute(p, input, execOptions{threads: *threads, progress: bar.ops})
	bar.finish()
	if err != nil {
		return fmt.Errorf("infer %s: %s: %w", inName, be.name, err)
	}
	defer done()

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return fmt.Errorf("infer: output folder: %w", err)
	}
	for _, o := range p.Outputs {
		files, err := writeOutput(*outDir, p, o, get, *raw)
		if err != nil {
			return fmt.Errorf("infer %s: output %s: %w", inName, o.Task, err)
		}
		for _, f := range files {
			fmt.Fprintln(e.stdout, f)
		}
	}
	return nil
}

// writeOutput writes one task output to dir and returns the files written.
func writeOutput(dir string, p *model.Plan, o model.Output, get func(id int) ([]float32, error), raw bool) ([]string, error) {
	data, err := get(o.Tensor)
	if err != nil {
		return nil, err
	}
	s := p.Tensors[o.Tensor].Shape
	if len(data) != s.Numel() {
		return nil, fmt.Errorf("%d values for shape %s", len(data), s)
	}
	if raw {
		path := filepath.Join(dir, "out_"+o.Task+".npy")
		if err := npy.WriteFloat32File(path, []int{1, s.C, s.H, s.W}, model.CHWFromHWC(data, s.H, s.W, s.C)); err != nil {
			return nil, err
		}
		return []string{path}, nil
	}
	path := filepath.Join(dir, o.Task+".png")
	if err := imageio.WritePNG(path, imageio.Colorize(o.Task, s.C, data, s.H, s.W), s.H, s.W); err != nil {
		return nil, err
	}
	files := []string{path}
	var names []string
	for _, t := range p.Config.Head.Tasks {
		if t.Name == o.Task {
			names = t.ClassNames
		}
	}
	if legend := imageio.Legend(o.Task, names); legend != "" {
		lp := filepath.Join(dir, o.Task+"_legend.txt")
		if err := os.WriteFile(lp, []byte(legend), 0o644); err != nil {
			return nil, err
		}
		files = append(files, lp)
	}
	return files, nil
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
