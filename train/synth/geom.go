package synth

import "math"

// vec3 is a point or direction in metres.
type vec3 struct{ x, y, z float64 }

func (a vec3) add(b vec3) vec3      { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec3) sub(b vec3) vec3      { return vec3{a.x - b.x, a.y - b.y, a.z - b.z} }
func (a vec3) scale(s float64) vec3 { return vec3{a.x * s, a.y * s, a.z * s} }
func (a vec3) dot(b vec3) float64   { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec3) cross(b vec3) vec3 {
	return vec3{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}
func (a vec3) norm() vec3 {
	l := math.Sqrt(a.dot(a))
	if l == 0 {
		return a
	}
	return a.scale(1 / l)
}

// Primitive kinds, all in the local frame of their object (y up).
const (
	primBox      = iota // axis-aligned box a..b
	primSphere          // centre a, radius r
	primCylinder        // vertical: axis through (a.x, a.z), y from a.y to b.y, radius r
	primCapsule         // segment a–b, radius r
)

// prim is one solid of an object.
type prim struct {
	kind int
	a, b vec3
	r    float64
	mat  int   // index into the scene's materials
	part uint8 // human part label (0 = not a person part)
	name uint8 // PASCAL-Part part name (index into pascalPartNames), 0 = none
}

// hitPrim returns the nearest t in (tmin, tmax) where the ray o+t·d (d unit) enters p,
// or -1. Rays start outside every solid, so only entry points matter.
func hitPrim(p *prim, o, d vec3, tmin, tmax float64) float64 {
	switch p.kind {
	case primBox:
		t0, t1 := slab(o, d, p.a, p.b, tmin, tmax)
		if t0 > t1 {
			return -1
		}
		return t0
	case primSphere:
		return hitSphere(o, d, p.a, p.r, tmin, tmax)
	case primCylinder:
		return hitCylinder(p, o, d, tmin, tmax)
	default:
		return hitCapsule(o, d, p.a, p.b, p.r, tmin, tmax)
	}
}

// slab intersects the ray with the box lo..hi and returns the clipped parameter interval
// [t0, t1] (empty when t0 > t1).
func slab(o, d, lo, hi vec3, tmin, tmax float64) (float64, float64) {
	t0, t1 := tmin, tmax
	for k := 0; k < 3; k++ {
		var oo, dd, l, h float64
		switch k {
		case 0:
			oo, dd, l, h = o.x, d.x, lo.x, hi.x
		case 1:
			oo, dd, l, h = o.y, d.y, lo.y, hi.y
		default:
			oo, dd, l, h = o.z, d.z, lo.z, hi.z
		}
		if dd == 0 {
			if oo < l || oo > h {
				return 1, 0
			}
			continue
		}
		inv := 1 / dd
		a, b := (l-oo)*inv, (h-oo)*inv
		if a > b {
			a, b = b, a
		}
		if a > t0 {
			t0 = a
		}
		if b < t1 {
			t1 = b
		}
		if t0 > t1 {
			return 1, 0
		}
	}
	return t0, t1
}

func hitSphere(o, d, c vec3, r, tmin, tmax float64) float64 {
	oc := o.sub(c)
	b := oc.dot(d)
	cc := oc.dot(oc) - r*r
	disc := b*b - cc
	if disc < 0 {
		return -1
	}
	t := -b - math.Sqrt(disc)
	if t <= tmin || t >= tmax {
		return -1
	}
	return t
}

func hitCylinder(p *prim, o, d vec3, tmin, tmax float64) float64 {
	best := -1.0
	// Side: (ox + t dx − cx)² + (oz + t dz − cz)² = r².
	ox, oz := o.x-p.a.x, o.z-p.a.z
	a := d.x*d.x + d.z*d.z
	if a > 1e-12 {
		b := ox*d.x + oz*d.z
		c := ox*ox + oz*oz - p.r*p.r
		disc := b*b - a*c
		if disc >= 0 {
			t := (-b - math.Sqrt(disc)) / a
			if t > tmin && t < tmax {
				y := o.y + t*d.y
				if y >= p.a.y && y <= p.b.y {
					best, tmax = t, t
				}
			}
		}
	}
	// Caps.
	if d.y != 0 {
		for _, yc := range [2]float64{p.a.y, p.b.y} {
			t := (yc - o.y) / d.y
			if t > tmin && t < tmax {
				x, z := ox+t*d.x, oz+t*d.z
				if x*x+z*z <= p.r*p.r {
					best, tmax = t, t
				}
			}
		}
	}
	return best
}

// hitCapsule intersects a capsule (the segment a–b swept by a sphere of radius r):
// the cylinder body first, then the end sphere on the side the body hit missed.
func hitCapsule(o, d, pa, pb vec3, r, tmin, tmax float64) float64 {
	ba := pb.sub(pa)
	oa := o.sub(pa)
	baba := ba.dot(ba)
	bard := ba.dot(d)
	baoa := ba.dot(oa)
	rdoa := d.dot(oa)
	oaoa := oa.dot(oa)
	a := baba - bard*bard
	b := baba*rdoa - baoa*bard
	c := baba*oaoa - baoa*baoa - r*r*baba
	h := b*b - a*c
	if h < 0 {
		return -1
	}
	y := -1.0 // along the axis: < 0 before a, > baba beyond b
	if a > 1e-12*baba {
		t := (-b - math.Sqrt(h)) / a
		y = baoa + t*bard
		if y > 0 && y < baba {
			if t > tmin && t < tmax {
				return t
			}
			return -1
		}
	} else if bard > 0 {
		y = -1 // ray along the axis towards b: it meets the sphere at a first
	} else {
		y = baba + 1
	}
	oc := oa
	if y > 0 {
		oc = o.sub(pb)
	}
	bb := d.dot(oc)
	cc := oc.dot(oc) - r*r
	h = bb*bb - cc
	if h < 0 {
		return -1
	}
	t := -bb - math.Sqrt(h)
	if t > tmin && t < tmax {
		return t
	}
	return -1
}

// primNormal returns the outward unit normal of p at the surface point q (local frame).
func primNormal(p *prim, q vec3) vec3 {
	switch p.kind {
	case primBox:
		// The face whose plane q is nearest to.
		best, n := math.Inf(1), vec3{}
		faces := [6]struct {
			dist float64
			n    vec3
		}{
			{math.Abs(q.x - p.a.x), vec3{-1, 0, 0}}, {math.Abs(q.x - p.b.x), vec3{1, 0, 0}},
			{math.Abs(q.y - p.a.y), vec3{0, -1, 0}}, {math.Abs(q.y - p.b.y), vec3{0, 1, 0}},
			{math.Abs(q.z - p.a.z), vec3{0, 0, -1}}, {math.Abs(q.z - p.b.z), vec3{0, 0, 1}},
		}
		for _, f := range faces {
			if f.dist < best {
				best, n = f.dist, f.n
			}
		}
		return n
	case primSphere:
		return q.sub(p.a).norm()
	case primCylinder:
		eps := 1e-7 * (1 + math.Abs(p.b.y))
		if math.Abs(q.y-p.b.y) < eps {
			return vec3{0, 1, 0}
		}
		if math.Abs(q.y-p.a.y) < eps {
			return vec3{0, -1, 0}
		}
		return vec3{q.x - p.a.x, 0, q.z - p.a.z}.norm()
	default:
		ba := p.b.sub(p.a)
		h := q.sub(p.a).dot(ba) / ba.dot(ba)
		h = math.Min(1, math.Max(0, h))
		return q.sub(p.a.add(ba.scale(h))).norm()
	}
}

// primBounds returns the local axis-aligned bounds of p.
func primBounds(p *prim) (lo, hi vec3) {
	switch p.kind {
	case primBox:
		return p.a, p.b
	case primSphere:
		r := vec3{p.r, p.r, p.r}
		return p.a.sub(r), p.a.add(r)
	case primCylinder:
		return vec3{p.a.x - p.r, p.a.y, p.a.z - p.r}, vec3{p.a.x + p.r, p.b.y, p.a.z + p.r}
	default:
		r := vec3{p.r, p.r, p.r}
		lo = vec3{math.Min(p.a.x, p.b.x), math.Min(p.a.y, p.b.y), math.Min(p.a.z, p.b.z)}
		hi = vec3{math.Max(p.a.x, p.b.x), math.Max(p.a.y, p.b.y), math.Max(p.a.z, p.b.z)}
		return lo.sub(r), hi.add(r)
	}
}
