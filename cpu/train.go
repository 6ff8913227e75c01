package cpu

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"

	"github.com/demt-web/demt/model"
)

// TrainerOptions configure a Trainer.
type TrainerOptions struct {
	// Images is the batch size N: one image per (emulated) device of the official run.
	Images int
	// Threads is the number of worker goroutines (0 = GOMAXPROCS), shared by every image.
	Threads int
	// DropPath is the Swin stochastic-depth rate (official 0.1; the fixtures 0): block k of
	// the K Swin blocks drops each residual branch with probability DropPath·k/(K−1), one draw
	// per image and branch, kept branches scaled by 1/(1−p).
	DropPath float64
	// Seed seeds the DropPath draws.
	Seed uint64
	// Frozen, if set, reports the checkpoint parameters that are not trained: they get no
	// gradient, are not in Params, and the backward skips every op only they reach.
	Frozen func(param string) bool
}

// TrainParam is one trainable checkpoint parameter: its values (the checkpoint's own slice,
// updated in place by an optimiser) and the gradient of the objective, summed over the batch.
type TrainParam struct {
	Name  string
	Value []float32
	Grad  []float32
}

// Trainer runs the canonical plan in train mode on a batch of N images as the official N-GPU
// run does: every image has its own activations and attention, BatchNorm normalises with the
// statistics of the whole batch (SyncBatchNorm) and updates the running statistics once, the
// weights are shared. Backward follows a static schedule derived from the plan: the ops in
// reverse order, every kernel prepared once, gradient buffers preallocated (tensors whose
// gradients are never live at the same time share memory), parameter gradients summed over
// the images. A step allocates nothing.
type Trainer struct {
	plan   *model.Plan
	pool   *pool
	n      int
	execs  []*Executor
	refr   []*WeightRefresher
	bnFwd  map[int]*batchNormTrain // by op index
	fwd    [][]kernel              // [image][op]: the forward kernel (BatchNorm ops: nil)
	bwd    [][]kernel              // [image][op]: backward kernel (nil: nothing to do)
	bnBwd  map[int]*batchNormBackward
	clears [][][]float32  // [op]: gradient buffers (all images) to zero before op's backward
	outG   [][][]float32  // [image][output]: gradient of each plan output
	grads  [][][]float32  // [image][tensor]: gradient buffer (nil: none)
	params []TrainParam   // in the order the plan first reads them
	drops  []*dropPathAdd // DropPath residual adds (rate > 0)
	rng    *rand.Rand
	pcg    *rand.PCG
	skip   []bool // op without a backward (its output needs no gradient)
	gbytes int64
}

// NewTrainer prepares a trainer for plan p, a canonical plan (model.Build, not Optimize) whose
// constants share the checkpoint w's data: parameters are updated in place in w, the
// BatchNorm running statistics and num_batches_tracked of w are updated by every Forward.
func NewTrainer(p *model.Plan, w *model.Weights, opt TrainerOptions) (*Trainer, error) {
	if opt.Images <= 0 {
		return nil, fmt.Errorf("trainer: %d images", opt.Images)
	}
	if !(opt.DropPath >= 0 && opt.DropPath < 1) {
		return nil, fmt.Errorf("trainer: drop-path rate %v not in [0, 1)", opt.DropPath)
	}
	t := &Trainer{plan: p, pool: newPool(opt.Threads), n: opt.Images, bnFwd: map[int]*batchNormTrain{},
		bnBwd: map[int]*batchNormBackward{}, pcg: rand.NewPCG(opt.Seed, 0x5eed)}
	t.rng = rand.New(t.pcg)
	if err := t.build(w, opt); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Close stops the worker goroutines.
func (t *Trainer) Close() { t.pool.stop() }

// Plan returns the plan the trainer runs.
func (t *Trainer) Plan() *model.Plan { return t.plan }

// Images returns the batch size.
func (t *Trainer) Images() int { return t.n }

// Params returns the trainable parameters (values shared with the checkpoint).
func (t *Trainer) Params() []TrainParam { return t.params }

// Output returns image img's plan output k (channels-last logits) after Forward.
func (t *Trainer) Output(img, k int) []float32 {
	return t.execs[img].bufs[t.plan.Outputs[k].Tensor]
}

// OutputGrad returns the buffer for d objective / d output k of image img, to be filled
// (overwritten) before Backward.
func (t *Trainer) OutputGrad(img, k int) []float32 { return t.outG[img][k] }

// Tensor returns image img's activation id after Forward (every tensor is kept).
func (t *Trainer) Tensor(img, id int) []float32 { return t.execs[img].bufs[id] }

// Bytes returns the activation and gradient memory (all images).
func (t *Trainer) Bytes() int64 {
	n := t.gbytes
	for _, e := range t.execs {
		n += e.bytes
	}
	return n
}

var (
	swinBlock    = regexp.MustCompile(`^backbone\.stages\.(\d+)\.blocks\.(\d+)(\.attn_residual)?$`)
	trainedField = func(op *model.Op) []string {
		return []string{op.Weight, op.Bias, op.Scale, op.Shift, op.Table, op.QKVWeight, op.QKVBias}
	}
)

func (t *Trainer) build(w *model.Weights, opt TrainerOptions) error {
	p := t.plan
	for i := range p.Ops {
		if p.Ops[i].Kind == model.OpDeformLinear {
			return fmt.Errorf("trainer: op #%d %s is fused (train the canonical plan of model.Build)", i, p.Ops[i].Name)
		}
	}
	for i := 0; i < t.n; i++ {
		e, err := newExecutor(p, Options{KeepAll: true}, t.pool)
		if err != nil {
			return fmt.Errorf("trainer: %w", err)
		}
		t.execs = append(t.execs, e)
		t.refr = append(t.refr, NewWeightRefresher(e))
		t.fwd = append(t.fwd, slices.Clone(e.kernels)) // BatchNorm and DropPath entries are replaced below
	}

	// Parameters: every checkpoint tensor an op reads as a weight, bias, scale, shift or table
	// (not the BatchNorm running statistics, not derived constants).
	paramGrad := map[string][]float32{}
	constGrad := map[string][]float32{}
	for i := range p.Ops {
		for _, name := range trainedField(&p.Ops[i]) {
			c := p.Consts[name]
			if name == "" || c == nil || c.Derived || constGrad[name] != nil || opt.Frozen != nil && opt.Frozen(c.Param) {
				continue
			}
			wt := w.Get(c.Param)
			if wt == nil || wt.F32 == nil {
				return fmt.Errorf("trainer: constant %s: checkpoint has no float tensor %s", name, c.Param)
			}
			g, ok := paramGrad[c.Param]
			if !ok {
				g = make([]float32, len(wt.F32))
				paramGrad[c.Param] = g
				t.params = append(t.params, TrainParam{Name: c.Param, Value: wt.F32, Grad: g})
			}
			if c.Rows[1] > 0 {
				cols := len(wt.F32) / wt.Shape[0]
				constGrad[name] = g[c.Rows[0]*cols : c.Rows[1]*cols]
			} else {
				constGrad[name] = g
			}
		}
	}

	// Which tensors need a gradient: those that depend on a trained parameter (forward) and
	// reach a plan output (backward). An op whose output needs none has no backward.
	depends := make([]bool, len(p.Tensors))
	for i := range p.Ops {
		op := &p.Ops[i]
		d := false
		for _, name := range trainedField(op) {
			d = d || constGrad[name] != nil
		}
		for _, id := range op.Inputs {
			d = d || depends[id]
		}
		if r, ok := op.Residual.Get(); ok {
			d = d || depends[r]
		}
		depends[op.Output] = d
	}
	reaches := make([]bool, len(p.Tensors))
	for _, o := range p.Outputs {
		reaches[o.Tensor] = depends[o.Tensor]
	}
	t.skip = make([]bool, len(p.Ops))
	for i := len(p.Ops) - 1; i >= 0; i-- {
		op := &p.Ops[i]
		if !reaches[op.Output] {
			t.skip[i] = true
			continue
		}
		for _, id := range op.Inputs {
			reaches[id] = reaches[id] || depends[id]
		}
		if r, ok := op.Residual.Get(); ok {
			reaches[r] = reaches[r] || depends[r]
		}
	}
	reaches[p.Input] = false // no gradient for the image

	// Gradient memory: the gradient of tensor x lives from the backward of its last reader to
	// the backward of its producer; slots are shared greedily as in model.PlanMemory.
	slot := make([]int, len(p.Tensors))
	for i := range slot {
		slot[i] = -1
	}
	var sizes []int
	var free []int
	take := func(id int) {
		if slot[id] >= 0 || !reaches[id] {
			return
		}
		need := p.Tensors[id].Shape.Numel()
		best := -1
		for j, s := range free {
			if sizes[s] >= need && sizes[s] <= 2*need+1024 && (best < 0 || sizes[s] < sizes[free[best]]) {
				best = j
			}
		}
		if best >= 0 {
			slot[id] = free[best]
			free = append(free[:best], free[best+1:]...)
		} else {
			slot[id] = len(sizes)
			sizes = append(sizes, need)
		}
	}
	clearAt := make([][]int, len(p.Ops)) // tensors whose gradient starts at op i's backward
	var outIDs []int
	for _, o := range p.Outputs {
		take(o.Tensor)
		outIDs = append(outIDs, o.Tensor)
	}
	for i := len(p.Ops) - 1; i >= 0; i-- {
		if t.skip[i] {
			continue
		}
		op := &p.Ops[i]
		reads := append([]int(nil), op.Inputs...)
		if r, ok := op.Residual.Get(); ok {
			reads = append(reads, r)
		}
		for _, id := range reads {
			if reaches[id] && slot[id] < 0 {
				take(id)
				clearAt[i] = append(clearAt[i], id)
			}
		}
		if slot[op.Output] >= 0 {
			free = append(free, slot[op.Output]) // the producer is the gradient's last user
		}
	}
	t.grads = make([][][]float32, t.n)
	t.outG = make([][][]float32, t.n)
	for img := 0; img < t.n; img++ {
		slabs := make([][]float32, len(sizes))
		for s, n := range sizes {
			slabs[s] = make([]float32, n)
			t.gbytes += int64(n) * 4
		}
		t.grads[img] = make([][]float32, len(p.Tensors))
		for id, s := range slot {
			if s >= 0 {
				t.grads[img][id] = slabs[s][:p.Tensors[id].Shape.Numel()]
			}
		}
		for _, id := range outIDs {
			t.outG[img] = append(t.outG[img], t.grads[img][id])
		}
	}
	t.clears = make([][][]float32, len(p.Ops))
	for i, ids := range clearAt {
		for img := 0; img < t.n; img++ {
			for _, id := range ids {
				t.clears[i] = append(t.clears[i], t.grads[img][id])
			}
		}
	}

	// Scratch for the Conv2D/Linear backward (one pair, the kernels run one at a time).
	maxOut := 0
	for i := range p.Ops {
		maxOut = max(maxOut, p.Tensors[p.Ops[i].Output].Shape.Numel())
	}
	z, dz := make([]float32, maxOut), make([]float32, maxOut)
	t.gbytes += int64(2*maxOut) * 4

	// Tracked-batch counters of the BatchNorm modules.
	tracked := func(op *model.Op) *int64 {
		prefix := strings.TrimSuffix(p.Consts[op.Mean].Param, ".running_mean")
		if nt := w.Get(prefix + ".num_batches_tracked"); nt != nil && len(nt.I64) == 1 {
			return &nt.I64[0]
		}
		return nil
	}

	// DropPath: the Swin residual adds, block k of K with rate opt.DropPath·k/(K−1).
	dropRate := map[int]float64{}
	if opt.DropPath > 0 {
		var blocks []int // op indices of the adds, in block order (two per block)
		for i := range p.Ops {
			if p.Ops[i].Kind == model.OpAdd && swinBlock.MatchString(p.Ops[i].Name) {
				blocks = append(blocks, i)
			}
		}
		nb := 0
		for _, d := range p.Config.Backbone.Depths {
			nb += d
		}
		if len(blocks) != 2*nb {
			return fmt.Errorf("trainer: drop path: found %d Swin residual adds for %d blocks", len(blocks), nb)
		}
		rates := DropPathRates(opt.DropPath, nb)
		for j, i := range blocks {
			dropRate[i] = rates[j/2]
		}
	}

	t.bwd = make([][]kernel, t.n)
	for img := range t.bwd {
		t.bwd[img] = make([]kernel, len(p.Ops))
	}
	for i := range p.Ops {
		op := &p.Ops[i]
		if op.Kind == model.OpBatchNorm {
			c := p.Tensors[op.Output].Shape.C
			var xs, ys, dys, dxs [][]float32
			for img, e := range t.execs {
				xs = append(xs, e.bufs[op.Inputs[0]])
				ys = append(ys, e.bufs[op.Output])
				dys = append(dys, t.grads[img][op.Output])
				dxs = append(dxs, t.grads[img][op.Inputs[0]])
			}
			cd := func(name string) []float32 { return p.Consts[name].Data }
			f := newBatchNormTrain(xs, ys, cd(op.Weight), cd(op.Bias), cd(op.Mean), cd(op.Var), tracked(op), c, 0.1, float64(op.Eps), t.pool.n)
			t.bnFwd[i] = f
			for img := range t.fwd {
				t.fwd[img][i] = nil
			}
			if !t.skip[i] {
				if !reaches[op.Inputs[0]] {
					dxs = nil
				}
				t.bnBwd[i] = newBatchNormBackward(f, dys, dxs, constGrad[op.Weight], constGrad[op.Bias])
			}
			continue
		}
		if rate, ok := dropRate[i]; ok {
			branch := 0 // the block's FFN: Add(fc2, x)
			if strings.HasSuffix(op.Name, ".attn_residual") {
				branch = 1 // Add(x, attn)
			}
			for img, e := range t.execs {
				d := &dropPathAdd{rate: rate, y: e.bufs[op.Output], branch: e.bufs[op.Inputs[branch]], res: e.bufs[op.Inputs[1-branch]],
					dy: t.grads[img][op.Output], dbranch: t.grads[img][op.Inputs[branch]], dres: t.grads[img][op.Inputs[1-branch]], scale: 1}
				t.drops = append(t.drops, d)
				t.fwd[img][i] = d
				if !t.skip[i] {
					t.bwd[img][i] = &dropPathAddBackward{d}
				}
			}
			continue
		}
		if t.skip[i] {
			continue
		}
		for img, e := range t.execs {
			g := opGrads{dy: t.grads[img][op.Output], consts: constGrad, z: z, dz: dz}
			for _, id := range op.Inputs {
				g.dx = append(g.dx, t.grads[img][id])
			}
			if r, ok := op.Residual.Get(); ok {
				g.dres = t.grads[img][r]
			}
			k, err := e.prepareBackward(op, g)
			if err != nil {
				return fmt.Errorf("trainer: backward of op #%d %s %s: %w", i, op.Kind, op.Name, err)
			}
			t.bwd[img][i] = k
		}
	}
	return nil
}

// Forward runs the train-mode forward of the batch: inputs[i] is image i, normalised,
// [H, W, 3] channels-last. BatchNorm uses batch statistics and updates the running
// statistics; DropPath (if on) draws new masks.
func (t *Trainer) Forward(inputs [][]float32) error {
	if len(inputs) != t.n {
		return fmt.Errorf("trainer: %d images, want %d", len(inputs), t.n)
	}
	for i, e := range t.execs {
		in := e.bufs[t.plan.Input]
		if len(inputs[i]) != len(in) {
			return fmt.Errorf("trainer: image %d has %d values, the plan wants %d (%s)", i, len(inputs[i]), len(in), t.plan.Tensors[t.plan.Input].Shape)
		}
		copy(in, inputs[i])
	}
	t.drawDropPath()
	t.forward()
	return nil
}

// drawDropPath draws the DropPath masks of a step: per image and residual branch, dropped
// with the block's rate, kept branches scaled by 1/(1−rate).
func (t *Trainer) drawDropPath() {
	for _, d := range t.drops {
		d.scale = 1
		if d.rate > 0 {
			d.scale = 0
			if t.rng.Float64() >= d.rate {
				d.scale = float32(1 / (1 - d.rate))
			}
		}
	}
}

// forward runs the ops with the current masks.
func (t *Trainer) forward() {
	for i := range t.plan.Ops {
		if f := t.bnFwd[i]; f != nil {
			f.run(t.pool)
			continue
		}
		for img := range t.fwd {
			t.fwd[img][i].run(t.pool)
		}
	}
}

// ZeroGrad clears the parameter gradients (Backward adds to them).
func (t *Trainer) ZeroGrad() {
	for _, p := range t.params {
		clear(p.Grad)
	}
}

// Backward propagates the output gradients (OutputGrad, filled by the caller) back through
// the plan and adds d objective / d parameter, summed over the images, to Params' Grad.
// It needs the activations of the last Forward.
func (t *Trainer) Backward() {
	for i := len(t.plan.Ops) - 1; i >= 0; i-- {
		for _, g := range t.clears[i] {
			clear(g)
		}
		if b := t.bnBwd[i]; b != nil {
			b.run(t.pool)
			continue
		}
		for img := range t.bwd {
			if k := t.bwd[img][i]; k != nil {
				k.run(t.pool)
			}
		}
	}
}

// Refresh re-packs the kernels' weights after the parameters changed (an optimiser step).
func (t *Trainer) Refresh() {
	for _, r := range t.refr {
		r.Refresh()
	}
}

// dropPathAdd is a Swin residual add with DropPath on its branch: y = res + scale·branch
// (scale 0 for a dropped path, 1/(1−rate) for a kept one).
type dropPathAdd struct {
	rate              float64
	scale             float32
	y, branch, res    []float32
	dy, dbranch, dres []float32
}

func (d *dropPathAdd) run(p *pool) { p.run(len(d.y), 4096, d) }

func (d *dropPathAdd) chunk(_, lo, hi int) {
	s := d.scale
	for i := lo; i < hi; i++ {
		d.y[i] = d.res[i] + s*d.branch[i]
	}
}

type dropPathAddBackward struct{ d *dropPathAdd }

func (b *dropPathAddBackward) run(p *pool) { p.run(len(b.d.y), 4096, b) }

func (b *dropPathAddBackward) chunk(_, lo, hi int) {
	d := b.d
	s := d.scale
	for i := lo; i < hi; i++ {
		g := d.dy[i]
		if d.dres != nil {
			d.dres[i] += g
		}
		if d.dbranch != nil {
			d.dbranch[i] += s * g
		}
	}
}

// DropPathRates returns the per-block rates linspace(0, rate, blocks) of the official Swin
// (for documentation and tests).
func DropPathRates(rate float64, blocks int) []float64 {
	r := make([]float64, blocks)
	for k := range r {
		if blocks > 1 {
			r[k] = rate * float64(k) / float64(blocks-1)
		}
	}
	return r
}

// SeedDropPath restarts the DropPath random stream (e.g. from the run seed and the step, so
// a resumed run draws what an uninterrupted one would).
func (t *Trainer) SeedDropPath(seed, stream uint64) { t.pcg.Seed(seed, stream) }
