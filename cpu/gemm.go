package cpu

// weightMatrix is an (m×k) weight (the PyTorch Linear layout, rows = outputs) prepared for
// gemm: with SIMD it is packed in panels of 16 outputs, panel p holding w[16p+j][q] at
// q·16+j (zero-padded), which the 6×16 assembly kernel streams; without SIMD the plain
// layout feeds the portable 4×4 kernel.
type weightMatrix struct {
	m, k   int
	plain  []float32
	packed []float32
}

const (
	mr = 6  // rows of the SIMD kernel's block
	nr = 16 // outputs of the SIMD kernel's block (one panel)
)

func newWeightMatrix(w []float32, m, k int) *weightMatrix {
	wm := &weightMatrix{m: m, k: k}
	if !haveSIMD {
		wm.plain = w
		return wm
	}
	panels := (m + nr - 1) / nr
	wm.packed = make([]float32, panels*k*nr)
	for j := 0; j < m; j++ {
		p, jj := j/nr, j%nr
		dst := wm.packed[p*k*nr:]
		for q, v := range w[j*k : (j+1)*k] {
			dst[q*nr+jj] = v
		}
	}
	return wm
}

// gemmScratch is one worker's scratch space for gemm.
type gemmScratch struct {
	pad []float32 // mr rows of a ragged tail
	c   [mr * nr]float32
}

func newGemmScratch(k int) gemmScratch { return gemmScratch{pad: make([]float32, mr*k)} }

// gemm computes y[i·ldy + j] = bias[j] + Σ_q x[i·ldx + q]·w[j][q] for i < rows, j < m.
func (wm *weightMatrix) gemm(x []float32, ldx int, bias, y []float32, ldy, rows int, s *gemmScratch) {
	if wm.packed == nil {
		gemm(x, ldx, wm.plain, wm.k, wm.m, bias, y, ldy, rows)
		return
	}
	wm.eachTile(x, ldx, rows, s, func(i, n, p, cols int) {
		for r := 0; r < n; r++ {
			dst := y[(i+r)*ldy+p*nr : (i+r)*ldy+p*nr+cols]
			src := s.c[r*nr : r*nr+cols]
			if bias != nil {
				b := bias[p*nr : p*nr+cols]
				for j := range dst {
					dst[j] = src[j] + b[j]
				}
			} else {
				copy(dst, src)
			}
		}
	})
}

// eachTile runs the micro-kernel over the mr×nr tiles of x (rows × k, stride ldx) times the
// packed weight's transpose: each tile's values land in s.c (row r at r·nr) and store(i, n, p,
// cols) is called with its first row i, its n rows, its panel p and its cols columns.
func (wm *weightMatrix) eachTile(x []float32, ldx, rows int, s *gemmScratch, store func(i, n, p, cols int)) {
	k, m := wm.k, wm.m
	if rows == 0 || k == 0 {
		return
	}
	for p := 0; p*nr < m; p++ {
		panel := wm.packed[p*k*nr : (p+1)*k*nr]
		cols := min(nr, m-p*nr)
		for i := 0; i < rows; i += mr {
			a, lda := x[i*ldx:], ldx
			n := min(mr, rows-i)
			if n < mr {
				for r := 0; r < mr; r++ {
					if r < n {
						copy(s.pad[r*k:(r+1)*k], x[(i+r)*ldx:(i+r)*ldx+k])
					} else {
						clear(s.pad[r*k : (r+1)*k])
					}
				}
				a, lda = s.pad, k
			} else {
				_ = a[(mr-1)*lda+k-1] // the kernel reads mr rows of k
			}
			kern6x16(&a[0], lda, &panel[0], k, &s.c[0])
			store(i, n, p, cols)
		}
	}
}
