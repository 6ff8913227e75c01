package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/demt-web/demt/npy"
)

// SynthMeta is the dataset.json of the native synthetic layout.
type SynthMeta struct {
	Format            string    `json:"format"`
	Version           int       `json:"version"`
	Layout            string    `json:"layout,omitempty"` // "native" (or absent) for this layout
	Height            int       `json:"height"`
	Width             int       `json:"width"`
	Seed              int64     `json:"seed"`
	Count             int       `json:"count"`
	Tasks             []string  `json:"tasks"`
	SemsegClasses     []string  `json:"semseg_classes"`
	HumanPartsClasses []string  `json:"human_parts_classes"`
	NormalsConvention string    `json:"normals_convention"`
	DepthUnit         string    `json:"depth_unit"`
	DepthRange        []float64 `json:"depth_range"`
}

// synth reads the native layout `demt-convert synth -o DIR` writes:
//
//	dataset.json, splits/{train,val}.txt, images/<n>.png,
//	semseg/<n>.png (class, 255 ignore), human_parts/<n>.png (0..6, 255 = no person),
//	sal/<n>.png and edge/<n>.png (0/255 → 0/1), depth/<n>.npy (metres, 0 invalid),
//	normals/<n>.npy (H,W,3 unit vectors)
type synth struct {
	root string
	meta SynthMeta
}

func openSynth(root string) (*synth, error) {
	b, err := os.ReadFile(filepath.Join(root, "dataset.json"))
	if err != nil {
		return nil, err
	}
	d := &synth{root: root}
	if err := json.Unmarshal(b, &d.meta); err != nil {
		return nil, fmt.Errorf("dataset.json: %w", err)
	}
	if d.meta.Format != "demt-synth" {
		return nil, fmt.Errorf("dataset.json: format %q, want \"demt-synth\"", d.meta.Format)
	}
	if d.meta.Layout != "" && d.meta.Layout != "native" {
		return nil, fmt.Errorf("dataset.json: layout %q, but no NYUDv2/ or PASCALContext/ folder beside it", d.meta.Layout)
	}
	if d.meta.Version != 1 {
		return nil, fmt.Errorf("dataset.json: version %d, this reader knows 1", d.meta.Version)
	}
	for _, t := range d.meta.Tasks {
		switch t {
		case "semseg", "human_parts", "sal", "normals", "edge", "depth":
		default:
			return nil, fmt.Errorf("dataset.json: unknown task %q", t)
		}
	}
	return d, nil
}

func (d *synth) Layout() string  { return LayoutSynth }
func (d *synth) Tasks() []string { return d.meta.Tasks }

func (d *synth) ClassNames(task string) []string {
	switch task {
	case "semseg":
		return d.meta.SemsegClasses
	case "human_parts":
		return d.meta.HumanPartsClasses
	}
	return nil
}

func (d *synth) Split(name string) ([]string, error) {
	return readSplit(filepath.Join(d.root, "splits", name+".txt"))
}

func (d *synth) Load(id string) (*Sample, error) {
	s, err := d.load(id)
	if err != nil {
		return nil, fmt.Errorf("synthetic sample %s: %w", id, err)
	}
	return s, nil
}

func (d *synth) load(id string) (*Sample, error) {
	img, h, w, err := readImageRGB(filepath.Join(d.root, "images", id+".png"))
	if err != nil {
		return nil, err
	}
	s := &Sample{ID: id, H: h, W: w, RawH: h, RawW: w, Image: img, Labels: map[string][]float32{}}
	for _, t := range d.meta.Tasks {
		var lab []float32
		switch t {
		case "semseg", "human_parts", "sal", "edge":
			v, lh, lw, err := readGrayPNG(filepath.Join(d.root, t, id+".png"))
			if err != nil {
				return nil, err
			}
			if lh != h || lw != w {
				return nil, errSize(t, lh, lw, h, w)
			}
			lab = toFloat(v)
			if t == "sal" || t == "edge" {
				for i, x := range v { // 0/255 → 0/1, as the official PASCAL loader maps sal
					lab[i] = 0
					if float32(x)/255 > 0.5 {
						lab[i] = 1
					}
				}
			}
		case "depth", "normals":
			a, err := npy.ReadFile(filepath.Join(d.root, t, id+".npy"))
			if err != nil {
				return nil, err
			}
			c := Channels(t)
			ok := a.Numel() == h*w*c && len(a.Shape) >= 2 && a.Shape[0] == h && a.Shape[1] == w && !a.Fortran
			if !ok {
				return nil, fmt.Errorf("%s array shape %v, want (%d,%d%s)", t, a.Shape, h, w, map[bool]string{true: ",3"}[c == 3])
			}
			lab = append([]float32(nil), a.Float32()...)
		}
		s.Labels[t] = lab
	}
	return s, nil
}
