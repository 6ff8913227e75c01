package dataset

// ImageNet normalisation of the official code (RGB).
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// Normalize turns the 0..255 image into the model input exactly as the official Normalize
// does in float32: v/255, − mean, / std, each step rounded to float32.
func Normalize(s *Sample) {
	if s.Normalized {
		return
	}
	for i, v := range s.Image {
		c := i % 3
		t := v / 255
		t -= Mean[c]
		s.Image[i] = t / Std[c]
	}
	s.Normalized = true
}

// PadTo centre-pads the sample to h×w as the official PadImage does: top = (h−H)/2,
// left = (w−W)/2; the image with 0 (after Normalize: the mean colour), depth and normals
// with 0 (made 255 by AddIgnoreRegions), every other label with 255. A side already at
// least as large stays as it is.
func PadTo(s *Sample, h, w int) {
	nh, nw := max(h, s.H), max(w, s.W)
	if nh == s.H && nw == s.W {
		return
	}
	top, left := (nh-s.H)/2, (nw-s.W)/2
	pad := func(src []float32, c int, fill float32) []float32 {
		dst := make([]float32, nh*nw*c)
		if fill != 0 {
			for i := range dst {
				dst[i] = fill
			}
		}
		for y := 0; y < s.H; y++ {
			copy(dst[((y+top)*nw+left)*c:], src[y*s.W*c:(y+1)*s.W*c])
		}
		return dst
	}
	s.Image = pad(s.Image, 3, 0)
	for t, l := range s.Labels {
		fill := float32(Ignore)
		if t == "depth" || t == "normals" {
			fill = 0
		}
		s.Labels[t] = pad(l, Channels(t), fill)
	}
	s.PadTop += top
	s.PadLeft += left
	s.H, s.W = nh, nw
}

// AddIgnoreRegions applies the official AddIgnoreRegions: normals with zero norm → all three
// channels 255; a human_parts map with only 0 and 255 (no person) → all 255; depth 0 → 255.
func AddIgnoreRegions(s *Sample) {
	if n, ok := s.Labels["normals"]; ok {
		for p := 0; p+2 < len(n); p += 3 {
			if n[p] == 0 && n[p+1] == 0 && n[p+2] == 0 {
				n[p], n[p+1], n[p+2] = Ignore, Ignore, Ignore
			}
		}
	}
	if hp, ok := s.Labels["human_parts"]; ok {
		person := false
		for _, v := range hp {
			if v != 0 && v != Ignore {
				person = true
				break
			}
		}
		if !person {
			for i := range hp {
				hp[i] = Ignore
			}
		}
	}
	if d, ok := s.Labels["depth"]; ok {
		for i, v := range d {
			if v == 0 {
				d[i] = Ignore
			}
		}
	}
}

// EvalTransform is the official valid_transforms without the fixed-size padding: Normalize
// and AddIgnoreRegions; padH, padW > 0 also centre-pad (PadImage) before the ignore regions.
func EvalTransform(s *Sample, padH, padW int) {
	Normalize(s)
	if padH > 0 && padW > 0 {
		PadTo(s, padH, padW)
	}
	AddIgnoreRegions(s)
}
