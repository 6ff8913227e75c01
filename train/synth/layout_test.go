package synth

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/npy"
)

// The official layouts are checked against the fixtures' data folders, which the
// official loaders read: the same folders, file kinds and encodings (PNG colour type and
// bit depth, .npy header, JPEG kind, MAT v5 element structure and types, split and Parts
// JSON formats), and the decoded labels equal the rendered ground truth.

func officialData(t *testing.T, name string) string {
	return filepath.Join(fixture.Root(t), "train", name, "data")
}

// fileKinds maps every folder (relative) to the set of "kind" strings of its files.
func fileKinds(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	kinds := map[string]map[string]bool{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		if rel == "." && fi.Name() == "dataset.json" {
			return nil // our manifest, beside the official root folder
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if kinds[rel] == nil {
			kinds[rel] = map[string]bool{}
		}
		for _, k := range kindsOf(fi.Name(), b) {
			kinds[rel][k] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// kindsOf describes a file's encoding without its size-dependent details: one kind,
// or for a .mat file one per array path (with its class, element types and fields).
func kindsOf(name string, b []byte) []string {
	if filepath.Ext(name) == ".mat" {
		root, err := parseMAT(b)
		if err != nil {
			return []string{"bad mat: " + err.Error()}
		}
		var sig []string
		root.signature("", &sig)
		return sig
	}
	return []string{kindOf(name, b)}
}

// kindOf describes the encoding of a file other than .mat.
func kindOf(name string, b []byte) string {
	switch filepath.Ext(name) {
	case ".png":
		if len(b) < 33 || string(b[12:16]) != "IHDR" {
			return "bad png"
		}
		k := fmt.Sprintf("png depth %d colour type %d interlace %d", b[24], b[25], b[28])
		if b[25] == 3 {
			if i := bytes.Index(b, []byte("PLTE")); i >= 4 {
				k += fmt.Sprintf(" palette %d", binary.BigEndian.Uint32(b[i-4:])/3)
			}
		}
		return k
	case ".jpg":
		for i := 2; i+1 < len(b); i++ {
			if b[i] == 0xff && b[i+1] >= 0xc0 && b[i+1] <= 0xc3 {
				return fmt.Sprintf("jpeg SOF%d %d components", b[i+1]-0xc0, b[i+9])
			}
		}
		return "jpeg without SOF"
	case ".npy":
		a, err := npy.Read(bytes.NewReader(b))
		if err != nil {
			return "bad npy: " + err.Error()
		}
		return fmt.Sprintf("npy %s rank %d header %d", a.Descr, len(a.Shape), binary.LittleEndian.Uint16(b[8:])+10)
	case ".txt":
		if strings.HasPrefix(string(b), "{") {
			return "parts json"
		}
		return "id list"
	}
	return "other " + filepath.Ext(name)
}

// matNode is a parsed MAT v5 array, with the element types it was stored with.
type matNode struct {
	name, dataType string
	class          int
	dims           []int
	small          bool // data in the small element format
	fields         []string
	children       [][]*matNode
	u8             []uint8
	u16            []uint16
	str            string
}

// signature lists, per path, the class, rank, data type and (for structs) field names;
// dims only where they are not an image size.
func (n *matNode) signature(path string, out *[]string) {
	p := path + "/" + n.name
	d := fmt.Sprintf("rank %d", len(n.dims))
	if n.class != mxUINT8 && n.class != mxUINT16 || len(n.u8)+len(n.u16) <= 1 {
		d = fmt.Sprint(n.dims)
		if n.class == mxCHAR || n.class == mxSTRUCT {
			d = fmt.Sprintf("[%d x]", n.dims[0])
		}
	}
	*out = append(*out, fmt.Sprintf("%s class %d %s data %s small %v fields %v", p, n.class, d, n.dataType, n.small, n.fields))
	for _, e := range n.children {
		for i, c := range e {
			c.name = n.fields[i]
			c.signature(p, out)
		}
	}
}

var miNames = map[uint32]string{1: "int8", 2: "uint8", 4: "uint16", 5: "int32", 6: "uint32", 9: "double", 14: "matrix", 16: "utf8"}

// parseMAT reads an uncompressed MAT v5 file holding one variable.
func parseMAT(b []byte) (*matNode, error) {
	if len(b) < 136 || binary.LittleEndian.Uint16(b[124:]) != 0x0100 || string(b[126:128]) != "IM" {
		return nil, fmt.Errorf("not a little-endian MAT v5 file")
	}
	typ, data, rest, _, err := matTag(b[128:])
	if err != nil || typ != miMATRIX || len(rest) != 0 {
		return nil, fmt.Errorf("want exactly one matrix, got type %d, %d bytes after (%v)", typ, len(rest), err)
	}
	return parseMatrix(data)
}

func matTag(b []byte) (typ uint32, data, rest []byte, small bool, err error) {
	if len(b) < 8 {
		return 0, nil, nil, false, fmt.Errorf("truncated tag")
	}
	t := binary.LittleEndian.Uint32(b)
	if t>>16 != 0 {
		n := int(t >> 16)
		if n > 4 {
			return 0, nil, nil, false, fmt.Errorf("small element of %d bytes", n)
		}
		return t & 0xffff, b[4 : 4+n], b[8:], true, nil
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	if 8+n > len(b) {
		return 0, nil, nil, false, fmt.Errorf("element of %d bytes, %d left", n, len(b)-8)
	}
	end := 8 + n
	if t != miMATRIX {
		end = (end + 7) / 8 * 8
	}
	if end > len(b) {
		return 0, nil, nil, false, fmt.Errorf("padding beyond the end")
	}
	return t, b[8 : 8+n], b[end:], false, nil
}

func parseMatrix(b []byte) (*matNode, error) {
	_, flags, b, _, err := matTag(b)
	if err != nil {
		return nil, err
	}
	n := &matNode{class: int(flags[0])}
	_, dims, b, _, err := matTag(b)
	if err != nil {
		return nil, err
	}
	numel := 1
	for i := 0; i+4 <= len(dims); i += 4 {
		d := int(int32(binary.LittleEndian.Uint32(dims[i:])))
		n.dims = append(n.dims, d)
		numel *= d
	}
	_, name, b, _, err := matTag(b)
	if err != nil {
		return nil, err
	}
	n.name = string(name)
	if n.class == mxSTRUCT {
		_, fl, rest, _, err := matTag(b)
		if err != nil {
			return nil, err
		}
		flen := int(binary.LittleEndian.Uint32(fl))
		_, names, rest, _, err := matTag(rest)
		if err != nil {
			return nil, err
		}
		for i := 0; i+flen <= len(names); i += flen {
			n.fields = append(n.fields, strings.TrimRight(string(names[i:i+flen]), "\x00"))
		}
		for e := 0; e < numel; e++ {
			var elem []*matNode
			for range n.fields {
				var sub []byte
				var typ uint32
				typ, sub, rest, _, err = matTag(rest)
				if err != nil || typ != miMATRIX {
					return nil, fmt.Errorf("struct field: type %d (%v)", typ, err)
				}
				c, err := parseMatrix(sub)
				if err != nil {
					return nil, err
				}
				elem = append(elem, c)
			}
			n.children = append(n.children, elem)
		}
		return n, nil
	}
	typ, data, _, small, err := matTag(b)
	if err != nil {
		return nil, err
	}
	n.dataType, n.small = miNames[typ], small
	switch typ {
	case miUTF8:
		n.str = string(data)
	case miUINT8:
		n.u8 = data
	case miUINT16:
		for i := 0; i+2 <= len(data); i += 2 {
			n.u16 = append(n.u16, binary.LittleEndian.Uint16(data[i:]))
		}
	}
	return n, nil
}

func TestNYUDLayoutMatchesOfficial(t *testing.T) {
	dir := t.TempDir()
	opt := GenerateOptions{Options: Options{Height: 30, Width: 44, Seed: 2}, Count: 4, Layout: LayoutNYUD}
	if _, err := Generate(dir, opt); err != nil {
		t.Fatal(err)
	}
	compareKinds(t, fileKinds(t, officialData(t, "swin-nyud-train")), fileKinds(t, dir))
	checkIDLists(t, filepath.Join(dir, "NYUDv2", "gt_sets"), []string{"000000\n000001\n000002\n", "000003\n"})

	// The official loader's decoding gives back the rendered labels.
	for i := 0; i < opt.Count; i++ {
		s, _ := Render(opt.Options, i)
		name := SampleName(i, opt.Count)
		seg := readPNG(t, filepath.Join(dir, "NYUDv2", "segmentation", name+".png")).(*image.Gray)
		edge := readPNG(t, filepath.Join(dir, "NYUDv2", "edge", name+".png")).(*image.Gray)
		nrm := readPNG(t, filepath.Join(dir, "NYUDv2", "normals", name+".png")).(*image.RGBA)
		img := readPNG(t, filepath.Join(dir, "NYUDv2", "images", name+".png")).(*image.RGBA)
		dep, err := npy.ReadFile(filepath.Join(dir, "NYUDv2", "depth", name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		dv := dep.Float32()
		for p := range s.Semseg {
			if int(seg.Pix[p])-1 != int(nyuClass[s.Semseg[p]])-1 || seg.Pix[p] == 0 || seg.Pix[p] > 40 {
				t.Fatalf("%s pixel %d: segmentation %d for class %s", name, p, seg.Pix[p], classNames[s.Semseg[p]])
			}
			if edge.Pix[p] != 255*s.Edge[p] || dv[p] != s.Depth[p] {
				t.Fatalf("%s pixel %d: edge %d depth %g, want %d, %g", name, p, edge.Pix[p], dv[p], s.Edge[p], s.Depth[p])
			}
			for k := 0; k < 3; k++ {
				if v := 2*float64(nrm.Pix[4*p+k])/255 - 1; math.Abs(v-float64(s.Normals[3*p+k])) > 1.0/255+1e-6 {
					t.Fatalf("%s pixel %d: normal %g, want %g", name, p, v, s.Normals[3*p+k])
				}
				if img.Pix[4*p+k] != s.RGB[3*p+k] {
					t.Fatalf("%s pixel %d: image differs", name, p)
				}
			}
		}
	}
}

func TestPASCALLayoutMatchesOfficial(t *testing.T) {
	dir := t.TempDir()
	// Seed 3 at this size has scenes with and without people, with VOC objects.
	opt := GenerateOptions{Options: Options{Height: 34, Width: 41, Seed: 3}, Count: 8, Layout: LayoutPASCAL}
	if _, err := Generate(dir, opt); err != nil {
		t.Fatal(err)
	}
	official := officialData(t, "swin-pascal-train")
	ours := fileKinds(t, dir)
	compareKinds(t, fileKinds(t, official), ours)
	root := filepath.Join(dir, "PASCALContext")
	checkIDLists(t, filepath.Join(root, "ImageSets", "Context"), []string{"000000\n000001\n000002\n000003\n000004\n000005\n000006\n", "000007\n"})

	// The Parts JSON cache is in the loader's own format and lists the anno objects.
	line := regexp.MustCompile(`^\t"[^"]+": \[(-?[0-9]+(, -?[0-9]+)*)?\],?$`)
	for _, f := range []string{filepath.Join(official, "PASCALContext", "ImageSets", "Parts", "train.txt"), filepath.Join(root, "ImageSets", "Parts", "train.txt")} {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if lines[0] != "{" || lines[len(lines)-1] != "}" || !strings.HasSuffix(string(b), "}\n") {
			t.Errorf("%s: not the loader's JSON layout:\n%s", f, b)
		}
		for _, l := range lines[1 : len(lines)-1] {
			if !line.MatchString(l) {
				t.Errorf("%s: line %q not in the loader's format", f, l)
			}
		}
	}
	parts := map[string][]int{}
	for split, n := range map[string]int{"train": 7, "val": 1} {
		var m map[string][]int
		b, _ := os.ReadFile(filepath.Join(root, "ImageSets", "Parts", split+".txt"))
		if err := json.Unmarshal(b, &m); err != nil || len(m) != n {
			t.Fatalf("Parts/%s.txt: %v, %d entries, want %d", split, err, len(m), n)
		}
		for k, v := range m {
			parts[k] = v
		}
	}

	// Decode each sample as the official loader does and compare with the rendering.
	withPeople, without := 0, 0
	for i := 0; i < opt.Count; i++ {
		s, _ := Render(opt.Options, i)
		name := SampleName(i, opt.Count)
		h, w := s.Height, s.Width
		lm := readMAT(t, filepath.Join(root, "pascal-context", "trainval", name+".mat"))
		if lm.name != "LabelMap" || lm.dims[0] != h || lm.dims[1] != w {
			t.Fatalf("%s LabelMap: %q %v", name, lm.name, lm.dims)
		}
		voc := readPNG(t, filepath.Join(root, "semseg", "VOC12", name+".png")).(*image.Paletted)
		sal := readPNG(t, filepath.Join(root, "sal_distill", name+".png")).(*image.Gray)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := y*w + x
				c := s.Semseg[p]
				if lm.u16[x*h+y] != contextClass[c] || voc.Pix[y*voc.Stride+x] != vocClass[c] || sal.Pix[p] != 255*s.Sal[p] {
					t.Fatalf("%s pixel (%d,%d): LabelMap %d VOC %d sal %d for class %s", name, y, x, lm.u16[x*h+y], voc.Pix[y*voc.Stride+x], sal.Pix[p], classNames[c])
				}
			}
		}
		// Human parts: the loader's procedure on the anno struct.
		anno := readMAT(t, filepath.Join(root, "human_parts", name+".mat"))
		objs := anno.children[0][1]
		var classes []int
		hasHuman := false
		target := make([]uint8, h*w)
		for _, o := range objs.children {
			cls := int(o[1].u8[0])
			classes = append(classes, cls)
			if cls == 15 && o[3].class == mxSTRUCT {
				hasHuman = true
				for _, part := range o[3].children {
					id := humanPart6[part[0].str]
					if id == 0 {
						t.Fatalf("%s: unknown part %q", name, part[0].str)
					}
					for y := 0; y < h; y++ {
						for x := 0; x < w; x++ {
							if part[1].u8[x*h+y] != 0 {
								target[y*w+x] = id
							}
						}
					}
				}
			}
		}
		if fmt.Sprint(classes) != fmt.Sprint(parts[name]) {
			t.Errorf("%s: Parts JSON %v, anno objects %v", name, parts[name], classes)
		}
		if !hasHuman {
			for p := range target {
				target[p] = 255 // AddIgnoreRegions: an all-zero map is ignored
			}
			without++
		} else {
			withPeople++
		}
		if !bytes.Equal(target, s.HumanParts) {
			t.Errorf("%s: human parts decoded from the anno struct differ from the rendering", name)
		}
	}
	if withPeople == 0 || without == 0 {
		t.Errorf("want scenes with and without people, got %d and %d", withPeople, without)
	}
}

// humanPart6 is the official loader's HUMAN_PART[6] grouping.
var humanPart6 = map[string]uint8{"hair": 1, "head": 1, "lear": 1, "lebrow": 1, "leye": 1, "mouth": 1, "nose": 1, "rear": 1,
	"rebrow": 1, "reye": 1, "neck": 2, "torso": 2, "luarm": 3, "ruarm": 3, "lhand": 4, "llarm": 4, "rhand": 4, "rlarm": 4,
	"luleg": 5, "ruleg": 5, "lfoot": 6, "llleg": 6, "rfoot": 6, "rlleg": 6}

func compareKinds(t *testing.T, official, ours map[string]map[string]bool) {
	t.Helper()
	for dir, kinds := range official {
		got, ok := ours[dir]
		if !ok {
			t.Errorf("folder %s missing", dir)
			continue
		}
		for k := range kinds {
			if !got[k] {
				t.Errorf("%s: no file of the official kind %q; ours: %v", dir, k, keys(got))
			}
		}
		for k := range got {
			if !kinds[k] {
				t.Errorf("%s: file kind %q not in the official data (%v)", dir, k, keys(kinds))
			}
		}
	}
	for dir := range ours {
		if _, ok := official[dir]; !ok {
			t.Errorf("folder %s is not in the official layout", dir)
		}
	}
}

func keys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func checkIDLists(t *testing.T, dir string, want []string) {
	t.Helper()
	for i, f := range []string{"train.txt", "val.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || string(b) != want[i] {
			t.Errorf("%s/%s = %q (%v), want %q", dir, f, b, err, want[i])
		}
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func readMAT(t *testing.T, path string) *matNode {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseMAT(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// The MAT writer reproduces scipy.io.savemat byte for byte: every fixture .mat file,
// parsed and written again, gives the same bytes after the 116-byte header text.
func TestMATWriterMatchesScipy(t *testing.T) {
	root := officialData(t, "swin-pascal-train")
	files, _ := filepath.Glob(filepath.Join(root, "PASCALContext", "*", "*.mat"))
	more, _ := filepath.Glob(filepath.Join(root, "PASCALContext", "*", "*", "*.mat"))
	files = append(files, more...)
	if len(files) != 4 {
		t.Fatalf("want 4 fixture .mat files, found %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := parseMAT(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, err := matFile(n.name, toMatArray(n))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(got[116:], b[116:]) {
			i := 116
			for i < len(got) && i < len(b) && got[i] == b[i] {
				i++
			}
			t.Errorf("%s: %d bytes written, %d in the fixture, first difference at byte %d", f, len(got), len(b), i)
		}
	}
}

func toMatArray(n *matNode) *matArray {
	a := &matArray{class: n.class, dims: n.dims, str: n.str, u8: n.u8, u16: n.u16, fields: n.fields}
	for _, e := range n.children {
		var elem []*matArray
		for _, c := range e {
			elem = append(elem, toMatArray(c))
		}
		a.elems = append(a.elems, elem)
	}
	return a
}
