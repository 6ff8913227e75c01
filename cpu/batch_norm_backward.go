package cpu

import "math"

// batchNormTrain is BatchNorm in train mode (torch BatchNorm2d / SyncBatchNorm over the whole
// batch): per channel, the mean and biased variance over every pixel of every image,
// y = (x − mean)/√(var + eps)·γ + β, and the running statistics updated with
// running ← (1 − momentum)·running + momentum·stat, the variance unbiased (·n/(n−1)).
// The images of the batch are separate channels-last slices (xs[i], ys[i], each pixels×c).
// Sums are in float64 over a fixed split of the rows (deterministic). The eval-mode BatchNorm
// is an affine with the running statistics and is not here.
type batchNormTrain struct {
	xs, ys          [][]float32
	gamma, beta     []float32
	runMean, runVar []float32 // updated in place by run
	tracked         *int64    // num_batches_tracked, incremented by run (may be nil)
	momentum, eps   float64
	c               int
	mean, rstd      []float64 // of the last run, for the backward
	rows            []int     // rows per image
	total           int
	part            [][]float64 // per chunk: 2·c sums
	stage           int
	backward        *batchNormBackward // set while a backward runs
}

func newBatchNormTrain(xs, ys [][]float32, gamma, beta, runMean, runVar []float32, tracked *int64, c int, momentum, eps float64, threads int) *batchNormTrain {
	b := &batchNormTrain{xs: xs, ys: ys, gamma: gamma, beta: beta, runMean: runMean, runVar: runVar, tracked: tracked,
		momentum: momentum, eps: eps, c: c, mean: make([]float64, c), rstd: make([]float64, c)}
	for _, x := range xs {
		b.rows = append(b.rows, len(x)/c)
		b.total += len(x) / c
	}
	for i := 0; i < threads; i++ {
		b.part = append(b.part, make([]float64, 2*c))
	}
	return b
}

// forRows calls fn(image, r0, r1) for the rows [lo, hi) of the batch (in batch order).
func (b *batchNormTrain) forRows(lo, hi int, fn func(img, r0, r1 int)) {
	base := 0
	for img, n := range b.rows {
		r0, r1 := max(lo, base), min(hi, base+n)
		if r0 < r1 {
			fn(img, r0-base, r1-base)
		}
		base += n
	}
}

func (b *batchNormTrain) run(p *pool) {
	c, n := b.c, float64(b.total)
	b.sums(p, 0)
	for j := 0; j < c; j++ {
		var s float64
		for _, q := range b.part {
			s += q[j]
		}
		b.mean[j] = s / n
	}
	b.sums(p, 1)
	for j := 0; j < c; j++ {
		var ss float64
		for _, q := range b.part {
			ss += q[c+j]
		}
		v := ss / n
		b.rstd[j] = 1 / math.Sqrt(v+b.eps)
		m := b.momentum
		b.runMean[j] = float32((1-m)*float64(b.runMean[j]) + m*b.mean[j])
		unbiased := v
		if b.total > 1 {
			unbiased = v * n / (n - 1)
		}
		b.runVar[j] = float32((1-m)*float64(b.runVar[j]) + m*unbiased)
	}
	if b.tracked != nil {
		*b.tracked++
	}
	b.stage = 2
	p.run(len(b.part), 1, b)
}

// sums runs stage 0 (Σx) or 1 (Σ(x − mean)²) into the chunk accumulators.
func (b *batchNormTrain) sums(p *pool, stage int) {
	for _, q := range b.part {
		clear(q)
	}
	b.stage = stage
	p.run(len(b.part), 1, b)
}

func (b *batchNormTrain) chunk(_, lo, hi int) {
	c, parts := b.c, len(b.part)
	for part := lo; part < hi; part++ {
		q := b.part[part]
		b.forRows(part*b.total/parts, (part+1)*b.total/parts, func(img, r0, r1 int) {
			x := b.xs[img]
			switch b.stage {
			case 0:
				for r := r0; r < r1; r++ {
					for j, v := range x[r*c : (r+1)*c] {
						q[j] += float64(v)
					}
				}
			case 1:
				for r := r0; r < r1; r++ {
					for j, v := range x[r*c : (r+1)*c] {
						d := float64(v) - b.mean[j]
						q[c+j] += d * d
					}
				}
			case 2:
				y := b.ys[img]
				for r := r0; r < r1; r++ {
					for j, v := range x[r*c : (r+1)*c] {
						y[r*c+j] = float32((float64(v)-b.mean[j])*b.rstd[j])*b.gamma[j] + b.beta[j]
					}
				}
			case 3, 4:
				b.backward.rows(img, r0, r1, q, b.stage)
			}
		})
	}
}

// batchNormBackward is the backward of batchNormTrain (batch statistics are functions of x):
// with x̂ = (x − mean)·rstd, dβ = Σ dy, dγ = Σ dy·x̂,
// dx += γ·rstd·(dy − dβ/n − x̂·dγ/n), all sums over the whole batch.
type batchNormBackward struct {
	fwd           *batchNormTrain
	dys, dxs      [][]float32
	dgamma, dbeta []float32
	sb, sg        []float64 // Σ dy, Σ dy·x̂ of the current run
}

func newBatchNormBackward(fwd *batchNormTrain, dys, dxs [][]float32, dgamma, dbeta []float32) *batchNormBackward {
	return &batchNormBackward{fwd: fwd, dys: dys, dxs: dxs, dgamma: dgamma, dbeta: dbeta,
		sb: make([]float64, fwd.c), sg: make([]float64, fwd.c)}
}

func (k *batchNormBackward) run(p *pool) {
	f := k.fwd
	c := f.c
	f.backward = k
	f.sums(p, 3)
	for j := 0; j < c; j++ {
		var sb, sg float64
		for _, q := range f.part {
			sb += q[j]
			sg += q[c+j]
		}
		k.sb[j], k.sg[j] = sb, sg
		if k.dbeta != nil {
			k.dbeta[j] += float32(sb)
		}
		if k.dgamma != nil {
			k.dgamma[j] += float32(sg)
		}
	}
	if k.dxs != nil {
		f.stage = 4
		p.run(len(f.part), 1, f)
	}
	f.backward = nil
}

// rows is stage 3 (the sums) or 4 (dx) of the backward on rows [r0, r1) of image img.
func (k *batchNormBackward) rows(img, r0, r1 int, q []float64, stage int) {
	f := k.fwd
	c := f.c
	x, dy := f.xs[img], k.dys[img]
	if stage == 3 {
		for r := r0; r < r1; r++ {
			for j, g := range dy[r*c : (r+1)*c] {
				q[j] += float64(g)
				q[c+j] += float64(g) * (float64(x[r*c+j]) - f.mean[j]) * f.rstd[j]
			}
		}
		return
	}
	dx := k.dxs[img]
	if dx == nil {
		return
	}
	n := float64(f.total)
	for r := r0; r < r1; r++ {
		for j, g := range dy[r*c : (r+1)*c] {
			xh := (float64(x[r*c+j]) - f.mean[j]) * f.rstd[j]
			dx[r*c+j] += float32(float64(f.gamma[j]) * f.rstd[j] * (float64(g) - k.sb[j]/n - xh*k.sg[j]/n))
		}
	}
}

// batchNormEvalBackward is the backward of an eval-mode OpBatchNorm (running statistics are
// constants): dx = dy·γ·invStd, dγ = Σ dy·(x − mean)·invStd, dβ = Σ dy.
type batchNormEvalBackward struct {
	fwd           *batchNorm
	gamma, invStd []float32
	dy, dx        []float32
	dgamma, dbeta []float32
}

func (b *batchNormEvalBackward) run(p *pool) {
	f := b.fwd
	if b.dx != nil {
		p.run(f.n, 64, b)
	}
	for t := 0; t < f.n && (b.dgamma != nil || b.dbeta != nil); t++ {
		x, dy := f.x[t*f.c:(t+1)*f.c], b.dy[t*f.c:(t+1)*f.c]
		for ch, g := range dy {
			if b.dgamma != nil {
				b.dgamma[ch] += g * (x[ch] - f.mean[ch]) * b.invStd[ch]
			}
			if b.dbeta != nil {
				b.dbeta[ch] += g
			}
		}
	}
}

func (b *batchNormEvalBackward) chunk(_, lo, hi int) {
	c := b.fwd.c
	for t := lo; t < hi; t++ {
		dy, dx := b.dy[t*c:(t+1)*c], b.dx[t*c:(t+1)*c]
		for ch, g := range dy {
			dx[ch] += g * b.fwd.scale[ch]
		}
	}
}
