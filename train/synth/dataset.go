package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/demt-web/demt/internal/atomicfile"

	"github.com/demt-web/demt/colormap"
	"github.com/demt-web/demt/npy"
)

// Layout is a dataset folder layout Generate can write.
type Layout int

// The layouts: the project's own (docs/synth.md) and the official NYUD-v2 and
// PASCAL-Context folders the official DeMT loaders read.
const (
	LayoutNative Layout = iota
	LayoutNYUD
	LayoutPASCAL
)

// String returns the layout's name as the CLI spells it.
func (l Layout) String() string {
	switch l {
	case LayoutNYUD:
		return "nyud"
	case LayoutPASCAL:
		return "pascal"
	}
	return "native"
}

// ParseLayout parses "native", "nyud" or "pascal".
func ParseLayout(s string) (Layout, error) {
	for _, l := range []Layout{LayoutNative, LayoutNYUD, LayoutPASCAL} {
		if s == l.String() {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown layout %q (want native, nyud or pascal)", s)
}

// DefaultValFraction is the share of samples in the val split: the last
// round(count × 0.1) samples.
const DefaultValFraction = 0.1

// GenerateOptions say what Generate writes.
type GenerateOptions struct {
	Options
	Count       int
	Layout      Layout
	ValFraction float64 // share of val samples; 0 means DefaultValFraction
	Workers     int     // scenes rendered in parallel; < 1 means 1
	// Progress, when set, is called after each written sample with the number done.
	Progress func(done, total int)
}

// Manifest is dataset.json, written at the root of every layout.
type Manifest struct {
	Format            string    `json:"format"`
	Version           int       `json:"version"`
	Layout            string    `json:"layout"`
	Height            int       `json:"height"`
	Width             int       `json:"width"`
	Seed              uint64    `json:"seed"`
	Count             int       `json:"count"`
	Train             int       `json:"train"`
	Val               int       `json:"val"`
	Tasks             []string  `json:"tasks"`
	SemsegClasses     []string  `json:"semseg_classes"`
	HumanPartsClasses []string  `json:"human_parts_classes"`
	SalientClasses    []string  `json:"salient_classes"`
	NormalsConvention string    `json:"normals_convention"`
	DepthUnit         string    `json:"depth_unit"`
	DepthRange        []float64 `json:"depth_range"`
	EdgeRule          string    `json:"edge_rule"`
}

// ManifestFormat is the "format" of dataset.json.
const ManifestFormat = "demt-synth"

// Tasks returns the six tasks every sample has labels for.
func Tasks() []string { return []string{"semseg", "human_parts", "sal", "normals", "edge", "depth"} }

// EdgeRule describes Sample.Edge (dataset.json "edge_rule").
const EdgeRule = "seg2bmap of the instance map: a pixel differing from its east, south or south-east neighbour is a boundary (1 px thin, BSDS/SEISM rule)"

// SampleName is the name of sample i in a dataset of count samples: the index with at
// least 6 digits.
func SampleName(i, count int) string {
	width := max(6, len(fmt.Sprint(count-1)))
	return fmt.Sprintf("%0*d", width, i)
}

// splitCounts returns the number of train and val samples.
func splitCounts(count int, frac float64) (train, val int) {
	val = int(math.Round(float64(count) * frac))
	if count >= 2 {
		val = max(val, 1)
	}
	val = min(val, count-1)
	val = max(val, 0)
	return count - val, val
}

// Generate renders opt.Count scenes and writes them in the chosen layout under dir,
// with dataset.json at dir's root. dir must be missing, empty, or an earlier Generate
// output (its dataset.json says so); no other file is ever overwritten. Every file is
// written to a temporary name and renamed. The split files are written last.
func Generate(dir string, opt GenerateOptions) (*Manifest, error) {
	if opt.Count < 1 {
		return nil, fmt.Errorf("synth: count must be at least 1, got %d", opt.Count)
	}
	if opt.ValFraction == 0 {
		opt.ValFraction = DefaultValFraction
	}
	if opt.ValFraction < 0 || opt.ValFraction >= 1 {
		return nil, fmt.Errorf("synth: val fraction %g not in [0, 1)", opt.ValFraction)
	}
	if err := opt.validate(); err != nil {
		return nil, err
	}
	old, err := checkTarget(dir)
	if err != nil {
		return nil, err
	}
	sal := opt.SalientClasses
	if sal == nil {
		sal = DefaultSalientClasses()
	}
	train, val := splitCounts(opt.Count, opt.ValFraction)
	m := &Manifest{
		Format: ManifestFormat, Version: 1, Layout: opt.Layout.String(),
		Height: opt.Height, Width: opt.Width, Seed: opt.Seed, Count: opt.Count, Train: train, Val: val,
		Tasks: Tasks(), SemsegClasses: ClassNames(), HumanPartsClasses: HumanPartNames(),
		NormalsConvention: NormalsConvention, DepthUnit: "m", DepthRange: []float64{DepthNear, DepthFar}, EdgeRule: EdgeRule,
	}
	for _, c := range sal {
		if c < 0 || c >= NumClasses {
			return nil, fmt.Errorf("synth: salient class %d out of range", c)
		}
		m.SalientClasses = append(m.SalientClasses, classNames[c])
	}
	if err := removeStale(dir, old, opt.Layout, opt.Count); err != nil {
		return nil, err
	}
	for _, sub := range layoutDirs(opt.Layout) {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "dataset.json"), append(js, '\n')); err != nil {
		return nil, err
	}

	objects, err := renderAll(dir, opt)
	if err != nil {
		return nil, err
	}
	if err := writeSplits(dir, opt.Layout, opt.Count, train, objects); err != nil {
		return nil, err
	}
	return m, nil
}

// renderAll renders and writes every sample. Rendering and encoding run on at most
// opt.Workers goroutines at a time; file writes, which wait on the file system, overlap
// with them on up to 4× as many. It returns, per sample, the VOC classes of the objects
// in its PASCAL annotation.
func renderAll(dir string, opt GenerateOptions) ([][]int, error) {
	workers := max(opt.Workers, 1)
	objects := make([][]int, opt.Count)
	next := make(chan int)
	cpu := make(chan struct{}, workers)
	var mu sync.Mutex
	var firstErr error
	done := 0
	var wg sync.WaitGroup
	for g := 0; g < 4*workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				cpu <- struct{}{}
				var f *fileSet
				s, err := Render(opt.Options, i)
				if err == nil {
					f, err = encodeSample(dir, opt.Layout, SampleName(i, opt.Count), s)
				}
				<-cpu
				if err == nil {
					err = f.write()
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					objects[i] = f.objects
					done++
					if opt.Progress != nil {
						opt.Progress(done, opt.Count)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < opt.Count; i++ {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return objects, firstErr
}

// checkTarget accepts a missing or empty dir, or an earlier Generate output, whose
// manifest it returns.
func checkTarget(dir string) (*Manifest, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "dataset.json"))
	var m Manifest
	if err != nil || json.Unmarshal(b, &m) != nil || m.Format != ManifestFormat {
		return nil, fmt.Errorf("synth: %s is not empty and not an earlier synth output (no dataset.json of format %q); refusing to write into it", dir, ManifestFormat)
	}
	return &m, nil
}

// removeStale deletes the files of an earlier output that the new one will not rewrite:
// every sample of another layout, or the samples beyond the new count. Only file names
// that Generate writes are touched.
func removeStale(dir string, old *Manifest, layout Layout, count int) error {
	if old == nil {
		return nil
	}
	ol, err := ParseLayout(old.Layout)
	if err != nil {
		return fmt.Errorf("synth: earlier output in %s: %w", dir, err)
	}
	from := count
	if ol != layout {
		from = 0
		for _, f := range splitFiles(ol) {
			if err := removeIfExists(filepath.Join(dir, f)); err != nil {
				return err
			}
		}
	}
	for i := from; i < old.Count; i++ {
		for _, f := range sampleFiles(ol, SampleName(i, old.Count)) {
			if err := removeIfExists(filepath.Join(dir, f)); err != nil {
				return err
			}
		}
	}
	if ol == layout && SampleName(0, old.Count) != SampleName(0, count) {
		for i := 0; i < min(count, old.Count); i++ {
			for _, f := range sampleFiles(ol, SampleName(i, old.Count)) {
				if err := removeIfExists(filepath.Join(dir, f)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// Folder roots of the official layouts inside dir (the official data_dir).
const (
	nyudRoot   = "NYUDv2"
	pascalRoot = "PASCALContext"
)

func layoutDirs(l Layout) []string {
	switch l {
	case LayoutNYUD:
		return []string{"NYUDv2/images", "NYUDv2/segmentation", "NYUDv2/depth", "NYUDv2/normals", "NYUDv2/edge", "NYUDv2/gt_sets"}
	case LayoutPASCAL:
		return []string{"PASCALContext/JPEGImages", "PASCALContext/semseg/VOC12", "PASCALContext/pascal-context/trainval",
			"PASCALContext/human_parts", "PASCALContext/normals_distill", "PASCALContext/sal_distill",
			"PASCALContext/ImageSets/Context", "PASCALContext/ImageSets/Parts"}
	}
	return []string{"splits", "images", "semseg", "human_parts", "sal", "edge", "depth", "normals"}
}

// sampleFiles lists the files of one sample, relative to dir.
func sampleFiles(l Layout, name string) []string {
	switch l {
	case LayoutNYUD:
		return []string{"NYUDv2/images/" + name + ".png", "NYUDv2/segmentation/" + name + ".png", "NYUDv2/depth/" + name + ".npy",
			"NYUDv2/normals/" + name + ".png", "NYUDv2/edge/" + name + ".png"}
	case LayoutPASCAL:
		return []string{"PASCALContext/JPEGImages/" + name + ".jpg", "PASCALContext/semseg/VOC12/" + name + ".png",
			"PASCALContext/pascal-context/trainval/" + name + ".mat", "PASCALContext/human_parts/" + name + ".mat",
			"PASCALContext/normals_distill/" + name + ".png", "PASCALContext/sal_distill/" + name + ".png"}
	}
	return []string{"images/" + name + ".png", "semseg/" + name + ".png", "human_parts/" + name + ".png", "sal/" + name + ".png",
		"edge/" + name + ".png", "depth/" + name + ".npy", "normals/" + name + ".npy"}
}

func splitFiles(l Layout) []string {
	switch l {
	case LayoutNYUD:
		return []string{"NYUDv2/gt_sets/train.txt", "NYUDv2/gt_sets/val.txt"}
	case LayoutPASCAL:
		return []string{"PASCALContext/ImageSets/Context/train.txt", "PASCALContext/ImageSets/Context/val.txt",
			"PASCALContext/ImageSets/Parts/train.txt", "PASCALContext/ImageSets/Parts/val.txt"}
	}
	return []string{"splits/train.txt", "splits/val.txt"}
}

// writeSplits writes the split lists (and for PASCAL the Parts JSON cache the official
// loader would otherwise write, byte for byte in its format).
func writeSplits(dir string, l Layout, count, train int, objects [][]int) error {
	names := make([]string, count)
	for i := range names {
		names[i] = SampleName(i, count)
	}
	parts := [2][]string{names[:train], names[train:]}
	files := splitFiles(l)
	for k, split := range parts {
		var sb strings.Builder
		for _, n := range split {
			sb.WriteString(n + "\n")
		}
		if err := writeFile(filepath.Join(dir, files[k]), []byte(sb.String())); err != nil {
			return err
		}
		if l != LayoutPASCAL {
			continue
		}
		sb.Reset()
		off := 0
		if k == 1 {
			off = train
		}
		for i, n := range split {
			if i == 0 {
				sb.WriteString("{\n\t")
			} else {
				sb.WriteString(",\n\t")
			}
			fmt.Fprintf(&sb, "%q: %s", n, pyList(objects[off+i]))
		}
		if len(split) == 0 {
			sb.WriteString("{")
		}
		sb.WriteString("\n}\n")
		if err := writeFile(filepath.Join(dir, files[2+k]), []byte(sb.String())); err != nil {
			return err
		}
	}
	return nil
}

// pyList formats ints as Python's json.dumps does: "[8, 15]".
func pyList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// fileSet is the encoded files of one sample, to be written, and the VOC classes of its
// PASCAL annotation objects.
type fileSet struct {
	dir     string
	paths   []string
	data    [][]byte
	err     error
	objects []int
}

// write writes every file atomically.
func (f *fileSet) write() error {
	for i, p := range f.paths {
		if err := writeFile(p, f.data[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fileSet) put(rel string, data []byte, err error) {
	if err != nil {
		if f.err == nil {
			f.err = fmt.Errorf("synth: %s: %w", rel, err)
		}
		return
	}
	f.paths = append(f.paths, filepath.Join(f.dir, rel))
	f.data = append(f.data, data)
}

func (f *fileSet) png(rel string, img image.Image) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed} // labels compress well even so; 2x faster
	err := enc.Encode(&b, img)
	f.put(rel, b.Bytes(), err)
}

func (f *fileSet) npy(rel string, shape []int, v []float32) {
	var b bytes.Buffer
	err := npy.WriteFloat32(&b, shape, v)
	f.put(rel, b.Bytes(), err)
}

// encodeSample encodes the files of one sample in layout l.
func encodeSample(dir string, l Layout, name string, s *Sample) (*fileSet, error) {
	h, w := s.Height, s.Width
	f := &fileSet{dir: dir}
	rel := sampleFiles(l, name)
	switch l {
	case LayoutNative:
		f.png(rel[0], rgbImage(s.RGB, h, w))
		f.png(rel[1], grayImage(s.Semseg, h, w, 1))
		f.png(rel[2], grayImage(s.HumanParts, h, w, 1))
		f.png(rel[3], grayImage(s.Sal, h, w, 255))
		f.png(rel[4], grayImage(s.Edge, h, w, 255))
		f.npy(rel[5], []int{h, w}, s.Depth)
		f.npy(rel[6], []int{h, w, 3}, s.Normals)
	case LayoutNYUD:
		seg := make([]uint8, h*w)
		for p, c := range s.Semseg {
			seg[p] = nyuClass[c]
		}
		f.png(rel[0], rgbImage(s.RGB, h, w))
		f.png(rel[1], grayImage(seg, h, w, 1))
		f.npy(rel[2], []int{h, w}, s.Depth)
		f.png(rel[3], normalsImage(s.Normals, h, w))
		f.png(rel[4], grayImage(s.Edge, h, w, 255))
	case LayoutPASCAL:
		voc := make([]uint8, h*w)
		ctx := make([]uint16, h*w)
		for p, c := range s.Semseg {
			voc[p], ctx[p] = vocClass[c], contextClass[c]
		}
		var jb bytes.Buffer
		err := jpeg.Encode(&jb, rgbImage(s.RGB, h, w), &jpeg.Options{Quality: 95})
		f.put(rel[0], jb.Bytes(), err)
		f.png(rel[1], paletteImage(voc, h, w))
		labelMap, err := matFile("LabelMap", matU16(ctx, h, w))
		f.put(rel[2], labelMap, err)
		var anno *matArray
		anno, f.objects = pascalAnno(name, s)
		annoFile, err := matFile("anno", anno)
		f.put(rel[3], annoFile, err)
		f.png(rel[4], normalsImage(s.Normals, h, w))
		f.png(rel[5], grayImage(s.Sal, h, w, 255))
	}
	if f.err != nil {
		return nil, f.err
	}
	return f, nil
}

// pascalAnno builds the PASCAL-Part "anno" struct: one object per visible instance of
// a VOC class (instance order) with its visible mask; people carry their visible parts
// under their PASCAL-Part names. It also returns the objects' VOC classes.
func pascalAnno(name string, s *Sample) (*matArray, []int) {
	h, w := s.Height, s.Width
	area := make([]int, len(s.InstanceClass))
	for _, id := range s.Instance {
		area[id]++
	}
	var elems [][]*matArray
	var classes []int
	for id := 1; id < len(s.InstanceClass); id++ {
		voc := vocClass[s.InstanceClass[id]]
		if voc == 0 || area[id] == 0 {
			continue
		}
		mask := make([]uint8, h*w)
		for p, v := range s.Instance {
			if int(v) == id {
				mask[p] = 1
			}
		}
		parts := matEmpty()
		if voc == 15 {
			var pe [][]*matArray
			for pn := 1; pn < len(pascalPartNames); pn++ {
				pm := make([]uint8, h*w)
				any := false
				for p, v := range s.Instance {
					if int(v) == id && int(s.partName[p]) == pn {
						pm[p], any = 1, true
					}
				}
				if any {
					pe = append(pe, []*matArray{matChar(pascalPartNames[pn]), matU8(pm, h, w)})
				}
			}
			parts = matStruct([]string{"part_name", "mask"}, pe)
		}
		elems = append(elems, []*matArray{matChar(vocNames[voc]), matScalarU8(voc), matU8(mask, h, w), parts})
		classes = append(classes, int(voc))
	}
	objects := matStruct([]string{"class", "class_ind", "mask", "parts"}, elems)
	anno := matStruct([]string{"imname", "objects"}, [][]*matArray{{matChar(name), objects}})
	return anno, classes
}

func rgbImage(rgb []uint8, h, w int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for p := 0; p < h*w; p++ {
		copy(img.Pix[4*p:], rgb[3*p:3*p+3])
		img.Pix[4*p+3] = 255
	}
	return img
}

// grayImage writes v·scale (v ∈ {0,1} with scale 255 gives 0/255 masks).
func grayImage(v []uint8, h, w int, scale uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for p, x := range v {
		img.Pix[p] = x * scale
	}
	return img
}

func paletteImage(idx []uint8, h, w int) *image.Paletted {
	pal := colormap.Palette()
	cp := make(color.Palette, len(pal))
	for i, c := range pal {
		cp[i] = color.RGBA{c[0], c[1], c[2], 255}
	}
	img := image.NewPaletted(image.Rect(0, 0, w, h), cp)
	copy(img.Pix, idx)
	return img
}

// normalsImage encodes normals as the official datasets store them: round((n+1)/2·255)
// per channel, x, y, z → R, G, B (the loaders decode 2·v/255 − 1).
func normalsImage(n []float32, h, w int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for p := 0; p < h*w; p++ {
		for k := 0; k < 3; k++ {
			v := math.Round((float64(n[3*p+k]) + 1) / 2 * 255)
			img.Pix[4*p+k] = uint8(math.Min(255, math.Max(0, v)))
		}
		img.Pix[4*p+3] = 255
	}
	return img
}

// writeFile writes data to path atomically: a temporary file in the same folder,
// renamed over path.
func writeFile(path string, data []byte) error {
	if err := atomicfile.WriteBytes(path, data); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}
