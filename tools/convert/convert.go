package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/demt-web/demt/calibrate"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
)

func cmdConvert(e *env, args []string) error {
	fs := newFlagSet("convert", "convert CKPT -o OUT.demt [--dtype f32|f16|int8] [--precise auto|none]",
		"Reads a PyTorch checkpoint (.pth/.ckpt, plain state dict or Lightning), infers the DeMT\n"+
			"architecture from its keys and writes a .demt file. The input is never overwritten.\n"+
			"For f16 and int8, a calibration run on a built-in synthetic image picks the modules whose\n"+
			"weights stay one step more precise (int8 → f16, f16 → f32) so that the outputs stay within\n"+
			"about 1e-3 (f16) / 1.5e-2 (int8) relative L2 of the float32 model.")
	out := fs.String("o", "", "output .demt `file` (required)")
	dtype := fs.String("dtype", demtfile.DTypeF32, "storage `type` of the weights: f32, f16 or int8")
	precise := fs.String("precise", "auto", "`mode` for f16/int8: auto (calibrate) or none (lower every weight)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("convert: want exactly one checkpoint, got %d arguments (run '%s convert --help')", len(pos), progName)
	}
	in := pos[0]
	switch {
	case *out == "":
		return usagef("convert: -o OUT.demt is required")
	case *dtype != demtfile.DTypeF32 && *dtype != demtfile.DTypeF16 && *dtype != demtfile.DTypeInt8:
		return usagef("convert: unknown --dtype %q (want f32, f16 or int8)", *dtype)
	case *precise != "auto" && *precise != "none":
		return usagef("convert: unknown --precise %q (want auto or none)", *precise)
	}
	if sameFile(in, *out) {
		return fmt.Errorf("convert %s: refusing to overwrite the input with the output %s", in, *out)
	}
	if err := convert(e, in, *out, *dtype, *precise == "auto"); err != nil {
		return fmt.Errorf("convert %s: %w", in, err)
	}
	return nil
}

func convert(e *env, in, out, dtype string, calib bool) error {
	kind, err := sniff(in)
	if err != nil {
		return err
	}
	if kind == kindDemt {
		return fmt.Errorf("already a .demt file (convert reads PyTorch checkpoints)")
	}
	raw, err := readTorch(e, in)
	if err != nil {
		return err
	}
	w, err := model.NormalizeKeys(raw)
	if err != nil {
		return err
	}
	cfg, err := model.InferConfig(w)
	if err != nil {
		return err
	}
	sum, err := fileSHA256(in)
	if err != nil {
		return err
	}
	meta := &demtfile.Metadata{
		ConverterVersion: converterVersion,
		Config:           *cfg,
		Normalization:    demtfile.ImageNetNormalization(),
		Source:           demtfile.Source{File: filepath.Base(in), SHA256: sum, Format: "torch-zip"},
		CreatedBy:        progName + " " + converterVersion,
	}
	if err := meta.Validate(); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	opt := demtfile.WriteOptions{DType: dtype}
	if dtype != demtfile.DTypeF32 && calib {
		bar := newProgress(e.stderr, "calibrating")
		rep, err := calibrate.Choose(cfg, w, calibrate.Options{DType: dtype, Progress: bar.ops})
		bar.finish()
		if err != nil {
			return err
		}
		opt.Precise = rep.Precise
		meta.Notes = fmt.Sprintf("calibration: %d of %d modules kept one step more precise than %s (%.1f%% of their parameters); "+
			"estimated output error %.2g, measured %.2g (relative L2 on the built-in 64x64 calibration image)",
			rep.PreciseModules, len(rep.Modules), dtype, 100*float64(rep.PreciseParams)/float64(max(1, rep.Params)), rep.Estimated, rep.Measured)
		if len(rep.Modules) == 0 {
			meta.Notes = "calibration: every weight is exactly representable in " + dtype + "; nothing to keep more precise"
		}
		fmt.Fprintln(e.stderr, meta.Notes)
	}
	fmt.Fprintf(e.stderr, "writing %s (%s)\n", out, dtype)
	e.outputs.add(out)
	if err := demtfile.WriteFile(out, meta, w, opt, in); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return fileErr(err)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s, %d tensors, %d parameters, %s, %d bytes (source sha256 %s)\n",
		out, describeBackbone(&cfg.Backbone), len(w.Tensors), w.NumParams(), dtype, st.Size(), sum)
	return nil
}

// sameFile reports whether a and b name the same file, by path or (when both exist) by identity.
func sameFile(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// fileSHA256 returns the hex SHA-256 digest of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fileErr(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256: %w", fileErr(err))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
