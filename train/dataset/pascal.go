package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/demt-web/demt/train/morph"
)

// PASCALClasses are the 21 VOC class names, index = semseg label value.
var PASCALClasses = []string{"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
	"cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep",
	"sofa", "train", "tvmonitor"}

// HumanPartClasses are the 7 human_parts labels of the official PASCAL loader.
var HumanPartClasses = []string{"background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg"}

// humanPartCategory is the VOC class id of "person".
const humanPartCategory = 15

// humanParts is the official 6-part grouping of the PASCAL-Part person parts (HUMAN_PART).
var humanParts = map[string]int{
	"hair": 1, "head": 1, "lear": 1, "lebrow": 1, "leye": 1, "mouth": 1, "nose": 1, "rear": 1, "rebrow": 1, "reye": 1,
	"neck": 2, "torso": 2,
	"luarm": 3, "ruarm": 3,
	"lhand": 4, "llarm": 4, "rhand": 4, "rlarm": 4,
	"luleg": 5, "ruleg": 5,
	"lfoot": 6, "llleg": 6, "rfoot": 6, "rlleg": 6,
}

// normalsValidClasses are the PASCAL-Context class ids whose distilled normals the official
// loader keeps (NYU class names that are also context classes, minus 'unknown', plus
// 'tvmonitor').
var normalsValidClasses = []int32{3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41,
	43, 46, 49, 50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87, 88, 95, 96, 101, 104,
	105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146, 150, 154, 157, 158, 159, 165, 172, 174, 181, 183,
	184, 191, 193, 195, 197, 199, 202, 213, 215, 216, 219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243,
	246, 250, 251, 252, 255, 260, 261, 263, 269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288, 290, 291, 292,
	293, 295, 304, 307, 309, 310, 314, 315, 319, 323, 329, 330, 331, 336, 342, 345, 349, 350, 351, 352, 355, 357,
	368, 370, 371, 374, 379, 380, 383, 384, 397, 401, 403, 405, 407, 408, 411, 412, 413, 414, 417, 419, 421, 423,
	427, 429, 430, 432, 440, 441, 442, 443, 444, 446, 454, 457}

// pascal reads the official PASCAL-Context layout (ATRC's PASCALContext package):
//
//	JPEGImages/<id>.jpg
//	semseg/VOC12/<id>.png, else semseg/pascal-context/<id>.png   palette indices 0..20, 255
//	pascal-context/trainval/<id>.mat   LabelMap (459 context classes): edges and the normals mask
//	human_parts/<id>.mat               anno struct: objects with class_ind, mask, parts
//	normals_distill/<id>.png, sal_distill/<id>.png
//	ImageSets/Context/{train,val}.txt, ImageSets/Parts/{train,val}.txt (JSON cache)
type pascal struct {
	root  string
	parts map[string][]int // Parts cache: id → class of each object with parts, or −1
}

func openPASCAL(root string) (*pascal, error) {
	d := &pascal{root: root, parts: map[string][]int{}}
	for _, split := range []string{"train", "val"} {
		b, err := os.ReadFile(filepath.Join(root, "ImageSets", "Parts", split+".txt"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var m map[string][]int
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("ImageSets/Parts/%s.txt: %w", split, err)
		}
		for k, v := range m {
			d.parts[k] = v
		}
	}
	return d, nil
}

func (d *pascal) Layout() string { return LayoutPASCAL }
func (d *pascal) Tasks() []string {
	return []string{"semseg", "human_parts", "sal", "normals", "edge"}
}

func (d *pascal) ClassNames(task string) []string {
	switch task {
	case "semseg":
		return PASCALClasses
	case "human_parts":
		return HumanPartClasses
	}
	return nil
}

func (d *pascal) Split(name string) ([]string, error) {
	return readSplit(filepath.Join(d.root, "ImageSets", "Context", name+".txt"))
}

func (d *pascal) Load(id string) (*Sample, error) {
	s, err := d.load(id)
	if err != nil {
		return nil, fmt.Errorf("PASCAL-Context sample %s: %w", id, err)
	}
	return s, nil
}

func (d *pascal) load(id string) (*Sample, error) {
	img, h, w, err := readImageRGB(filepath.Join(d.root, "JPEGImages", id+".jpg"))
	if err != nil {
		return nil, err
	}
	s := &Sample{ID: id, H: h, W: w, RawH: h, RawW: w, Image: img, Labels: map[string][]float32{}}

	segPath := filepath.Join(d.root, "semseg", "VOC12", id+".png")
	if !fileExists(segPath) {
		segPath = filepath.Join(d.root, "semseg", "pascal-context", id+".png")
	}
	seg, sh, sw, err := readGrayPNG(segPath)
	if err != nil {
		return nil, err
	}
	if sh != h || sw != w {
		return nil, errSize("semseg", sh, sw, h, w)
	}
	s.Labels["semseg"] = toFloat(seg)

	ctx, err := readMatFile(filepath.Join(d.root, "pascal-context", "trainval", id+".mat"))
	if err != nil {
		return nil, err
	}
	lm, ok := ctx["LabelMap"]
	if !ok {
		return nil, fmt.Errorf("context .mat has no LabelMap")
	}
	labelMap, lh, lw, err := lm.image()
	if err != nil {
		return nil, err
	}
	if lh != h || lw != w {
		return nil, errSize("LabelMap", lh, lw, h, w)
	}

	if s.Labels["human_parts"], err = d.humanParts(id, h, w); err != nil {
		return nil, err
	}

	sal, salH, salW, err := readGrayPNG(filepath.Join(d.root, "sal_distill", id+".png"))
	if err != nil {
		return nil, err
	}
	if salH != h || salW != w {
		return nil, errSize("sal_distill", salH, salW, h, w)
	}
	sl := make([]float32, h*w)
	for i, v := range sal {
		if float32(v)/255 > 0.5 {
			sl[i] = 1
		}
	}
	s.Labels["sal"] = sl

	rgb, nh, nw, err := readRGB8(filepath.Join(d.root, "normals_distill", id+".png"))
	if err != nil {
		return nil, err
	}
	if nh != h || nw != w {
		return nil, errSize("normals_distill", nh, nw, h, w)
	}
	n := normalsFromRGB(rgb)
	for p, c := range labelMap {
		if _, ok := slices.BinarySearch(normalsValidClasses, c); !ok {
			n[3*p], n[3*p+1], n[3*p+2] = 0, 0, 0
		}
	}
	s.Labels["normals"] = n

	edge := make([]uint8, h*w)
	morph.LaplacianEdges(labelMap, h, w, edge)
	var th morph.Thinner
	th.Thin(edge, h, w)
	el := make([]float32, h*w)
	for i, v := range edge {
		el[i] = float32(v)
	}
	s.Labels["edge"] = el
	return s, nil
}

// humanParts builds the official human_parts target: zeros, then for every object of class
// person that has parts, in order, each part's id written on its mask (later parts
// overwrite earlier ones). An image without such a person gives all zeros, which
// AddIgnoreRegions turns into all 255.
func (d *pascal) humanParts(id string, h, w int) ([]float32, error) {
	target := make([]float32, h*w)
	classes, cached := d.parts[id]
	if cached && !slices.Contains(classes, humanPartCategory) {
		return target, nil
	}
	path := filepath.Join(d.root, "human_parts", id+".mat")
	if !cached && !fileExists(path) {
		return target, nil
	}
	vars, err := readMatFile(path)
	if err != nil {
		return nil, err
	}
	anno, ok := vars["anno"]
	if !ok || anno.class != mxSTRUCT || len(anno.fields) < 2 || len(anno.elems) == 0 {
		return nil, fmt.Errorf("%s: no anno struct with an objects field", path)
	}
	// The official code indexes fields by position: anno[0][0][1] = objects; per object
	// [1] = class_ind, [3] = parts; per part [0] = part_name, [1] = mask.
	objs := anno.elems[0][1]
	if objs.numel() == 0 {
		return target, nil
	}
	if objs.class != mxSTRUCT || len(objs.fields) < 4 {
		return nil, fmt.Errorf("%s: objects is not a struct with 4 fields", path)
	}
	for o, obj := range objs.elems {
		cls := obj[1]
		if cls.numel() < 1 || len(cls.num) < 1 {
			return nil, fmt.Errorf("%s: object %d has no class_ind", path, o)
		}
		parts := obj[3]
		if cls.num[0] != humanPartCategory || parts.numel() == 0 {
			continue
		}
		if parts.class != mxSTRUCT || len(parts.fields) < 2 {
			return nil, fmt.Errorf("%s: object %d: parts is not a struct", path, o)
		}
		for p, part := range parts.elems {
			name, err := part[0].str()
			if err != nil {
				return nil, fmt.Errorf("%s: object %d part %d: %w", path, o, p, err)
			}
			pid, ok := humanParts[name]
			if !ok {
				return nil, fmt.Errorf("%s: object %d: unknown person part %q", path, o, name)
			}
			mask, mh, mw, err := part[1].image()
			if err != nil {
				return nil, fmt.Errorf("%s: object %d part %s: %w", path, o, name, err)
			}
			if mh != h || mw != w {
				return nil, errSize("part mask "+name, mh, mw, h, w)
			}
			for i, m := range mask {
				if m != 0 {
					target[i] = float32(pid)
				}
			}
		}
	}
	return target, nil
}

func toFloat(v []int32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
