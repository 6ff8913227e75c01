package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/session"
)

func cmdInspect(e *env, args []string) error {
	fs := newFlagSet("inspect", "inspect [--keys] [--json] [--fast] [--plan [--size HxW] [--plain]] FILE",
		"Shows what a PyTorch checkpoint or a .demt file holds (the kind is read from the file's\n"+
			"first bytes): tensor counts, dtypes and the DeMT architecture. A .demt file's metadata\n"+
			"and index are shown; the file is checked to be complete (all chunks read and checksummed,\n"+
			"or with --fast only its size). With --plan, prints the forward\n"+
			"pass at --size (the optimized plan infer runs; --plain for the unrewritten one), one line\n"+
			"per op, then 'total MACs: N' and the activation memory of a run (what infer checks against\n"+
			"--max-memory).")
	keys := fs.Bool("keys", false, "list every tensor with its shape and dtype")
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	plan := fs.Bool("plan", false, "print the plan of the forward pass instead")
	size := fs.String("size", "512x512", "input size `HxW` of --plan")
	plain := fs.Bool("plain", false, "with --plan: print the plain plan, before the rewrites")
	fast := fs.Bool("fast", false, "for a .demt file: check only that its size is complete, not the chunks' checksums")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("inspect: want exactly one file, got %d arguments (run '%s inspect --help')", len(pos), progName)
	}
	if *plan && (*asJSON || *keys) {
		return usagef("inspect: --plan cannot be combined with --json or --keys")
	}
	path := pos[0]
	if *plan {
		h, w, err := parseSize(*size)
		if err != nil {
			return err
		}
		if err := inspectPlan(e, path, h, w, *plain); err != nil {
			return fmt.Errorf("inspect %s: %w", path, err)
		}
		return nil
	}
	kind, err := sniff(path)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", path, err)
	}
	if kind == kindDemt {
		err = inspectDemt(e, path, *keys, *asJSON, *fast)
	} else {
		err = inspectTorch(e, path, *keys, *asJSON)
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", path, err)
	}
	return nil
}

func inspectPlan(e *env, path string, h, w int, plain bool) error {
	m, err := loadModel(e, path)
	if err != nil {
		return err
	}
	p, err := session.BuildPlan(m, h, w, plain)
	if err != nil {
		return err
	}
	p.Print(e.stdout)
	bytes, err := session.ActivationBytes(p, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "activation memory: %d bytes (%s), the estimate infer checks before running\n", bytes, session.FormatBytes(bytes))
	return nil
}

// tensorJSON is one tensor of a --keys listing.
type tensorJSON struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

// torchReport is the --json output for a PyTorch checkpoint.
type torchReport struct {
	File    string         `json:"file"`
	Format  string         `json:"format"` // "torch"
	Bytes   int64          `json:"bytes"`
	Keys    int            `json:"keys"`
	Params  int            `json:"params"`
	Buffers int            `json:"buffers"` // of Params: buffers, not learnable (BatchNorm running mean/var, the unused DefMixer offset)
	DTypes  map[string]int `json:"dtypes"`  // source dtype → number of tensors
	Config  *model.Config  `json:"config"`  // null when the architecture could not be inferred
	Error   string         `json:"error,omitempty"`
	Tensors []tensorJSON   `json:"tensors,omitempty"` // with --keys, as stored (keys not normalised)
}

func inspectTorch(e *env, path string, keys, asJSON bool) error {
	st, err := os.Stat(path)
	if err != nil {
		return fileErr(err)
	}
	raw, err := readTorch(e, path)
	if err != nil {
		return err
	}
	r := torchReport{File: path, Format: kindTorch, Bytes: st.Size(), Keys: len(raw.Tensors), Params: raw.NumParams(), DTypes: map[string]int{}}
	for _, t := range raw.Tensors {
		r.DTypes[string(t.DType)]++
		if isBuffer(t.Name) {
			r.Buffers += t.Numel()
		}
		if keys {
			r.Tensors = append(r.Tensors, tensorJSON{Name: t.Name, Shape: shapeOrEmpty(t.Shape), DType: string(t.DType)})
		}
	}
	// An architecture that cannot be inferred is reported, then returned as the error.
	var inferErr error
	w, err := model.NormalizeKeys(raw)
	if err == nil {
		r.Config, err = model.InferConfig(w)
	}
	if err != nil {
		inferErr = fmt.Errorf("architecture: %w", err)
		r.Error = inferErr.Error()
	}
	if asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
		return inferErr
	}
	out := e.stdout
	fmt.Fprintf(out, "file:        %s (PyTorch checkpoint, %d bytes)\n", path, r.Bytes)
	fmt.Fprintf(out, "keys:        %d\n", r.Keys)
	fmt.Fprintf(out, "parameters:  %d (%d learnable + %d in buffers: BatchNorm running statistics, DefMixer offsets)\n", r.Params, r.Params-r.Buffers, r.Buffers)
	fmt.Fprintf(out, "dtypes:      %s\n", countList(r.DTypes))
	if r.Config != nil {
		printConfig(out, r.Config)
	}
	if keys {
		fmt.Fprintln(out, "tensors:")
		for _, t := range r.Tensors {
			fmt.Fprintf(out, "  %s\t%s\t%s\n", t.Name, shapeString(t.Shape), t.DType)
		}
	}
	return inferErr
}

// demtReport is the --json output for a .demt file.
type demtReport struct {
	File         string             `json:"file"`
	Format       string             `json:"format"` // "demt"
	Bytes        int64              `json:"bytes"`
	Metadata     *demtfile.Metadata `json:"metadata"`
	Tensors      int                `json:"tensors"`
	Params       int64              `json:"params"`
	Buffers      int64              `json:"buffers"`       // of Params: buffers, not learnable (BatchNorm running mean/var, the unused DefMixer offset)
	StoredDTypes map[string]int     `json:"stored_dtypes"` // stored dtype → number of tensors
	DataBytes    int64              `json:"data_bytes"`    // uncompressed tensor data
	Index        []tensorJSON       `json:"index,omitempty"`
}

func inspectDemt(e *env, path string, keys, asJSON, fast bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fileErr(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileErr(err)
	}
	meta, entries, err := demtfile.ReadHeader(bufio.NewReader(f))
	if err != nil {
		return err
	}
	if err := checkComplete(f, st.Size(), fast); err != nil {
		return err
	}
	r := demtReport{File: path, Format: kindDemt, Bytes: st.Size(), Metadata: meta, Tensors: len(entries), StoredDTypes: map[string]int{}}
	for _, en := range entries {
		r.StoredDTypes[string(en.DType)]++
		r.DataBytes += en.Length
		if en.DType != model.I64 {
			r.Params += int64(model.Numel(en.Shape))
			if isBuffer(en.Name) {
				r.Buffers += int64(model.Numel(en.Shape))
			}
		}
		if keys {
			r.Index = append(r.Index, tensorJSON{Name: en.Name, Shape: shapeOrEmpty(en.Shape), DType: string(en.DType)})
		}
	}
	if asJSON {
		return writeJSON(e.stdout, r)
	}
	out := e.stdout
	fmt.Fprintf(out, "file:        %s (.demt format %d, %d bytes)\n", path, meta.FormatVersion, r.Bytes)
	fmt.Fprintf(out, "dtype:       %s\n", meta.DType)
	fmt.Fprintf(out, "converter:   %s (created by %s)\n", meta.ConverterVersion, meta.CreatedBy)
	fmt.Fprintf(out, "source:      %s (%s), sha256 %s\n", meta.Source.File, meta.Source.Format, meta.Source.SHA256)
	fmt.Fprintf(out, "normalise:   mean %v, std %v\n", meta.Normalization.Mean, meta.Normalization.Std)
	fmt.Fprintf(out, "tensors:     %d (%s), %d parameters (%d learnable + %d in buffers: BatchNorm running statistics, DefMixer offsets), %d bytes uncompressed\n",
		r.Tensors, countList(r.StoredDTypes), r.Params, r.Params-r.Buffers, r.Buffers, r.DataBytes)
	if meta.Notes != "" {
		fmt.Fprintf(out, "notes:       %s\n", meta.Notes)
	}
	printConfig(out, &meta.Config)
	if keys {
		fmt.Fprintln(out, "index:")
		for _, t := range r.Index {
			fmt.Fprintf(out, "  %s\t%s\t%s\n", t.Name, shapeString(t.Shape), t.DType)
		}
	}
	return nil
}

// printConfig prints the architecture, one aspect per line.
func printConfig(out io.Writer, c *model.Config) {
	fmt.Fprintf(out, "backbone:    %s\n", describeBackbone(&c.Backbone))
	b := &c.Backbone
	switch b.Kind {
	case model.Swin:
		fmt.Fprintf(out, "             embed %d, patch %d, window %d, depths %v, heads %v, mlp hidden %v\n",
			b.EmbedDim, b.PatchSize, b.Window, b.Depths, b.Heads, b.MLPHidden)
	case model.HRNet:
		fmt.Fprintf(out, "             widths %v, modules %v (stages 2-4), blocks/branch %v, stem %d, layer1 %d x %d\n",
			b.BranchWidths, b.StageModules, b.BranchBlocks, b.StemChannels, b.Layer1Blocks, b.Layer1Planes)
	}
	fmt.Fprintf(out, "             feature widths %v\n", b.OutChannels)
	h := &c.Head
	fmt.Fprintf(out, "head:        in %d, dim %d, %d attention heads, bottleneck %d, DefMixer order %s x %d\n",
		h.InChannels, h.Dim, h.AttnHeads, h.BottleneckChannels, h.MixerOrder, h.MixerDepth)
	var tasks []string
	for _, t := range h.Tasks {
		s := fmt.Sprintf("%s (%d)", t.Name, t.Channels)
		if len(t.ClassNames) > 0 {
			s = fmt.Sprintf("%s (%d, named)", t.Name, t.Channels)
		}
		tasks = append(tasks, s)
	}
	fmt.Fprintf(out, "tasks:       %s\n", strings.Join(tasks, ", "))
}

// describeBackbone names the backbone: "Swin-T (swin)" or "swin" when unnamed.
func describeBackbone(b *model.BackboneConfig) string {
	if b.Name == "" {
		return b.Kind
	}
	return fmt.Sprintf("%s (%s)", b.Name, b.Kind)
}

// countList formats a count map as "a: 3, b: 1", sorted by name.
func countList(m map[string]int) string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func shapeOrEmpty(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// checkComplete checks that the .demt file f (of size bytes) is whole: with fast, that its
// size is the one its index implies; otherwise also every chunk's checksums and contents, by
// reading it through.
func checkComplete(f *os.File, size int64, fast bool) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fileErr(err)
	}
	if !fast {
		_, err := demtfile.Read(bufio.NewReaderSize(f, 256<<10), nil)
		return err
	}
	want, err := demtfile.ExpectedSize(bufio.NewReader(f))
	switch {
	case err != nil:
		return err
	case size < want:
		return fmt.Errorf("truncated file: %d bytes, the index describes %d", size, want)
	case size > want:
		return fmt.Errorf("%d bytes of unexpected data after the last chunk (the index describes %d bytes)", size-want, want)
	}
	return nil
}

// isBuffer reports whether a float tensor of a DeMT state dict is a registered buffer rather than
// a learnable parameter: the BatchNorm running mean and variance, and the DefMixer ChlSpl
// "offset", which the official code never uses in forward. The official parameter counts
// leave buffers out.
func isBuffer(name string) bool {
	return strings.HasSuffix(name, ".running_mean") || strings.HasSuffix(name, ".running_var") ||
		strings.Contains(name, "defor_mixers.") && strings.HasSuffix(name, ".fn.0.offset")
}
