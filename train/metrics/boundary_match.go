package metrics

import "github.com/demt-web/demt/train/morph"

// edgeImage is the per-image state the threshold workers share (read only while they run).
type edgeImage struct {
	h, w    int
	saved   []uint8
	nms     []float32 // the non-maximum-suppressed soft map: 0 where suppressed
	label   []float32
	gtIndex []int32 // ground-truth pixel → its number, or -1
	gtPix   []int32
	offsets [][2]int // (dy, dx) within the radius, nearest first
}

// thresholdWorker evaluates a range of thresholds of one image with its own scratch
// buffers, which it keeps between images.
type thresholdWorker struct {
	bin                    []uint8
	thin                   morph.Thinner
	predPix                []int32
	cand                   []int32 // prediction pixels with a ground-truth pixel in reach
	prevCand               []int32 // the previous threshold's cand
	matchOfGT, matchOfPred []int32
	layerOf                []int32 // Hopcroft–Karp layer of each candidate
	queue                  []int32
	prevMatch              []int32 // pixel → ground-truth pixel it matched at the previous threshold, or -1
	im                     *edgeImage
}

// run evaluates thresholds k/100 for k in [k0, k1) and writes per threshold the matched,
// prediction and ground-truth pixel counts to counts.
func (t *thresholdWorker) run(im *edgeImage, k0, k1 int, counts [][3]int64) {
	n := im.h * im.w
	t.im = im
	t.bin = grow(t.bin, n)
	t.matchOfGT, t.matchOfPred, t.layerOf = grow(t.matchOfGT, n), grow(t.matchOfPred, n), grow(t.layerOf, n)
	t.prevMatch = grow(t.prevMatch, n)
	for i := range t.prevMatch {
		t.prevMatch[i] = -1
	}
	t.cand = t.cand[:0]
	for k := k0; k < k1; k++ {
		for i, v := range im.saved {
			t.bin[i] = 0
			if im.nms[i] > 0 && 100*int(v) >= 255*k { // v/255 ≥ k/100, in integers
				t.bin[i] = 1
			}
		}
		t.thin.Thin(t.bin, im.h, im.w)
		t.predPix = t.predPix[:0]
		for i, v := range t.bin {
			if v != 0 && im.label[i] != Ignore {
				t.predPix = append(t.predPix, int32(i))
			}
		}
		m := t.match()
		counts[k-k0] = [3]int64{int64(m), int64(len(t.predPix)), int64(len(im.gtPix))}
	}
}

// match returns the size of a maximum one-to-one matching between the prediction pixels
// and the ground-truth pixels where a pair matches when its distance is within the radius:
// Hopcroft–Karp, started from the previous threshold's matching where its pixels survive
// and a nearest-first greedy pass elsewhere.
func (t *thresholdWorker) match() int {
	im := t.im
	for i := range im.gtPix {
		t.matchOfGT[i] = -1
	}
	t.prevCand, t.cand = t.cand, t.prevCand[:0]
	n := 0
	for _, p := range t.predPix {
		y, x := int(p)/im.w, int(p)%im.w
		u := int32(-1)
		for _, o := range im.offsets {
			yy, xx := y+o[0], x+o[1]
			if yy < 0 || yy >= im.h || xx < 0 || xx >= im.w {
				continue
			}
			g := im.gtIndex[yy*im.w+xx]
			if g < 0 {
				continue
			}
			if u < 0 {
				u = int32(len(t.cand))
				t.cand = append(t.cand, p)
				t.matchOfPred[u] = -1
				if pg := t.prevMatch[p]; pg >= 0 && t.matchOfGT[pg] < 0 {
					t.matchOfGT[pg], t.matchOfPred[u] = u, pg
					n++
					break
				}
			}
			if t.matchOfGT[g] < 0 {
				t.matchOfGT[g], t.matchOfPred[u] = u, g
				n++
				break
			}
		}
	}
	for t.layer() {
		for u := range t.cand {
			if t.matchOfPred[u] < 0 && t.augment(int32(u)) {
				n++
			}
		}
	}
	for _, p := range t.prevCand { // remember this matching for the next threshold
		t.prevMatch[p] = -1
	}
	for u, p := range t.cand {
		t.prevMatch[p] = t.matchOfPred[u]
	}
	return n
}

// unlayered marks a candidate outside the current BFS layering.
const unlayered = int32(1<<31 - 1)

// layer is Hopcroft–Karp's breadth-first phase: it layers the candidates by their
// alternating distance from the unmatched ones and reports whether an unmatched
// ground-truth pixel is reachable.
func (t *thresholdWorker) layer() bool {
	im := t.im
	queue := t.queue[:0]
	for u := range t.cand {
		t.layerOf[u] = unlayered
		if t.matchOfPred[u] < 0 {
			t.layerOf[u] = 0
			queue = append(queue, int32(u))
		}
	}
	found := false
	for qi := 0; qi < len(queue); qi++ {
		u := queue[qi]
		p := int(t.cand[u])
		y, x := p/im.w, p%im.w
		for _, o := range im.offsets {
			yy, xx := y+o[0], x+o[1]
			if yy < 0 || yy >= im.h || xx < 0 || xx >= im.w {
				continue
			}
			g := im.gtIndex[yy*im.w+xx]
			if g < 0 {
				continue
			}
			if m := t.matchOfGT[g]; m < 0 {
				found = true
			} else if t.layerOf[m] == unlayered {
				t.layerOf[m] = t.layerOf[u] + 1
				queue = append(queue, m)
			}
		}
	}
	t.queue = queue
	return found
}

// augment is Hopcroft–Karp's depth-first phase from the unmatched candidate u along the
// layering; a candidate that leads nowhere leaves the layering.
func (t *thresholdWorker) augment(u int32) bool {
	im := t.im
	p := int(t.cand[u])
	y, x := p/im.w, p%im.w
	for _, o := range im.offsets {
		yy, xx := y+o[0], x+o[1]
		if yy < 0 || yy >= im.h || xx < 0 || xx >= im.w {
			continue
		}
		g := im.gtIndex[yy*im.w+xx]
		if g < 0 {
			continue
		}
		m := t.matchOfGT[g]
		if m < 0 || (t.layerOf[m] == t.layerOf[u]+1 && t.augment(m)) {
			t.matchOfGT[g], t.matchOfPred[u] = u, g
			return true
		}
	}
	t.layerOf[u] = unlayered
	return false
}
