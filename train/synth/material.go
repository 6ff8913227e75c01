package synth

import "math"

// Texture patterns. Every pattern is a solid (3-D) texture evaluated at the hit point in
// the object's local frame, so no surface parameterisation is needed and textures move
// with their objects.
const (
	patSolid = iota
	patStripes
	patChecks
	patNoise
	patGrain // noise stretched along one axis (wood-, fabric-like)
	numPatterns
)

// material is a surface: two linear-RGB albedos mixed by a pattern, or an emitter.
type material struct {
	base, alt [3]float64
	pattern   int
	freq      float64
	dir       vec3 // stripe direction / grain axis (unit)
	duty      float64
	key       uint64 // noise lattice key
	emissive  bool   // shown at its colour, unlit (windows, lamp shades)
}

// randomColor draws a linear-RGB albedo from one distribution shared by every class,
// so that colour says nothing about the class.
func randomColor(r *rng) [3]float64 {
	h := r.float()
	s := r.uniform(0, 0.85)
	v := r.uniform(0.12, 0.95)
	return hsvToLinear(h, s, v)
}

// hsvToLinear converts HSV (display-referred, sRGB-like) to linear RGB (gamma 2).
func hsvToLinear(h, s, v float64) [3]float64 {
	h = (h - math.Floor(h)) * 6
	i := int(h)
	f := h - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var c [3]float64
	switch i {
	case 0:
		c = [3]float64{v, t, p}
	case 1:
		c = [3]float64{q, v, p}
	case 2:
		c = [3]float64{p, v, t}
	case 3:
		c = [3]float64{p, q, v}
	case 4:
		c = [3]float64{t, p, v}
	default:
		c = [3]float64{v, p, q}
	}
	for k := range c {
		c[k] *= c[k]
	}
	return c
}

// randomMaterial draws a textured material; its distribution does not depend on the
// class of the object it is put on.
func randomMaterial(r *rng) material {
	m := material{base: randomColor(r), pattern: r.intn(numPatterns), key: r.next()}
	if r.chance(0.5) {
		m.alt = randomColor(r)
	} else { // a darker or lighter shade of the base
		k := r.uniform(0.3, 1.8)
		for i := range m.alt {
			m.alt[i] = math.Min(1, m.base[i]*k)
		}
	}
	m.freq = math.Exp(r.uniform(math.Log(1.5), math.Log(14)))
	m.dir = vec3{r.normal(), r.normal(), r.normal()}.norm()
	if m.dir == (vec3{}) {
		m.dir = vec3{1, 0, 0}
	}
	m.duty = r.uniform(0.2, 0.8)
	return m
}

// emitterMaterial is a bright, unlit surface (sky seen through a window, a lit shade).
func emitterMaterial(r *rng) material {
	m := material{emissive: true, pattern: patNoise, key: r.next(), freq: r.uniform(0.5, 3)}
	h, s := r.float(), r.uniform(0, 0.5)
	m.base = hsvToLinear(h, s, r.uniform(0.75, 1))
	m.alt = hsvToLinear(h+r.uniform(-0.1, 0.1), s*r.uniform(0, 1), r.uniform(0.55, 1))
	m.dir = vec3{0, 1, 0}
	return m
}

// albedo evaluates the material at local point q.
func (m *material) albedo(q vec3) [3]float64 {
	var t float64
	switch m.pattern {
	case patSolid:
		return m.base
	case patStripes:
		s := q.dot(m.dir) * m.freq
		if s-math.Floor(s) < m.duty {
			return m.base
		}
		return m.alt
	case patChecks:
		f := m.freq
		n := int64(math.Floor(q.x*f)) + int64(math.Floor(q.y*f)) + int64(math.Floor(q.z*f))
		if n&1 == 0 {
			return m.base
		}
		return m.alt
	case patNoise:
		p := q.scale(m.freq)
		t = 0.65*valueNoise(p, m.key) + 0.35*valueNoise(p.scale(2.7), m.key^0xabcdef)
	default: // grain: fine along the axis, coarse across it
		along := q.dot(m.dir)
		p := q.sub(m.dir.scale(along)).scale(m.freq * 0.4)
		p = p.add(m.dir.scale(along * m.freq * 6))
		t = valueNoise(p, m.key)
		t = t * t
	}
	return [3]float64{
		m.base[0] + (m.alt[0]-m.base[0])*t,
		m.base[1] + (m.alt[1]-m.base[1])*t,
		m.base[2] + (m.alt[2]-m.base[2])*t,
	}
}

// valueNoise is trilinearly interpolated lattice noise in [0, 1) with smoothstep weights.
func valueNoise(p vec3, key uint64) float64 {
	fx, fy, fz := math.Floor(p.x), math.Floor(p.y), math.Floor(p.z)
	ix, iy, iz := int64(fx), int64(fy), int64(fz)
	u, v, w := smooth(p.x-fx), smooth(p.y-fy), smooth(p.z-fz)
	c000 := hash3(ix, iy, iz, key)
	c100 := hash3(ix+1, iy, iz, key)
	c010 := hash3(ix, iy+1, iz, key)
	c110 := hash3(ix+1, iy+1, iz, key)
	c001 := hash3(ix, iy, iz+1, key)
	c101 := hash3(ix+1, iy, iz+1, key)
	c011 := hash3(ix, iy+1, iz+1, key)
	c111 := hash3(ix+1, iy+1, iz+1, key)
	x00 := c000 + (c100-c000)*u
	x10 := c010 + (c110-c010)*u
	x01 := c001 + (c101-c001)*u
	x11 := c011 + (c111-c011)*u
	y0 := x00 + (x10-x00)*v
	y1 := x01 + (x11-x01)*v
	return y0 + (y1-y0)*w
}

func smooth(t float64) float64 { return t * t * (3 - 2*t) }
