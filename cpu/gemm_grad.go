package cpu

// Matrix products of the backward kernels: accumulating variants of gemm and the Aᵀ·B product
// of weight gradients, on the same 6×16 AVX2 kernel.

// repack refreshes a weight matrix from w (m×k, PyTorch layout) in place, after the optimiser
// changed the weights; it allocates nothing.
func (wm *weightMatrix) repack(w []float32) {
	if wm.packed == nil {
		wm.plain = w[:wm.m*wm.k]
		return
	}
	k := wm.k
	for j := 0; j < wm.m; j++ {
		p, jj := j/nr, j%nr
		dst := wm.packed[p*k*nr:]
		for q, v := range w[j*k : (j+1)*k] {
			dst[q*nr+jj] = v
		}
	}
}

// newWeightMatrixT prepares the transpose of w (m×k): a (k×m) weight matrix, filled by repackT.
func newWeightMatrixT(w []float32, m, k int) *weightMatrix {
	wm := &weightMatrix{m: k, k: m}
	if haveSIMD {
		wm.packed = make([]float32, (k+nr-1)/nr*m*nr)
	} else {
		wm.plain = make([]float32, m*k)
	}
	wm.repackT(w)
	return wm
}

// repackT refreshes a matrix made by newWeightMatrixT from w (wm.k × wm.m).
func (wm *weightMatrix) repackT(w []float32) {
	rows, cols := wm.k, wm.m // w is rows×cols; wm holds its transpose (cols×rows)
	if wm.packed == nil {
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				wm.plain[j*rows+i] = w[i*cols+j]
			}
		}
		return
	}
	for i := 0; i < rows; i++ {
		for j, v := range w[i*cols : (i+1)*cols] {
			// transposed element (j, i): output j, contraction index i.
			wm.packed[(j/nr)*rows*nr+i*nr+j%nr] = v
		}
	}
}

// gemmAdd computes y[i·ldy + j] += Σ_q x[i·ldx + q]·w[j][q] for i < rows, j < m.
func (wm *weightMatrix) gemmAdd(x []float32, ldx int, y []float32, ldy, rows int, s *gemmScratch) {
	k, m := wm.k, wm.m
	if rows == 0 || k == 0 {
		return
	}
	if wm.packed == nil {
		for i := 0; i < rows; i++ {
			xi := x[i*ldx : i*ldx+k]
			for j := 0; j < m; j++ {
				y[i*ldy+j] += dot(xi, wm.plain[j*k:(j+1)*k])
			}
		}
		return
	}
	wm.eachTile(x, ldx, rows, s, func(i, n, p, cols int) {
		for r := 0; r < n; r++ {
			dst := y[(i+r)*ldy+p*nr : (i+r)*ldy+p*nr+cols]
			src := s.c[r*nr : r*nr+cols]
			for j := range dst {
				dst[j] += src[j]
			}
		}
	})
}

// atbBlock is the number of contraction rows addAtB packs at a time.
const atbBlock = 128

// atbScratch is one worker's scratch space for addAtB with at most maxM rows and maxK columns.
type atbScratch struct {
	at     []float32 // ⌈m/6⌉·6 × atbBlock: the block of a, transposed
	packed []float32 // ⌈k/16⌉ panels × atbBlock × 16: the block of b
	c      [mr * nr]float32
}

func newATBScratch(maxM, maxK int) atbScratch {
	if !haveSIMD {
		return atbScratch{}
	}
	return atbScratch{at: make([]float32, (maxM+mr-1)/mr*mr*atbBlock), packed: make([]float32, (maxK+nr-1)/nr*nr*atbBlock)}
}

// addAtB computes dst[i·ldd + j] += Σ_{p<n} a[p·lda + i]·b[p·ldb + j] for i < m, j < k: the
// weight-gradient product dAᵀ·X, contracted over n pixels or tokens.
func addAtB(dst []float32, ldd int, a []float32, lda int, b []float32, ldb int, n, m, k int, s *atbScratch) {
	if n == 0 || m == 0 || k == 0 {
		return
	}
	if !haveSIMD {
		for p := 0; p < n; p++ {
			bp := b[p*ldb : p*ldb+k]
			for i := 0; i < m; i++ {
				if v := a[p*lda+i]; v != 0 {
					axpy(v, bp, dst[i*ldd:i*ldd+k])
				}
			}
		}
		return
	}
	mp := (m + mr - 1) / mr * mr
	panels := (k + nr - 1) / nr
	for p0 := 0; p0 < n; p0 += atbBlock {
		nb := min(atbBlock, n-p0)
		// Transpose the block of a into rows of nb; rows beyond m are zero.
		at := s.at[:mp*nb]
		for i := m; i < mp; i++ {
			clear(at[i*nb : (i+1)*nb])
		}
		for p := 0; p < nb; p++ {
			row := a[(p0+p)*lda : (p0+p)*lda+m]
			for i, v := range row {
				at[i*nb+p] = v
			}
		}
		// Pack the block of b: panel q holds b[p][16q + jj] at p·16 + jj.
		for q := 0; q < panels; q++ {
			dstp := s.packed[q*nb*nr : (q+1)*nb*nr]
			cols := min(nr, k-q*nr)
			for p := 0; p < nb; p++ {
				d := dstp[p*nr : (p+1)*nr]
				copy(d, b[(p0+p)*ldb+q*nr:(p0+p)*ldb+q*nr+cols])
				if cols < nr {
					clear(d[cols:])
				}
			}
		}
		for q := 0; q < panels; q++ {
			cols := min(nr, k-q*nr)
			panel := s.packed[q*nb*nr : (q+1)*nb*nr]
			for i := 0; i < m; i += mr {
				kern6x16(&at[i*nb], nb, &panel[0], nb, &s.c[0])
				for r := 0; r < min(mr, m-i); r++ {
					d := dst[(i+r)*ldd+q*nr : (i+r)*ldd+q*nr+cols]
					src := s.c[r*nr : r*nr+cols]
					for j := range d {
						d[j] += src[j]
					}
				}
			}
		}
	}
}

// partials is a fixed split of a reduction into chunks, each with its own accumulator, summed
// in chunk order: the result does not depend on which worker ran which chunk.
type partials struct {
	bufs [][]float32
}

func newPartials(chunks, size int) partials {
	p := partials{bufs: make([][]float32, chunks)}
	for i := range p.bufs {
		p.bufs[i] = make([]float32, size)
	}
	return p
}

// reset zeroes every chunk's accumulator.
func (p *partials) reset() {
	for _, b := range p.bufs {
		clear(b)
	}
}

// addTo adds the chunks' sums, in order, to dst.
func (p *partials) addTo(dst []float32) {
	for _, b := range p.bufs {
		for i, v := range b[:len(dst)] {
			dst[i] += v
		}
	}
}

// colSum adds Σ_r x[r·m + j] over rows r < n to dst[j] (j < m).
func colSum(dst, x []float32, n, m int) {
	for r := 0; r < n; r++ {
		row := x[r*m : (r+1)*m]
		for j, v := range row {
			dst[j] += v
		}
	}
}
