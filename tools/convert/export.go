package main

import (
	"fmt"
	"os"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/torchckpt"
)

func cmdExport(e *env, args []string) error {
	fs := newFlagSet("export", "export --model M -o OUT.pth",
		"Writes the model's weights as a PyTorch state dict (a torch.save zip file) with the official\n"+
			"DeMT key names, in the official order, BatchNorm buffers and Swin position indices included,\n"+
			"for torch.load(OUT, weights_only=True) and a strict load_state_dict into the official model.\n"+
			"Float tensors are written as float32 (f16 and int8 .demt weights are dequantised), integer\n"+
			"buffers as int64. The input is never overwritten.")
	modelPath := fs.String("model", "", "the model: a .demt `file` (converted or trained) or a PyTorch checkpoint (required)")
	out := fs.String("o", "", "output .pth `file` (required)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("export: unexpected arguments %q (the model is given with --model)", pos)
	case *modelPath == "":
		return usagef("export: --model is required")
	case *out == "":
		return usagef("export: -o OUT.pth is required")
	}
	if sameFile(*modelPath, *out) {
		return fmt.Errorf("export %s: refusing to overwrite the input with the output %s", *modelPath, *out)
	}
	m, err := loadModel(e, *modelPath)
	if err != nil {
		return fmt.Errorf("export: model %s: %w", *modelPath, err)
	}
	sd, err := model.StateDict(m.Config, m.Weights)
	if err != nil {
		return fmt.Errorf("export %s: %w", *modelPath, err)
	}
	fmt.Fprintf(e.stderr, "writing %s\n", *out)
	if err := torchckpt.WriteFile(*out, sd, *modelPath); err != nil {
		return fmt.Errorf("export %s: %w", *modelPath, err)
	}
	st, err := os.Stat(*out)
	if err != nil {
		return fmt.Errorf("export: %s: %w", *out, fileErr(err))
	}
	buffers := 0
	for _, t := range sd.Tensors {
		if t.I64 != nil {
			buffers++
		}
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s, %d keys (%d int64 buffers), %d float elements, %d bytes\n",
		*out, describeBackbone(&m.Config.Backbone), len(sd.Tensors), buffers, sd.NumParams(), st.Size())
	return nil
}
