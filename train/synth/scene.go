package synth

import "math"

// Room size limits (metres); the far depth bound of every scene follows from them.
const (
	roomMinW, roomMaxW = 3.0, 6.0 // x extent
	roomMinD, roomMaxD = 3.5, 7.0 // z extent
	roomMinH, roomMaxH = 2.4, 3.2 // y extent
)

// DepthNear and DepthFar bound the z-depths (metres) a scene can contain: the camera is
// inside a room of at most roomMaxW × roomMaxD × roomMaxH, so no visible point is farther
// than the room's diagonal (9.76 m); nothing is placed closer than DepthNear.
const (
	DepthNear = 0.05
	DepthFar  = 10.0
)

// Room faces, in the order of their instance ids 1..6.
const (
	faceFloor = iota
	faceCeiling
	faceLeft  // x = −w/2
	faceRight // x = +w/2
	faceFront // z = 0, behind the camera
	faceBack  // z = d
	numFaces
)

// object is a rigid group of primitives: a piece of furniture, a wall fixture or a person.
type object struct {
	class    int
	inst     uint16
	pos      vec3    // local origin in the world
	cos, sin float64 // yaw: world = pos + (c·x + s·z, y, −s·x + c·z)
	prims    []prim
	lo, hi   vec3 // local bounds of prims
	camLocal vec3 // the camera centre in the local frame
	rect     [4]int
}

func (o *object) toLocal(p vec3) vec3 {
	d := p.sub(o.pos)
	return vec3{o.cos*d.x - o.sin*d.z, d.y, o.sin*d.x + o.cos*d.z}
}

func (o *object) dirToLocal(d vec3) vec3 {
	return vec3{o.cos*d.x - o.sin*d.z, d.y, o.sin*d.x + o.cos*d.z}
}

func (o *object) dirToWorld(d vec3) vec3 {
	return vec3{o.cos*d.x + o.sin*d.z, d.y, -o.sin*d.x + o.cos*d.z}
}

func (o *object) toWorld(p vec3) vec3 { return o.pos.add(o.dirToWorld(p)) }

// finish computes the local bounds.
func (o *object) finish() {
	o.lo = vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	o.hi = vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for i := range o.prims {
		lo, hi := primBounds(&o.prims[i])
		o.lo = vec3{math.Min(o.lo.x, lo.x), math.Min(o.lo.y, lo.y), math.Min(o.lo.z, lo.z)}
		o.hi = vec3{math.Max(o.hi.x, hi.x), math.Max(o.hi.y, hi.y), math.Max(o.hi.z, hi.z)}
	}
}

// contains reports whether world point p lies in the object's bounds grown by m.
func (o *object) contains(p vec3, m float64) bool {
	q := o.toLocal(p)
	return q.x > o.lo.x-m && q.x < o.hi.x+m && q.y > o.lo.y-m && q.y < o.hi.y+m && q.z > o.lo.z-m && q.z < o.hi.z+m
}

// camera is a pinhole camera: forward f, right r, up u (a right-handed frame with −f),
// and the tangents of the half fields of view.
type camera struct {
	pos, f, r, u vec3
	tanX, tanY   float64
}

// scene is everything one image is rendered from.
type scene struct {
	w, d, h   float64 // room extents: x ∈ [−w/2, w/2], y ∈ [0, h], z ∈ [0, d]
	faceMat   [numFaces]int
	objects   []object
	mats      []material
	cam       camera
	light     vec3
	lightCol  [3]float64
	ambient   [3]float64
	exposure  float64
	noise     float64
	salient   [NumClasses]bool
	instClass []uint8 // class of every instance id (0 unused)
	noCull    bool    // test every object at every pixel (tests: culling must not change the image)
}

// footprint is a placed object's disc on the floor, for overlap tests.
type footprint struct{ x, z, r float64 }

// builder holds the state of one scene's construction.
type builder struct {
	r     *rng
	s     *scene
	feet  []footprint
	spans [numFaces][][2]float64 // occupied intervals along each wall
}

func (b *builder) mat(m material) int {
	b.s.mats = append(b.s.mats, m)
	return len(b.s.mats) - 1
}

func (b *builder) randMat() int { return b.mat(randomMaterial(b.r)) }

// maybeSame returns m with probability p, else a new random material.
func (b *builder) maybeSame(m int, p float64) int {
	if b.r.chance(p) {
		return m
	}
	return b.randMat()
}

func box(x0, y0, z0, x1, y1, z1 float64, m int) prim {
	return prim{kind: primBox, a: vec3{x0, y0, z0}, b: vec3{x1, y1, z1}, mat: m}
}

func cyl(x, z, y0, y1, r float64, m int) prim {
	return prim{kind: primCylinder, a: vec3{x, y0, z}, b: vec3{x, y1, z}, r: r, mat: m}
}

func sphere(c vec3, r float64, m int) prim { return prim{kind: primSphere, a: c, r: r, mat: m} }

func capsule(a, c vec3, r float64, m int) prim {
	return prim{kind: primCapsule, a: a, b: c, r: r, mat: m}
}

// newScene builds scene index of a dataset: room, camera, light, fixtures, furniture and
// people, every choice drawn from r.
func newScene(r *rng, height, width int, salient []int) *scene {
	s := &scene{}
	b := &builder{r: r, s: s}
	s.w = r.uniform(roomMinW, roomMaxW)
	s.d = r.uniform(roomMinD, roomMaxD)
	s.h = r.uniform(roomMinH, roomMaxH)
	floorMat := b.randMat()
	wallMat := b.randMat()
	for f := range s.faceMat {
		switch {
		case f == faceFloor:
			s.faceMat[f] = floorMat
		case f == faceCeiling:
			s.faceMat[f] = b.randMat()
		default:
			s.faceMat[f] = b.maybeSame(wallMat, 0.7)
		}
	}
	for _, c := range salient {
		if c >= 0 && c < NumClasses {
			s.salient[c] = true
		}
	}
	s.instClass = []uint8{0, ClassFloor, ClassCeiling, ClassWall, ClassWall, ClassWall, ClassWall}

	b.camera(height, width)
	b.wallFixtures()
	b.furniture()
	b.people()
	b.lighting()
	for i := range s.objects {
		o := &s.objects[i]
		o.camLocal = o.toLocal(s.cam.pos)
		o.rect = screenRect(o, &s.cam, height, width)
	}
	return s
}

// camera places the camera near the front wall, looking into the room.
func (b *builder) camera(height, width int) {
	r, s := b.r, b.s
	c := &s.cam
	c.pos = vec3{r.uniform(-s.w/2+0.4, s.w/2-0.4), r.uniform(1.0, 1.8), r.uniform(0.25, 0.9)}
	// Look at a point in the far half of the room, so most views show the room rather
	// than a nearby wall.
	target := vec3{r.uniform(-s.w/2+0.3, s.w/2-0.3), r.uniform(0.3, 1.5), r.uniform(s.d*0.5, s.d)}
	c.f = target.sub(c.pos).norm()
	if c.f.y > -0.05 {
		c.f = vec3{c.f.x, -0.05, c.f.z}.norm()
	}
	roll := r.uniform(-3, 3) * math.Pi / 180
	right := c.f.cross(vec3{0, 1, 0}).norm()
	up := right.cross(c.f)
	cr, sr := math.Cos(roll), math.Sin(roll)
	c.r = right.scale(cr).add(up.scale(sr))
	c.u = up.scale(cr).sub(right.scale(sr))
	hfov := r.uniform(55, 72) * math.Pi / 180
	c.tanX = math.Tan(hfov / 2)
	c.tanY = c.tanX * float64(height) / float64(width)
}

// addObject places o (already built in its local frame) and gives it an instance id.
func (b *builder) addObject(o object) {
	o.finish()
	s := b.s
	if o.contains(s.cam.pos, 0.1) {
		return
	}
	o.inst = uint16(len(s.instClass))
	s.instClass = append(s.instClass, uint8(o.class))
	s.objects = append(s.objects, o)
}

// wallFrame returns the point at coordinate u along wall f and the yaw that turns local
// +z into the room from that wall.
func (b *builder) wallFrame(f int, u float64) (pos vec3, yaw float64) {
	s := b.s
	switch f {
	case faceLeft:
		return vec3{-s.w / 2, 0, u}, math.Pi / 2
	case faceRight:
		return vec3{s.w / 2, 0, u}, -math.Pi / 2
	default: // back
		return vec3{u, 0, s.d}, math.Pi
	}
}

// wallSpan returns the coordinate where wall f starts and its length.
func (b *builder) wallSpan(f int) (start, length float64) {
	if f == faceBack {
		return -b.s.w / 2, b.s.w
	}
	return 0, b.s.d
}

// claimWall finds a free interval of width wd on wall f, or ok = false.
func (b *builder) claimWall(f int, wd float64) (centre float64, ok bool) {
	start, length := b.wallSpan(f)
	if wd > length-0.3 {
		return 0, false
	}
	for try := 0; try < 8; try++ {
		c := start + b.r.uniform(0.15+wd/2, length-0.15-wd/2)
		free := true
		for _, sp := range b.spans[f] {
			if c+wd/2 > sp[0]-0.1 && c-wd/2 < sp[1]+0.1 {
				free = false
				break
			}
		}
		if free {
			b.spans[f] = append(b.spans[f], [2]float64{c - wd/2, c + wd/2})
			return c, true
		}
	}
	return 0, false
}

func placed(o object, pos vec3, yaw float64) object {
	o.pos, o.cos, o.sin = pos, math.Cos(yaw), math.Sin(yaw)
	return o
}

var walls = [3]int{faceLeft, faceRight, faceBack}

// wallFixtures adds doors, windows and pictures on the left, right and back walls.
func (b *builder) wallFixtures() {
	r := b.r
	for n := r.intn(3); n > 0; n-- {
		b.door()
	}
	for n := r.intn(3); n > 0; n-- {
		b.window()
	}
	for n := r.intn(4); n > 0; n-- {
		b.picture()
	}
}

func (b *builder) door() {
	r := b.r
	f := walls[r.intn(3)]
	w, h := r.uniform(0.75, 0.95), math.Min(r.uniform(1.95, 2.15), b.s.h-0.1)
	u, ok := b.claimWall(f, w+0.16)
	if !ok {
		return
	}
	leaf, frame := b.randMat(), b.randMat()
	dep := r.uniform(0.02, 0.05)
	o := object{class: ClassDoor}
	fw := 0.07
	o.prims = append(o.prims,
		box(-w/2, 0, 0, w/2, h, dep, leaf),
		box(-w/2-fw, 0, 0, -w/2, h+fw, dep+0.015, frame),
		box(w/2, 0, 0, w/2+fw, h+fw, dep+0.015, frame),
		box(-w/2, h, 0, w/2, h+fw, dep+0.015, frame))
	side := 1.0
	if r.chance(0.5) {
		side = -1
	}
	o.prims = append(o.prims, sphere(vec3{side * (w/2 - 0.08), r.uniform(0.95, 1.05), dep + 0.03}, 0.03, b.maybeSame(frame, 0.5)))
	pos, yaw := b.wallFrame(f, u)
	b.addObject(placed(o, pos, yaw))
}

func (b *builder) window() {
	r, s := b.r, b.s
	f := walls[r.intn(3)]
	w := r.uniform(0.7, 1.8)
	y0 := r.uniform(0.7, 1.1)
	y1 := math.Min(y0+r.uniform(0.7, 1.4), s.h-0.15)
	if y1-y0 < 0.4 {
		return
	}
	u, ok := b.claimWall(f, w+0.12)
	if !ok {
		return
	}
	pane := b.mat(emitterMaterial(r))
	frame := b.randMat()
	o := object{class: ClassWindow}
	fw, fd := r.uniform(0.04, 0.08), r.uniform(0.03, 0.06)
	o.prims = append(o.prims,
		box(-w/2, y0, 0, w/2, y1, 0.01, pane),
		box(-w/2-fw, y0-fw, 0, w/2+fw, y0, fd, frame),
		box(-w/2-fw, y1, 0, w/2+fw, y1+fw, fd, frame),
		box(-w/2-fw, y0, 0, -w/2, y1, fd, frame),
		box(w/2, y0, 0, w/2+fw, y1, fd, frame))
	if r.chance(0.6) {
		o.prims = append(o.prims, box(-fw/3, y0, 0, fw/3, y1, fd*0.8, frame))
	}
	if r.chance(0.4) {
		ym := (y0 + y1) / 2
		o.prims = append(o.prims, box(-w/2, ym-fw/3, 0, w/2, ym+fw/3, fd*0.8, frame))
	}
	pos, yaw := b.wallFrame(f, u)
	b.addObject(placed(o, pos, yaw))
}

func (b *builder) picture() {
	r, s := b.r, b.s
	f := walls[r.intn(3)]
	w, h := r.uniform(0.25, 1.1), r.uniform(0.2, 0.9)
	yc := math.Min(r.uniform(1.2, 1.8), s.h-h/2-0.1)
	u, ok := b.claimWall(f, w)
	if !ok {
		return
	}
	frame, canvas := b.randMat(), b.randMat()
	fd := r.uniform(0.015, 0.04)
	fw := r.uniform(0.02, 0.06)
	o := object{class: ClassPicture}
	o.prims = append(o.prims,
		box(-w/2, yc-h/2, 0, w/2, yc+h/2, fd, frame),
		box(-w/2+fw, yc-h/2+fw, 0, w/2-fw, yc+h/2-fw, fd+0.004, canvas))
	pos, yaw := b.wallFrame(f, u)
	b.addObject(placed(o, pos, yaw))
}

// Floor object kinds and their relative frequencies.
var furnitureKinds = []struct {
	class  int
	weight float64
}{
	{ClassTable, 1.2}, {ClassChair, 1.6}, {ClassSofa, 0.8}, {ClassBed, 0.4}, {ClassCabinet, 1.0},
	{ClassShelves, 0.8}, {ClassLamp, 0.7}, {ClassPlant, 1.0},
}

// furniture places 3–9 pieces of furniture on the floor and maybe a TV.
func (b *builder) furniture() {
	r := b.r
	n := 3 + r.intn(7)
	var total float64
	for _, k := range furnitureKinds {
		total += k.weight
	}
	var tops []vec3 // surfaces a TV can stand on: x, top y, z
	var topYaw []float64
	for i := 0; i < n; i++ {
		x := r.uniform(0, total)
		class := furnitureKinds[len(furnitureKinds)-1].class
		for _, k := range furnitureKinds {
			if x < k.weight {
				class = k.class
				break
			}
			x -= k.weight
		}
		var o object
		var hx, hz, top float64
		switch class {
		case ClassTable:
			o, hx, hz, top = b.table()
		case ClassChair:
			o, hx, hz = b.chair()
		case ClassSofa:
			o, hx, hz = b.sofa()
		case ClassBed:
			o, hx, hz = b.bed()
		case ClassCabinet:
			o, hx, hz, top = b.cabinet()
		case ClassShelves:
			o, hx, hz = b.shelves()
		case ClassLamp:
			o, hx, hz = b.lamp()
		default:
			o, hx, hz = b.plant()
		}
		againstWall := class == ClassCabinet || class == ClassShelves || class == ClassBed || class == ClassSofa
		pos, yaw, ok := b.placeFloor(hx, hz, againstWall && r.chance(0.75), 0.45)
		if !ok {
			continue
		}
		nb := len(b.s.objects)
		b.addObject(placed(o, pos, yaw))
		if top > 0 && top < 1.3 && len(b.s.objects) > nb {
			tops = append(tops, vec3{pos.x, top, pos.z})
			topYaw = append(topYaw, yaw)
		}
	}
	if len(tops) > 0 && r.chance(0.6) {
		k := r.intn(len(tops))
		b.tv(tops[k], topYaw[k]+r.uniform(-0.3, 0.3))
	} else if r.chance(0.25) {
		b.wallTV()
	}
}

// placeFloor finds a free spot for a footprint of half sizes hx × hz: against a wall
// (facing into the room) or anywhere with a random yaw.
func (b *builder) placeFloor(hx, hz float64, againstWall bool, camGap float64) (vec3, float64, bool) {
	r, s := b.r, b.s
	rad := math.Max(hx, hz)
	for try := 0; try < 12; try++ {
		var pos vec3
		var yaw float64
		if againstWall {
			f := walls[r.intn(3)]
			start, length := b.wallSpan(f)
			if 2*hx > length-0.2 {
				continue
			}
			u := start + r.uniform(hx+0.05, length-hx-0.05)
			wp, wy := b.wallFrame(f, u)
			in := vec3{math.Sin(wy), 0, math.Cos(wy)}
			pos, yaw = wp.add(in.scale(hz+0.02)), wy
		} else {
			pos = vec3{r.uniform(-s.w/2+rad, s.w/2-rad), 0, r.uniform(rad+0.3, s.d-rad)}
			yaw = r.uniform(-math.Pi, math.Pi)
		}
		if b.free(pos, rad*0.85, camGap) {
			b.feet = append(b.feet, footprint{pos.x, pos.z, rad * 0.85})
			return pos, yaw, true
		}
	}
	return vec3{}, 0, false
}

// free reports whether a disc at pos overlaps no placed footprint and keeps camGap clear
// of the camera.
func (b *builder) free(pos vec3, rad, camGap float64) bool {
	c := b.s.cam.pos
	if math.Hypot(pos.x-c.x, pos.z-c.z) < rad+camGap {
		return false
	}
	for _, f := range b.feet {
		if math.Hypot(pos.x-f.x, pos.z-f.z) < rad+f.r {
			return false
		}
	}
	return true
}

// legs adds four round or square legs inset from the corners of a hx × hz footprint.
func (b *builder) legs(o *object, hx, hz, inset, y1 float64, m int) {
	r := b.r
	if r.chance(0.5) {
		lr := r.uniform(0.018, 0.035)
		for _, sx := range [2]float64{-1, 1} {
			for _, sz := range [2]float64{-1, 1} {
				o.prims = append(o.prims, cyl(sx*(hx-inset), sz*(hz-inset), 0, y1, lr, m))
			}
		}
		return
	}
	lw := r.uniform(0.025, 0.05)
	for _, sx := range [2]float64{-1, 1} {
		for _, sz := range [2]float64{-1, 1} {
			x, z := sx*(hx-inset), sz*(hz-inset)
			o.prims = append(o.prims, box(x-lw/2, 0, z-lw/2, x+lw/2, y1, z+lw/2, m))
		}
	}
}

// The furniture builders return the object in its local frame (front towards +z, on
// y = 0), the half sizes of its footprint and, for surfaces a TV can stand on, the top height.
func (b *builder) table() (object, float64, float64, float64) {
	r := b.r
	o := object{class: ClassTable}
	top := b.randMat()
	leg := b.maybeSame(top, 0.5)
	h, th := r.uniform(0.68, 0.78), r.uniform(0.03, 0.06)
	if r.chance(0.3) { // round pedestal table
		rad := r.uniform(0.4, 0.65)
		o.prims = append(o.prims,
			cyl(0, 0, h-th, h, rad, top),
			cyl(0, 0, 0.03, h-th, r.uniform(0.04, 0.08), leg),
			cyl(0, 0, 0, 0.03, rad*r.uniform(0.4, 0.6), leg))
		return o, rad, rad, h
	}
	w := r.uniform(0.8, 1.6)
	d := r.uniform(0.6, math.Min(1.0, w))
	o.prims = append(o.prims, box(-w/2, h-th, -d/2, w/2, h, d/2, top))
	b.legs(&o, w/2, d/2, r.uniform(0.04, 0.1), h-th, leg)
	return o, w / 2, d / 2, h
}

func (b *builder) chair() (object, float64, float64) {
	r := b.r
	o := object{class: ClassChair}
	seat := b.randMat()
	frame := b.maybeSame(seat, 0.4)
	s := r.uniform(0.4, 0.5)
	sh, th := r.uniform(0.42, 0.48), r.uniform(0.03, 0.06)
	bh := r.uniform(0.35, 0.5)
	o.prims = append(o.prims, box(-s/2, sh-th, -s/2, s/2, sh, s/2, seat))
	b.legs(&o, s/2, s/2, 0.03, sh-th, frame)
	if r.chance(0.6) {
		o.prims = append(o.prims, box(-s/2, sh, -s/2, s/2, sh+bh, -s/2+r.uniform(0.02, 0.05), b.maybeSame(seat, 0.7)))
	} else { // two posts and a rail
		pw := 0.035
		o.prims = append(o.prims,
			box(-s/2, sh, -s/2, -s/2+pw, sh+bh, -s/2+pw, frame),
			box(s/2-pw, sh, -s/2, s/2, sh+bh, -s/2+pw, frame),
			box(-s/2, sh+bh-0.12, -s/2, s/2, sh+bh, -s/2+pw, b.maybeSame(seat, 0.6)))
	}
	if r.chance(0.25) {
		ah := sh + r.uniform(0.18, 0.25)
		for _, sx := range [2]float64{-1, 1} {
			o.prims = append(o.prims, box(sx*s/2-0.025, ah-0.03, -s/2, sx*s/2+0.025, ah, s/2, frame),
				box(sx*s/2-0.015, sh, s/2-0.04, sx*s/2+0.015, ah, s/2-0.01, frame))
		}
	}
	return o, s / 2, s / 2
}

func (b *builder) sofa() (object, float64, float64) {
	r := b.r
	o := object{class: ClassSofa}
	body := b.randMat()
	cush := b.maybeSame(body, 0.5)
	w, d := r.uniform(1.4, 2.2), r.uniform(0.8, 0.95)
	sh, bh := r.uniform(0.38, 0.45), r.uniform(0.75, 0.9)
	aw, ah := r.uniform(0.12, 0.22), r.uniform(0.55, 0.65)
	bd := r.uniform(0.15, 0.25)
	fh := r.uniform(0.04, 0.1)
	o.prims = append(o.prims,
		box(-w/2, fh, -d/2, w/2, bh, -d/2+bd, body),
		box(-w/2, fh, -d/2, -w/2+aw, ah, d/2, body),
		box(w/2-aw, fh, -d/2, w/2, ah, d/2, body),
		box(-w/2+aw, fh, -d/2+bd, w/2-aw, sh-0.12, d/2, body))
	n := 2 + r.intn(2)
	cw := (w - 2*aw) / float64(n)
	for i := 0; i < n; i++ {
		x0 := -w/2 + aw + float64(i)*cw
		o.prims = append(o.prims, box(x0+0.005, sh-0.12, -d/2+bd, x0+cw-0.005, sh, d/2-0.01, cush))
	}
	foot := b.randMat()
	for _, sx := range [2]float64{-1, 1} {
		for _, sz := range [2]float64{-1, 1} {
			o.prims = append(o.prims, cyl(sx*(w/2-0.06), sz*(d/2-0.06), 0, fh, 0.025, foot))
		}
	}
	return o, w / 2, d / 2
}

func (b *builder) bed() (object, float64, float64) {
	r := b.r
	o := object{class: ClassBed}
	frame, matt, head := b.randMat(), b.randMat(), b.randMat()
	w, l := r.uniform(1.0, 1.8), r.uniform(1.9, 2.1)
	fh, mh := r.uniform(0.25, 0.35), r.uniform(0.15, 0.25)
	hh := r.uniform(0.8, 1.1)
	o.prims = append(o.prims,
		box(-w/2, 0.06, -l/2, w/2, fh, l/2, frame),
		box(-w/2+0.02, fh, -l/2+0.05, w/2-0.02, fh+mh, l/2-0.02, matt),
		box(-w/2, 0, -l/2-0.06, w/2, hh, -l/2, head))
	b.legs(&o, w/2, l/2, 0.05, 0.06, frame)
	pillow := b.randMat()
	np := 1 + r.intn(2)
	pw := (w - 0.2) / float64(np)
	for i := 0; i < np; i++ {
		x0 := -w/2 + 0.1 + float64(i)*pw
		o.prims = append(o.prims, box(x0+0.03, fh+mh, -l/2+0.1, x0+pw-0.03, fh+mh+0.12, -l/2+0.45, pillow))
	}
	if r.chance(0.6) {
		o.prims = append(o.prims, box(-w/2, fh+0.05, -l/2+0.6, w/2, fh+mh+0.03, l/2, b.randMat()))
	}
	return o, w / 2, l/2 + 0.03
}

func (b *builder) cabinet() (object, float64, float64, float64) {
	r := b.r
	o := object{class: ClassCabinet}
	body := b.randMat()
	front := b.maybeSame(body, 0.5)
	handle := b.randMat()
	w, d, h := r.uniform(0.5, 1.4), r.uniform(0.35, 0.6), r.uniform(0.7, 2.0)
	pl := r.uniform(0, 0.08)
	o.prims = append(o.prims, box(-w/2, pl, -d/2, w/2, h, d/2, body))
	if pl > 0 {
		o.prims = append(o.prims, box(-w/2+0.03, 0, -d/2+0.03, w/2-0.03, pl, d/2-0.03, body))
	}
	n := 1 + r.intn(3)
	dw := w / float64(n)
	drawers := r.chance(0.4)
	for i := 0; i < n; i++ {
		if drawers {
			dh := (h - pl) / float64(n)
			y0 := pl + float64(i)*dh
			o.prims = append(o.prims, box(-w/2+0.01, y0+0.01, d/2, w/2-0.01, y0+dh-0.01, d/2+0.015, front),
				box(-0.08, y0+dh/2-0.012, d/2+0.015, 0.08, y0+dh/2+0.012, d/2+0.035, handle))
			continue
		}
		x0 := -w/2 + float64(i)*dw
		o.prims = append(o.prims, box(x0+0.01, pl+0.01, d/2, x0+dw-0.01, h-0.01, d/2+0.015, front))
		hx := x0 + dw - 0.06
		if i%2 == 1 {
			hx = x0 + 0.06
		}
		yc := pl + (h-pl)*r.uniform(0.4, 0.6)
		o.prims = append(o.prims, box(hx-0.012, yc-0.07, d/2+0.015, hx+0.012, yc+0.07, d/2+0.035, handle))
	}
	return o, w / 2, d/2 + 0.035, h
}

func (b *builder) shelves() (object, float64, float64) {
	r := b.r
	o := object{class: ClassShelves}
	wood := b.randMat()
	w, d, h := r.uniform(0.6, 1.2), r.uniform(0.25, 0.4), r.uniform(0.9, 2.0)
	t := r.uniform(0.02, 0.035)
	o.prims = append(o.prims,
		box(-w/2, 0, -d/2, -w/2+t, h, d/2, wood),
		box(w/2-t, 0, -d/2, w/2, h, d/2, wood),
		box(-w/2, h-t, -d/2, w/2, h, d/2, wood),
		box(-w/2, 0, -d/2, w/2, 0.05+t, d/2, wood))
	if r.chance(0.7) {
		o.prims = append(o.prims, box(-w/2, 0, -d/2, w/2, h, -d/2+0.01, b.maybeSame(wood, 0.5)))
	}
	n := 2 + r.intn(4)
	gap := (h - 0.05 - t) / float64(n)
	for i := 1; i < n; i++ {
		y := 0.05 + float64(i)*gap
		o.prims = append(o.prims, box(-w/2, y, -d/2, w/2, y+t, d/2, wood))
	}
	// Books and boxes on the boards, part of the shelves.
	for i := 0; i < n; i++ {
		y := 0.05 + t + float64(i)*gap
		x := -w/2 + t + r.uniform(0, 0.1)
		for x < w/2-t-0.05 && len(o.prims) < 60 {
			bw := r.uniform(0.02, 0.08)
			if x+bw > w/2-t {
				break
			}
			if r.chance(0.75) {
				bh := math.Min(gap-t-0.02, r.uniform(0.12, 0.3))
				o.prims = append(o.prims, box(x, y, -d/2+0.02, x+bw, y+bh, -d/2+0.02+r.uniform(0.12, d-0.04), b.randMat()))
			}
			x += bw + r.uniform(0, 0.04)
		}
	}
	return o, w / 2, d / 2
}

func (b *builder) lamp() (object, float64, float64) {
	r := b.r
	o := object{class: ClassLamp}
	metal := b.randMat()
	br := r.uniform(0.1, 0.18)
	ph := r.uniform(1.2, 1.7)
	sr := r.uniform(0.14, 0.25)
	shade := b.randMat()
	if r.chance(0.6) {
		shade = b.mat(emitterMaterial(r))
	}
	o.prims = append(o.prims,
		cyl(0, 0, 0, 0.03, br, metal),
		cyl(0, 0, 0.03, ph, r.uniform(0.012, 0.02), metal),
		cyl(0, 0, ph-0.08, ph+r.uniform(0.18, 0.3), sr, shade))
	return o, math.Max(br, sr), math.Max(br, sr)
}

func (b *builder) plant() (object, float64, float64) {
	r := b.r
	o := object{class: ClassPlant}
	pot, leaf := b.randMat(), b.randMat()
	pr, ph := r.uniform(0.1, 0.2), r.uniform(0.15, 0.4)
	o.prims = append(o.prims, cyl(0, 0, 0, ph, pr, pot), cyl(0, 0, ph-0.03, ph, pr*1.1, b.maybeSame(pot, 0.6)))
	stem := r.uniform(0.05, 0.6)
	o.prims = append(o.prims, cyl(0, 0, ph, ph+stem, r.uniform(0.01, 0.025), b.maybeSame(leaf, 0.3)))
	n := 3 + r.intn(5)
	spread := r.uniform(0.1, 0.3)
	for i := 0; i < n; i++ {
		c := vec3{r.uniform(-spread, spread), ph + stem + r.uniform(-0.05, 0.35), r.uniform(-spread, spread)}
		o.prims = append(o.prims, sphere(c, r.uniform(0.08, 0.22), b.maybeSame(leaf, 0.85)))
	}
	ext := math.Max(pr*1.1, spread+0.22)
	return o, ext, ext
}

// tv stands a screen on a small stand at at (x, furniture top, z).
func (b *builder) tv(at vec3, yaw float64) {
	o := b.tvBody(0.02)
	stand := b.randMat()
	o.prims = append(o.prims,
		box(-0.15, 0, -0.1, 0.15, 0.02, 0.1, stand),
		box(-0.03, 0.02, -0.03, 0.03, 0.1, 0.0, stand))
	b.addObject(placed(o, at, yaw))
}

// wallTV hangs a screen on a wall.
func (b *builder) wallTV() {
	r := b.r
	f := walls[r.intn(3)]
	u, ok := b.claimWall(f, 1.2)
	if !ok {
		return
	}
	o := b.tvBody(r.uniform(1.0, 1.4) - 0.1)
	pos, yaw := b.wallFrame(f, u)
	// tvBody centres the screen on z = 0; push it off the wall.
	for i := range o.prims {
		o.prims[i].a.z += 0.06
		o.prims[i].b.z += 0.06
	}
	b.addObject(placed(o, pos, yaw))
}

// tvBody builds a screen whose bottom edge is at y0 + 0.08, facing +z.
func (b *builder) tvBody(y0 float64) object {
	r := b.r
	o := object{class: ClassTVMonitor}
	w := r.uniform(0.5, 1.2)
	h := w * r.uniform(0.55, 0.62)
	d := r.uniform(0.03, 0.07)
	frame := b.randMat()
	var screen int
	if r.chance(0.5) {
		screen = b.mat(emitterMaterial(r))
	} else {
		m := randomMaterial(r)
		m.pattern = patSolid
		screen = b.mat(m)
	}
	yb := y0 + 0.08
	bz := r.uniform(0.01, 0.04)
	o.prims = append(o.prims,
		box(-w/2, yb, -d/2, w/2, yb+h, d/2, frame),
		box(-w/2+bz, yb+bz, d/2, w/2-bz, yb+h-bz, d/2+0.004, screen))
	return o
}
