package synth

import "math"

// people adds 0–3 standing or walking figures (with probability 0.65 at least one).
func (b *builder) people() {
	r := b.r
	if !r.chance(0.65) {
		return
	}
	n := 1 + r.intn(3)
	for i := 0; i < n; i++ {
		o, rad := b.person()
		// Mostly at a distance that shows the whole figure, sometimes close.
		gap := r.uniform(1.2, 2.5)
		if r.chance(0.2) {
			gap = 0.45
		}
		pos, yaw, ok := b.placeFloor(rad, rad, false, gap)
		if !ok {
			continue
		}
		b.addObject(placed(o, pos, yaw))
	}
}

// limbDir returns the unit direction of a limb hanging down, swung forward (towards +z)
// by pitch and out sideways (towards side·x) by abduct.
func limbDir(pitch, abduct, side float64) vec3 {
	return bend(vec3{side * math.Sin(abduct), -math.Cos(abduct), 0}, pitch)
}

// bend rotates direction d about the x axis so that a downward direction swings
// forward (towards +z) for a > 0.
func bend(d vec3, a float64) vec3 {
	c, s := math.Cos(a), math.Sin(a)
	return vec3{d.x, d.y*c + d.z*s, -d.y*s + d.z*c}
}

// person builds a figure facing local +z, its left side towards +x, feet on y = 0:
// head (sphere, hair), neck, torso, upper/lower arms with hands, upper/lower legs with
// feet, every primitive labelled with its human part and its PASCAL-Part name.
func (b *builder) person() (object, float64) {
	r := b.r
	o := object{class: ClassPerson}
	s := r.uniform(0.85, 1.1)
	skin, hair := b.randMat(), b.randMat()
	shirt, pants := b.randMat(), b.randMat()
	sleeve := b.maybeSame(shirt, 0.6)
	shoe := b.randMat()
	lean := r.uniform(-0.08, 0.12)

	legU, legL := 0.44*s, 0.44*s
	hipY := legU + legL + 0.06*s // raised to the ground below
	pelvis := vec3{0, hipY, 0}
	chest := pelvis.add(bend(vec3{0, 0.48 * s, 0}, -lean))
	add := func(p prim, part, name uint8) {
		p.part, p.name = part, name
		o.prims = append(o.prims, p)
	}
	tr := r.uniform(0.12, 0.16) * s
	add(capsule(pelvis.add(vec3{0, 0.05 * s, 0}), chest, tr, shirt), partTorso, pnTorso)
	neckTop := chest.add(bend(vec3{0, 0.2 * s, 0}, -lean))
	add(capsule(chest, neckTop, 0.05*s, skin), partTorso, pnNeck)
	hr := r.uniform(0.1, 0.12) * s
	head := neckTop.add(vec3{0, hr * 0.8, 0})
	add(sphere(head, hr, skin), partHead, pnHead)
	if r.chance(0.85) {
		add(sphere(head.add(vec3{0, hr * 0.25, -hr * 0.2}), hr*0.95, hair), partHead, pnHair)
	}

	walk := r.uniform(-0.5, 0.5) // leg and arm swing, opposite phases
	for _, side := range [2]float64{1, -1} {
		left := side > 0
		// Arm.
		sh := chest.add(vec3{side * (tr + 0.05*s), -0.04 * s, 0})
		up := limbDir(-walk*side*0.8+r.uniform(-0.3, 0.3), r.uniform(0.08, 0.5), side)
		if r.chance(0.15) { // raised arm
			up = limbDir(r.uniform(1.5, 2.6), r.uniform(0.1, 0.6), side)
		}
		elbow := sh.add(up.scale(0.29 * s))
		lo := bend(up, r.uniform(0, 1.8))
		wrist := elbow.add(lo.scale(0.26 * s))
		nu, nl, nh := uint8(pnRUArm), uint8(pnRLArm), uint8(pnRHand)
		if left {
			nu, nl, nh = pnLUArm, pnLLArm, pnLHand
		}
		add(capsule(sh, elbow, 0.05*s, sleeve), partUpperArm, nu)
		add(capsule(elbow, wrist, 0.04*s, b.maybeSame(sleeve, 0.5)), partLowerArm, nl)
		add(sphere(wrist.add(lo.scale(0.05*s)), 0.048*s, skin), partLowerArm, nh)
		// Leg.
		hip := pelvis.add(vec3{side * 0.09 * s, 0, 0})
		th := limbDir(walk*side+r.uniform(-0.15, 0.15), r.uniform(0, 0.12), side)
		knee := hip.add(th.scale(legU))
		shin := bend(th, -r.uniform(0, 0.7))
		ankle := knee.add(shin.scale(legL))
		nu, nl, nf := uint8(pnRULeg), uint8(pnRLLeg), uint8(pnRFoot)
		if left {
			nu, nl, nf = pnLULeg, pnLLLeg, pnLFoot
		}
		add(capsule(hip, knee, 0.075*s, pants), partUpperLeg, nu)
		add(capsule(knee, ankle, 0.055*s, pants), partLowerLeg, nl)
		add(capsule(ankle.add(vec3{0, -0.02 * s, -0.03 * s}), ankle.add(vec3{0, -0.03 * s, 0.13 * s}), 0.04*s, shoe), partLowerLeg, nf)
	}
	// Stand on the floor: lift so that the lowest point is at y = 0.
	minY := math.Inf(1)
	for _, p := range o.prims {
		lo, _ := primBounds(&p)
		minY = math.Min(minY, lo.y)
	}
	for i := range o.prims {
		o.prims[i].a.y -= minY
		o.prims[i].b.y -= minY
	}
	return o, 0.35 * s
}

// lighting places the point light under the ceiling, clear of every object, and draws
// its colour, the ambient term, the exposure and the sensor noise.
func (b *builder) lighting() {
	r, s := b.r, b.s
	for try := 0; ; try++ {
		s.light = vec3{r.uniform(-s.w/2+0.4, s.w/2-0.4), s.h - r.uniform(0.08, 0.5), r.uniform(0.4, s.d-0.4)}
		clear := true
		for i := range s.objects {
			if s.objects[i].contains(s.light, 0.05) {
				clear = false
				break
			}
		}
		if clear {
			break
		}
		if try == 8 { // drop the objects in the way
			kept := s.objects[:0]
			for _, o := range s.objects {
				if !o.contains(s.light, 0.05) {
					kept = append(kept, o)
				}
			}
			s.objects = kept
			break
		}
	}
	power := r.uniform(2.5, 9)
	tint := hsvToLinear(r.float(), r.uniform(0, 0.3), 1)
	for k := range s.lightCol {
		s.lightCol[k] = power * tint[k]
	}
	amb := r.uniform(0.08, 0.35)
	at := hsvToLinear(r.float(), r.uniform(0, 0.25), 1)
	for k := range s.ambient {
		s.ambient[k] = amb * at[k]
	}
	s.exposure = r.uniform(0.8, 1.5)
	s.noise = r.uniform(0, 0.025)
}
