// Package dataset reads multi-task training and evaluation data in the official NYUD-v2 and
// PASCAL-Context folder layouts, exactly as the official DeMT loaders read them, and in the
// native layout of the synthetic data (`demt-convert synth`), and applies the official
// transforms: Normalize, PadImage, AddIgnoreRegions and the training augmentation.
//
// A Sample is channels-last: the image is [H, W, 3] float32 RGB, 0..255 as read and the
// normalised model input after Normalize; every label is [H, W, C] float32 in the official
// loader encoding (C = 3 for normals, else 1; 255 = ignore).
package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Layout names.
const (
	LayoutNYUD   = "nyud"
	LayoutPASCAL = "pascal"
	LayoutSynth  = "synth"
)

// Ignore is the label value of pixels the losses and metrics skip.
const Ignore = 255

// Sample is one image with its labels.
type Sample struct {
	ID string
	H  int
	W  int
	// Image is [H, W, 3] RGB: 0..255 as read, the normalised input after Normalize.
	Image      []float32
	Normalized bool
	// Labels maps a task name to its [H, W, Channels(task)] label.
	Labels map[string][]float32
	// RawH, RawW are the size as read; PadTop, PadLeft where PadTo put it.
	RawH, RawW      int
	PadTop, PadLeft int
}

// Channels returns the label channel count of a task: 3 for normals, else 1.
func Channels(task string) int {
	if task == "normals" {
		return 3
	}
	return 1
}

// Reader reads one dataset folder.
type Reader interface {
	// Layout returns LayoutNYUD, LayoutPASCAL or LayoutSynth.
	Layout() string
	// Tasks returns the tasks the dataset has labels for, in the official order.
	Tasks() []string
	// ClassNames returns the class names of a segmentation task (nil for other tasks).
	ClassNames(task string) []string
	// Split returns the sample ids of a split ("train", "val").
	Split(name string) ([]string, error)
	// Load reads one sample as the official loader does, before any transform: the image
	// 0..255, labels in the official encoding before AddIgnoreRegions.
	Load(id string) (*Sample, error)
}

// Open detects the layout of dir and returns its reader: a NYUDv2/ or PASCALContext/ folder
// (the official data_dir, as 'synth --layout nyud|pascal' writes it), a dataset.json (the
// native synthetic layout), or the contents of an official folder (gt_sets/: NYUD-v2,
// ImageSets/Context/: PASCAL-Context). tasks selects the tasks to read (nil: all).
func Open(dir string, tasks []string) (Reader, error) {
	isDir := func(p ...string) bool {
		st, err := os.Stat(filepath.Join(append([]string{dir}, p...)...))
		return err == nil && st.IsDir()
	}
	var r Reader
	var err error
	switch {
	case isDir("NYUDv2"): // also what 'synth --layout nyud' writes, beside its dataset.json
		r, err = openNYUD(filepath.Join(dir, "NYUDv2"))
	case isDir("PASCALContext"):
		r, err = openPASCAL(filepath.Join(dir, "PASCALContext"))
	case fileExists(filepath.Join(dir, "dataset.json")):
		r, err = openSynth(dir)
	case isDir("gt_sets"):
		r, err = openNYUD(dir)
	case isDir("ImageSets", "Context"):
		r, err = openPASCAL(dir)
	default:
		return nil, fmt.Errorf("dataset %s: no dataset.json, NYUDv2/, gt_sets/, PASCALContext/ or ImageSets/Context/: not a known layout", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", dir, err)
	}
	if tasks == nil {
		return r, nil
	}
	have := map[string]bool{}
	for _, t := range r.Tasks() {
		have[t] = true
	}
	for _, t := range tasks {
		if !have[t] {
			return nil, fmt.Errorf("dataset %s (%s layout): no labels for task %q (has %s)", dir, r.Layout(), t, strings.Join(r.Tasks(), ", "))
		}
	}
	return &taskFilter{Reader: r, tasks: tasks}, nil
}

// taskFilter restricts a reader to some of its tasks.
type taskFilter struct {
	Reader
	tasks []string
}

func (f *taskFilter) Tasks() []string { return f.tasks }

func (f *taskFilter) Load(id string) (*Sample, error) {
	s, err := f.Reader.Load(id)
	if err != nil {
		return nil, err
	}
	keep := map[string][]float32{}
	for _, t := range f.tasks {
		keep[t] = s.Labels[t]
	}
	s.Labels = keep
	return s, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// readSplit reads a split file: one id per line, blank lines skipped.
func readSplit(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if strings.ContainsAny(l, `/\`) || l == ".." {
				return nil, fmt.Errorf("%s: bad sample id %q", path, l)
			}
			ids = append(ids, l)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no sample ids", path)
	}
	return ids, nil
}

// errSize names a label whose size differs from the image's.
func errSize(what string, h, w, ih, iw int) error {
	return fmt.Errorf("%s is %dx%d, the image %dx%d", what, h, w, ih, iw)
}

var errNotGray = errors.New("not a single-channel (grey or palette) PNG")
