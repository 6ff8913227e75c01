package dataset

import (
	"fmt"
	"path/filepath"

	"github.com/demt-web/demt/npy"
)

// NYUDClasses are the standard NYUv2-40 class names, index = semseg label value (the
// official repository has no list).
var NYUDClasses = []string{"wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
	"bookshelf", "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
	"floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
	"shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag",
	"otherstructure", "otherfurniture", "otherprop"}

// nyud reads the official NYUD-v2 layout (ATRC's NYUDv2 package):
//
//	images/<id>.png        RGB
//	segmentation/<id>.png  class map 0..40 → value − 1, unlabelled (−1) → 255
//	depth/<id>.npy         metres (H,W), float32/float64; 0 = missing
//	normals/<id>.png       RGB → 2·v/255 − 1
//	edge/<id>.png          grey / 255
//	gt_sets/{train,val}.txt
type nyud struct{ root string }

func openNYUD(root string) (*nyud, error) {
	if !fileExists(filepath.Join(root, "gt_sets", "train.txt")) && !fileExists(filepath.Join(root, "gt_sets", "val.txt")) {
		return nil, fmt.Errorf("NYUD-v2 layout %s: no gt_sets/train.txt or gt_sets/val.txt", root)
	}
	return &nyud{root: root}, nil
}

func (d *nyud) Layout() string  { return LayoutNYUD }
func (d *nyud) Tasks() []string { return []string{"semseg", "depth", "normals", "edge"} }

func (d *nyud) ClassNames(task string) []string {
	if task == "semseg" {
		return NYUDClasses
	}
	return nil
}

func (d *nyud) Split(name string) ([]string, error) {
	return readSplit(filepath.Join(d.root, "gt_sets", name+".txt"))
}

func (d *nyud) Load(id string) (*Sample, error) {
	s, err := d.load(id)
	if err != nil {
		return nil, fmt.Errorf("NYUD-v2 sample %s: %w", id, err)
	}
	return s, nil
}

func (d *nyud) load(id string) (*Sample, error) {
	img, h, w, err := readImageRGB(filepath.Join(d.root, "images", id+".png"))
	if err != nil {
		return nil, err
	}
	s := &Sample{ID: id, H: h, W: w, RawH: h, RawW: w, Image: img, Labels: map[string][]float32{}}

	seg, sh, sw, err := readGrayPNG(filepath.Join(d.root, "segmentation", id+".png"))
	if err != nil {
		return nil, err
	}
	if sh != h || sw != w {
		return nil, errSize("segmentation", sh, sw, h, w)
	}
	lab := make([]float32, h*w)
	for i, v := range seg {
		lab[i] = float32(v) - 1
		if lab[i] == -1 {
			lab[i] = Ignore
		}
	}
	s.Labels["semseg"] = lab

	a, err := npy.ReadFile(filepath.Join(d.root, "depth", id+".npy"))
	if err != nil {
		return nil, err
	}
	if a.Numel() != h*w || (len(a.Shape) != 2 && !(len(a.Shape) == 3 && a.Shape[2] == 1)) || a.Shape[0] != h || a.Shape[1] != w {
		return nil, fmt.Errorf("depth array shape %v, the image %dx%d", a.Shape, h, w)
	}
	if a.Fortran {
		return nil, fmt.Errorf("depth array is Fortran-ordered")
	}
	s.Labels["depth"] = append([]float32(nil), a.Float32()...)

	rgb, nh, nw, err := readRGB8(filepath.Join(d.root, "normals", id+".png"))
	if err != nil {
		return nil, err
	}
	if nh != h || nw != w {
		return nil, errSize("normals", nh, nw, h, w)
	}
	s.Labels["normals"] = normalsFromRGB(rgb)

	edge, eh, ew, err := readGrayPNG(filepath.Join(d.root, "edge", id+".png"))
	if err != nil {
		return nil, err
	}
	if eh != h || ew != w {
		return nil, errSize("edge", eh, ew, h, w)
	}
	el := make([]float32, h*w)
	for i, v := range edge {
		el[i] = float32(v) / 255
	}
	s.Labels["edge"] = el
	return s, nil
}
