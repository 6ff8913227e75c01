package cpu

// deformSample is a prepared OpDeformSample: every channel c of x is sampled at
// (y + O[2c], x + O[2c+1]) with torchvision's bilinear rule (zero outside, partial corners zero).
type deformSample struct {
	x, off, y []float32
	h, w, c   int
}

func (d *deformSample) run(p *pool) { p.run(d.h, 1, d) }

func (d *deformSample) chunk(_, lo, hi int) {
	c, w := d.c, d.w
	for y := lo; y < hi; y++ {
		for x := 0; x < w; x++ {
			t := y*w + x
			sampleToken(d.x, d.off[t*2*c:(t+1)*2*c], d.y[t*c:(t+1)*c], y, x, d.h, w, c)
		}
	}
}

// sampleToken samples every channel of the token at (y, x): out[ch] = x at (y + off[2ch], x + off[2ch+1]).
func sampleToken(img, off, out []float32, y, x, h, w, c int) {
	for ch := range out {
		py, px := float32(y)+off[2*ch], float32(x)+off[2*ch+1]
		// Fast path: all four corners inside (the common case).
		if py >= 0 && px >= 0 && py < float32(h-1) && px < float32(w-1) {
			y0, x0 := int(py), int(px)
			ly, lx := py-float32(y0), px-float32(x0)
			i := (y0*w+x0)*c + ch
			v1, v2 := img[i], img[i+c]
			v3, v4 := img[i+w*c], img[i+w*c+c]
			out[ch] = (1-ly)*(1-lx)*v1 + (1-ly)*lx*v2 + ly*(1-lx)*v3 + ly*lx*v4
			continue
		}
		out[ch] = sampleTV(img, h, w, c, ch, py, px)
	}
}

// sampleTV is torchvision's deform_conv2d bilinear_interpolate on channel ch of a
// channels-last map.
func sampleTV(img []float32, h, w, c, ch int, py, px float32) float32 {
	if py <= -1 || float32(h) <= py || px <= -1 || float32(w) <= px {
		return 0
	}
	// py, px > −1 here: truncation toward zero is floor except on (−1, 0).
	y0, x0 := int(py), int(px)
	if py < 0 {
		y0 = -1
	}
	if px < 0 {
		x0 = -1
	}
	y1, x1 := y0+1, x0+1
	ly := py - float32(y0)
	lx := px - float32(x0)
	hy, hx := 1-ly, 1-lx
	var v1, v2, v3, v4 float32
	if y0 >= 0 && x0 >= 0 {
		v1 = img[(y0*w+x0)*c+ch]
	}
	if y0 >= 0 && x1 <= w-1 {
		v2 = img[(y0*w+x1)*c+ch]
	}
	if y1 <= h-1 && x0 >= 0 {
		v3 = img[(y1*w+x0)*c+ch]
	}
	if y1 <= h-1 && x1 <= w-1 {
		v4 = img[(y1*w+x1)*c+ch]
	}
	return hy*hx*v1 + hy*lx*v2 + ly*hx*v3 + ly*lx*v4
}
