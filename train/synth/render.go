package synth

import (
	"fmt"
	"math"
)

// Sample is one rendered scene: the image and the exact ground truth of every task,
// all row-major H×W (normals and RGB channels-last).
type Sample struct {
	Height, Width int
	RGB           []uint8   // [H, W, 3] 8-bit sRGB-like (gamma 2)
	Semseg        []uint8   // class index (ClassNames); every pixel is labelled
	HumanParts    []uint8   // 0 background, 1..6 parts; 255 everywhere when no person is visible
	Sal           []uint8   // 1 salient (person or a salient class), 0 not
	Edge          []uint8   // 1 on instance boundaries (seg2bmap of Instance), 0 elsewhere
	Depth         []float32 // z-depth in metres (distance along the optical axis), never 0
	Normals       []float32 // [H, W, 3] unit surface normals in the camera frame (NormalsConvention)
	Instance      []uint16  // instance id: 1 floor, 2 ceiling, 3..6 walls, ≥ 7 objects
	// InstanceClass is the class of every instance id (index 0 unused).
	InstanceClass []uint8
	HasPerson     bool // some person pixel is visible
	partName      []uint8
	cam           camera
}

// NormalsConvention describes the frame of Sample.Normals (dataset.json "normals_convention").
const NormalsConvention = "camera frame, right-handed: +x right in the image, +y up in the image, +z out of the screen towards the camera (the optical axis points along -z); unit vectors facing the camera (n · viewing ray < 0)"

// Options are the rendering settings of a dataset.
type Options struct {
	Height, Width int
	Seed          uint64
	// SalientClasses are the classes whose pixels are salient; nil means DefaultSalientClasses().
	SalientClasses []int
}

// Render draws scene index of the dataset with seed opt.Seed. The result depends only on
// (opt, index): the same arguments give bit-identical samples.
func Render(opt Options, index int) (*Sample, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if index < 0 {
		return nil, fmt.Errorf("synth: negative scene index %d", index)
	}
	sal := opt.SalientClasses
	if sal == nil {
		sal = DefaultSalientClasses()
	}
	r := newRNG(opt.Seed, index)
	sc := newScene(r, opt.Height, opt.Width, sal)
	return sc.render(opt.Height, opt.Width, r), nil
}

// validate checks the image size.
func (o Options) validate() error {
	if o.Height < 8 || o.Width < 8 || o.Height > 4096 || o.Width > 4096 {
		return fmt.Errorf("synth: image size %dx%d out of range (8..4096 per side)", o.Height, o.Width)
	}
	return nil
}

// screenRect returns the pixel rectangle [x0, y0, x1, y1] (inclusive) that contains the
// projection of o's bounds; the whole image when a corner is near or behind the camera.
func screenRect(o *object, c *camera, h, w int) [4]int {
	full := [4]int{0, 0, w - 1, h - 1}
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for k := 0; k < 8; k++ {
		q := vec3{o.lo.x, o.lo.y, o.lo.z}
		if k&1 != 0 {
			q.x = o.hi.x
		}
		if k&2 != 0 {
			q.y = o.hi.y
		}
		if k&4 != 0 {
			q.z = o.hi.z
		}
		p := o.toWorld(q).sub(c.pos)
		z := p.dot(c.f)
		if z < 0.02 {
			return full
		}
		sx := p.dot(c.r) / (z * c.tanX)
		sy := p.dot(c.u) / (z * c.tanY)
		px := (sx + 1) / 2 * float64(w)
		py := (1 - sy) / 2 * float64(h)
		x0, x1 = math.Min(x0, px), math.Max(x1, px)
		y0, y1 = math.Min(y0, py), math.Max(y1, py)
	}
	rect := [4]int{int(math.Floor(x0)) - 1, int(math.Floor(y0)) - 1, int(math.Ceil(x1)) + 1, int(math.Ceil(y1)) + 1}
	rect[0], rect[1] = max(rect[0], 0), max(rect[1], 0)
	rect[2], rect[3] = min(rect[2], w-1), min(rect[3], h-1)
	return rect
}

// roomHit returns the distance at which the ray from inside the room leaves it, the face
// it leaves through and that face's inward normal.
func (s *scene) roomHit(o, d vec3) (float64, int, vec3) {
	t, face, n := math.Inf(1), faceFloor, vec3{0, 1, 0}
	if d.y < 0 {
		t, face, n = -o.y/d.y, faceFloor, vec3{0, 1, 0}
	} else if d.y > 0 {
		t, face, n = (s.h-o.y)/d.y, faceCeiling, vec3{0, -1, 0}
	}
	if d.x < 0 {
		if tt := (-s.w/2 - o.x) / d.x; tt < t {
			t, face, n = tt, faceLeft, vec3{1, 0, 0}
		}
	} else if d.x > 0 {
		if tt := (s.w/2 - o.x) / d.x; tt < t {
			t, face, n = tt, faceRight, vec3{-1, 0, 0}
		}
	}
	if d.z < 0 {
		if tt := -o.z / d.z; tt < t {
			t, face, n = tt, faceFront, vec3{0, 0, 1}
		}
	} else if d.z > 0 {
		if tt := (s.d - o.z) / d.z; tt < t {
			t, face, n = tt, faceBack, vec3{0, 0, -1}
		}
	}
	return t, face, n
}

// shadowed reports whether any object blocks the segment from p (world) along unit d
// up to distance dist.
func (s *scene) shadowed(p, d vec3, dist float64) bool {
	for i := range s.objects {
		o := &s.objects[i]
		lp, ld := o.toLocal(p), o.dirToLocal(d)
		if t0, t1 := slab(lp, ld, o.lo, o.hi, 1e-5, dist); t0 > t1 {
			continue
		}
		for k := range o.prims {
			if hitPrim(&o.prims[k], lp, ld, 1e-5, dist) > 0 {
				return true
			}
		}
	}
	return false
}

// boxNormal returns the outward normal of the box face the ray enters through.
func boxNormal(o, d, lo, hi vec3) vec3 {
	best, n := math.Inf(-1), vec3{}
	axes := [3]struct{ o, d, l, h float64 }{{o.x, d.x, lo.x, hi.x}, {o.y, d.y, lo.y, hi.y}, {o.z, d.z, lo.z, hi.z}}
	for k, a := range axes {
		if a.d == 0 {
			continue
		}
		t, sign := (a.l-a.o)/a.d, -1.0
		if a.d < 0 {
			t, sign = (a.h-a.o)/a.d, 1.0
		}
		if t > best {
			best = t
			n = vec3{}
			switch k {
			case 0:
				n.x = sign
			case 1:
				n.y = sign
			default:
				n.z = sign
			}
		}
	}
	return n
}

// render ray-casts every pixel: one primary ray through the pixel centre, exact labels
// from the nearest surface, Lambert shading from the point light with a shadow ray,
// ambient light, exposure, gamma 2 and sensor noise.
func (s *scene) render(h, w int, r *rng) *Sample {
	n := h * w
	smp := &Sample{
		Height: h, Width: w,
		RGB: make([]uint8, 3*n), Semseg: make([]uint8, n), HumanParts: make([]uint8, n),
		Sal: make([]uint8, n), Edge: make([]uint8, n), Depth: make([]float32, n),
		Normals: make([]float32, 3*n), Instance: make([]uint16, n), partName: make([]uint8, n),
		InstanceClass: s.instClass, cam: s.cam,
	}
	c := &s.cam
	for i := 0; i < h; i++ {
		sy := 1 - 2*(float64(i)+0.5)/float64(h)
		for j := 0; j < w; j++ {
			sx := 2*(float64(j)+0.5)/float64(w) - 1
			d := c.f.add(c.r.scale(sx * c.tanX)).add(c.u.scale(sy * c.tanY)).norm()
			p := i*w + j

			t, face, nrm := s.roomHit(c.pos, d)
			hitObj, hitPrimIdx := -1, -1
			var ld vec3
			for k := range s.objects {
				o := &s.objects[k]
				if !s.noCull && (j < o.rect[0] || j > o.rect[2] || i < o.rect[1] || i > o.rect[3]) {
					continue
				}
				od := o.dirToLocal(d)
				if t0, t1 := slab(o.camLocal, od, o.lo, o.hi, 1e-6, t); t0 > t1 {
					continue
				}
				for q := range o.prims {
					if tt := hitPrim(&o.prims[q], o.camLocal, od, 1e-6, t); tt > 0 {
						t, hitObj, hitPrimIdx, ld = tt, k, q, od
					}
				}
			}
			hit := c.pos.add(d.scale(t))
			var m *material
			var texP vec3
			class, inst := ClassWall, uint16(face+1)
			switch face {
			case faceFloor:
				class = ClassFloor
			case faceCeiling:
				class = ClassCeiling
			}
			if hitObj >= 0 {
				o := &s.objects[hitObj]
				pr := &o.prims[hitPrimIdx]
				lq := o.camLocal.add(ld.scale(t))
				var ln vec3
				if pr.kind == primBox {
					ln = boxNormal(o.camLocal, ld, pr.a, pr.b)
				} else {
					ln = primNormal(pr, lq)
				}
				nrm = o.dirToWorld(ln)
				class, inst = o.class, o.inst
				smp.HumanParts[p] = pr.part
				smp.partName[p] = pr.name
				m = &s.mats[pr.mat]
				texP = lq
			} else {
				m = &s.mats[s.faceMat[face]]
				texP = hit
			}
			smp.Semseg[p] = uint8(class)
			smp.Instance[p] = inst
			if s.salient[class] {
				smp.Sal[p] = 1
			}
			if class == ClassPerson {
				smp.HasPerson = true
			}
			smp.Depth[p] = float32(t * d.dot(c.f))
			nx, ny, nz := nrm.dot(c.r), nrm.dot(c.u), -nrm.dot(c.f)
			smp.Normals[3*p], smp.Normals[3*p+1], smp.Normals[3*p+2] = float32(nx), float32(ny), float32(nz)

			alb := m.albedo(texP)
			var col [3]float64
			if m.emissive {
				col = alb
			} else {
				tl := s.light.sub(hit)
				dist := math.Sqrt(tl.dot(tl))
				l := tl.scale(1 / dist)
				lambert := nrm.dot(l)
				if lambert > 0 && s.shadowed(hit.add(nrm.scale(1e-4)), l, dist) {
					lambert = 0
				}
				lambert = max(lambert, 0) / (dist * dist)
				hemi := 0.75 + 0.25*nrm.y
				for k := range col {
					col[k] = alb[k] * (s.ambient[k]*hemi + s.lightCol[k]*lambert)
				}
			}
			for k := range col {
				// Sensor noise: triangular with standard deviation s.noise (cheaper than Gaussian).
				v := math.Sqrt(max(col[k]*s.exposure, 0)) + s.noise*2.449489742783178*(r.float()+r.float()-1)
				smp.RGB[3*p+k] = uint8(255*min(1, max(0, v)) + 0.5)
			}
		}
	}
	if !smp.HasPerson {
		for p := range smp.HumanParts {
			smp.HumanParts[p] = 255
		}
	}
	seg2bmap(smp.Instance, h, w, smp.Edge)
	return smp
}

// seg2bmap marks the boundaries of a label map as the BSDS/SEISM seg2bmap does at the
// same resolution: a pixel is a boundary when it differs from its east, south or
// south-east neighbour (last row: east only; last column: south only; the bottom-right
// corner never). Boundaries are 1 pixel thin and lie on the top-left side of a change.
func seg2bmap(seg []uint16, h, w int, out []uint8) {
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			v := seg[i*w+j]
			var b bool
			switch {
			case i < h-1 && j < w-1:
				b = v != seg[i*w+j+1] || v != seg[(i+1)*w+j] || v != seg[(i+1)*w+j+1]
			case i == h-1 && j < w-1:
				b = v != seg[i*w+j+1]
			case j == w-1 && i < h-1:
				b = v != seg[(i+1)*w+j]
			}
			out[i*w+j] = 0
			if b {
				out[i*w+j] = 1
			}
		}
	}
}
