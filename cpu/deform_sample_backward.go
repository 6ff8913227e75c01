package cpu

import "math"

// offsetCoordsBackward is the backward of OpOffsetCoords: the coordinates are constants, so
// dx += dy.
type offsetCoordsBackward struct {
	dy, dx []float32
}

func (o *offsetCoordsBackward) run(p *pool) {
	if o.dx != nil {
		p.run(len(o.dy), 4096, o)
	}
}

func (o *offsetCoordsBackward) chunk(_, lo, hi int) {
	d := o.dx[lo:hi]
	for i, v := range o.dy[lo:hi] {
		d[i] += v
	}
}

// deformSampleBackward is the backward of OpDeformSample with torchvision's rules
// (deformable_col2im, deformable_col2im_coord): the input gradient scatters dS·w_corner into
// each in-range corner; the offset gradient is dS times get_coordinate_weight, which (unlike
// the forward) applies no range test to the sample point, so exactly at py = −1 or px = −1 it
// is non-zero where the forward is 0. Work is split by channel blocks: every channel's
// scatter stays in one worker, so no two workers write the same input element.
type deformSampleBackward struct {
	x, off   []float32
	dy       []float32
	dx, doff []float32
	h, w, c  int
}

const deformChannelBlock = 8

func (d *deformSampleBackward) run(p *pool) {
	p.run((d.c+deformChannelBlock-1)/deformChannelBlock, 1, d)
}

func (d *deformSampleBackward) chunk(_, lo, hi int) {
	c, h, w := d.c, d.h, d.w
	c0, c1 := lo*deformChannelBlock, min(hi*deformChannelBlock, c)
	at := func(y, x, ch int) float32 {
		if y < 0 || y >= h || x < 0 || x >= w {
			return 0
		}
		return d.x[(y*w+x)*c+ch]
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			pix := y*w + x
			off := d.off[pix*2*c : (pix+1)*2*c]
			g := d.dy[pix*c : (pix+1)*c]
			for ch := c0; ch < c1; ch++ {
				gs := g[ch]
				if gs == 0 {
					continue
				}
				py, px := float32(y)+off[2*ch], float32(x)+off[2*ch+1]
				// Fast path: all four corners inside (the common case).
				if py >= 0 && px >= 0 && py < float32(h-1) && px < float32(w-1) {
					y0, x0 := int(py), int(px)
					ly, lx := py-float32(y0), px-float32(x0)
					i := (y0*w+x0)*c + ch
					v00, v01, v10, v11 := d.x[i], d.x[i+c], d.x[i+w*c], d.x[i+w*c+c]
					if d.doff != nil {
						d.doff[pix*2*c+2*ch] += gs * ((1-lx)*(v10-v00) + lx*(v11-v01))
						d.doff[pix*2*c+2*ch+1] += gs * ((1-ly)*(v01-v00) + ly*(v11-v10))
					}
					if d.dx != nil {
						d.dx[i] += gs * (1 - ly) * (1 - lx)
						d.dx[i+c] += gs * (1 - ly) * lx
						d.dx[i+w*c] += gs * ly * (1 - lx)
						d.dx[i+w*c+c] += gs * ly * lx
					}
					continue
				}
				if d.doff != nil {
					// get_coordinate_weight: floor corners, zero when out of range, no range test.
					yl, xl := int(math.Floor(float64(py))), int(math.Floor(float64(px)))
					ly, lx := py-float32(yl), px-float32(xl)
					v00, v01 := at(yl, xl, ch), at(yl, xl+1, ch)
					v10, v11 := at(yl+1, xl, ch), at(yl+1, xl+1, ch)
					do := d.doff[pix*2*c : (pix+1)*2*c]
					do[2*ch] += gs * ((1-lx)*(v10-v00) + lx*(v11-v01))
					do[2*ch+1] += gs * ((1-ly)*(v01-v00) + ly*(v11-v10))
				}
				if d.dx == nil || py <= -1 || float32(h) <= py || px <= -1 || float32(w) <= px {
					continue
				}
				y0, x0 := int(math.Floor(float64(py))), int(math.Floor(float64(px)))
				ly, lx := py-float32(y0), px-float32(x0)
				for _, corner := range [4]struct {
					dy, dx int
					w      float32
				}{{0, 0, (1 - ly) * (1 - lx)}, {0, 1, (1 - ly) * lx}, {1, 0, ly * (1 - lx)}, {1, 1, ly * lx}} {
					yy, xx := y0+corner.dy, x0+corner.dx
					if yy >= 0 && yy < h && xx >= 0 && xx < w {
						d.dx[(yy*w+xx)*c+ch] += gs * corner.w
					}
				}
			}
		}
	}
}
