package cpu

// deformLinearBackward is the backward of OpDeformLinear: the sampled map is recomputed into
// a scratch, the Linear's backward runs on it, and the sampled map's gradient flows on to the
// input and the offsets through the deformable sampling's backward.
type deformLinearBackward struct {
	sample  *deformSample
	lin     *linearBackward
	dsample *deformSampleBackward
	ds      []float32 // gradient of the sampled map
}

func (d *deformLinearBackward) run(p *pool) {
	d.sample.run(p)
	clear(d.ds)
	d.lin.run(p)
	d.dsample.run(p)
}
