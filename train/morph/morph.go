// Package morph holds the binary-image operations the training data and the boundary metric
// share: the skeleton thinning of skimage.morphology.thin / MATLAB bwmorph(…, 'thin', Inf)
// and the "Laplacian ≠ 0" label boundaries of the official PASCAL-Context loader.
package morph

// Neighbour weights of the thinning code, as skimage builds it: E=1, NE=2, N=4, NW=8,
// W=16, SW=32, S=64, SE=128 (bits b0..b7).
var neighbourOffsets = [8][2]int{{0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1}, {1, 0}, {1, 1}} // (dy, dx)

// thinLUT holds the two sub-iteration deletion tables of the Guo–Hall thinning (skimage's
// G123_LUT and G123P_LUT); read only.
var thinLUT = buildThinLUTs()

func buildThinLUTs() [2][256]bool {
	var lut [2][256]bool
	for n := 0; n < 256; n++ {
		var b [8]bool
		for i := range b {
			b[i] = n>>i&1 == 1
		}
		s := 0
		for _, i := range []int{0, 2, 4, 6} {
			if !b[i] && (b[i+1] || b[(i+2)%8]) {
				s++
			}
		}
		g1 := s == 1
		n1, n2 := 0, 0
		for _, k := range []int{1, 3, 5, 7} {
			if b[k] || b[k-1] {
				n1++
			}
			if b[k] || b[(k+1)%8] {
				n2++
			}
		}
		m := min(n1, n2)
		g2 := m == 2 || m == 3
		g3 := !((b[1] || b[2] || !b[7]) && b[0])
		g3p := !((b[5] || b[6] || !b[3]) && b[4])
		lut[0][n] = g1 && g2 && g3
		lut[1][n] = g1 && g2 && g3p
	}
	return lut
}

// Thinner thins binary images in place; it keeps its scratch buffers between calls, so
// thinning many images of one size allocates nothing after the first. The zero value is
// ready to use.
type Thinner struct {
	pad []uint8 // the image with a one-pixel border of zeros
	set []int32 // padded indices of the set pixels still in the image
	del []int32 // pixels to delete in the current sub-iteration
}

// Thin thins img (h×w, row-major, nonzero = set; the result is 0/1) until no pixel
// changes, exactly as skimage.morphology.thin (v0.17) with max_iter=None: each iteration
// runs two sub-iterations, each deciding every deletion on the image as of its start, with
// pixels outside the image counted as 0. The work is proportional to the set pixels.
func (t *Thinner) Thin(img []uint8, h, w int) {
	pw := w + 2
	n := (h + 2) * pw
	if cap(t.pad) < n {
		t.pad = make([]uint8, n)
	}
	pad := t.pad[:n]
	clear(pad)
	t.set = t.set[:0]
	for y := 0; y < h; y++ {
		for x, v := range img[y*w : y*w+w] {
			if v != 0 {
				i := (y+1)*pw + x + 1
				pad[i] = 1
				t.set = append(t.set, int32(i))
			}
		}
	}
	// Neighbour offsets in the padded image, in the order of the code bits.
	var off [8]int
	for k, o := range neighbourOffsets {
		off[k] = o[0]*pw + o[1]
	}
	for changed := true; changed; {
		changed = false
		for sub := 0; sub < 2; sub++ {
			lut := &thinLUT[sub]
			t.del = t.del[:0]
			for _, i := range t.set {
				c := int(i)
				code := int(pad[c+off[0]]) | int(pad[c+off[1]])<<1 | int(pad[c+off[2]])<<2 | int(pad[c+off[3]])<<3 |
					int(pad[c+off[4]])<<4 | int(pad[c+off[5]])<<5 | int(pad[c+off[6]])<<6 | int(pad[c+off[7]])<<7
				if lut[code] {
					t.del = append(t.del, i)
				}
			}
			if len(t.del) == 0 {
				continue
			}
			changed = true
			for _, i := range t.del {
				pad[i] = 0
			}
			kept := t.set[:0]
			for _, i := range t.set {
				if pad[i] != 0 {
					kept = append(kept, i)
				}
			}
			t.set = kept
		}
	}
	for y := 0; y < h; y++ {
		copy(img[y*w:y*w+w], pad[(y+1)*pw+1:(y+1)*pw+1+w])
	}
}

// LaplacianEdges writes to dst (h×w) 1 where the 4-neighbour Laplacian of the label map is
// nonzero and 0 elsewhere: cv2.Laplacian(L, CV_64F) with ksize 1 (kernel
// [[0,1,0],[1,−4,1],[0,1,0]]) and the default reflect-101 border, then |lap| > 0. This is
// "Laplacian ≠ 0", not "some neighbour differs".
func LaplacianEdges(labels []int32, h, w int, dst []uint8) {
	at := func(y, x int) int64 {
		return int64(labels[reflect101(y, h)*w+reflect101(x, w)])
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			lap := at(y-1, x) + at(y+1, x) + at(y, x-1) + at(y, x+1) - 4*int64(labels[y*w+x])
			dst[y*w+x] = 0
			if lap != 0 {
				dst[y*w+x] = 1
			}
		}
	}
}

// reflect101 maps an index one step outside [0, n) back inside, mirroring without
// repeating the border pixel (OpenCV BORDER_REFLECT_101); a size-1 axis maps to 0.
func reflect101(i, n int) int {
	if n == 1 {
		return 0
	}
	switch {
	case i < 0:
		return -i
	case i >= n:
		return 2*n - 2 - i
	}
	return i
}
