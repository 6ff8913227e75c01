package cpu

// gemm computes y[i·ldy + j] = bias[j] + Σ_q x[i·ldx + q]·w[j·k + q] for i < rows, j < m:
// rows of x times the transpose of w (m×k, the PyTorch Linear layout). 4×4 register blocks.
func gemm(x []float32, ldx int, w []float32, k, m int, bias []float32, y []float32, ldy, rows int) {
	i := 0
	for ; i+4 <= rows; i += 4 {
		x0 := x[i*ldx : i*ldx+k]
		x1 := x[(i+1)*ldx : (i+1)*ldx+k]
		x2 := x[(i+2)*ldx : (i+2)*ldx+k]
		x3 := x[(i+3)*ldx : (i+3)*ldx+k]
		j := 0
		for ; j+4 <= m; j += 4 {
			w0 := w[j*k : (j+1)*k]
			w1 := w[(j+1)*k : (j+2)*k]
			w2 := w[(j+2)*k : (j+3)*k]
			w3 := w[(j+3)*k : (j+4)*k]
			var a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33 float32
			for q := range x0 {
				b0, b1, b2, b3 := w0[q], w1[q], w2[q], w3[q]
				v := x0[q]
				a00 += v * b0
				a01 += v * b1
				a02 += v * b2
				a03 += v * b3
				v = x1[q]
				a10 += v * b0
				a11 += v * b1
				a12 += v * b2
				a13 += v * b3
				v = x2[q]
				a20 += v * b0
				a21 += v * b1
				a22 += v * b2
				a23 += v * b3
				v = x3[q]
				a30 += v * b0
				a31 += v * b1
				a32 += v * b2
				a33 += v * b3
			}
			var c0, c1, c2, c3 float32
			if bias != nil {
				c0, c1, c2, c3 = bias[j], bias[j+1], bias[j+2], bias[j+3]
			}
			store4(y[i*ldy+j:], a00+c0, a01+c1, a02+c2, a03+c3)
			store4(y[(i+1)*ldy+j:], a10+c0, a11+c1, a12+c2, a13+c3)
			store4(y[(i+2)*ldy+j:], a20+c0, a21+c1, a22+c2, a23+c3)
			store4(y[(i+3)*ldy+j:], a30+c0, a31+c1, a32+c2, a33+c3)
		}
		for ; j < m; j++ {
			wj := w[j*k : (j+1)*k]
			var c float32
			if bias != nil {
				c = bias[j]
			}
			y[i*ldy+j] = dot(x0, wj) + c
			y[(i+1)*ldy+j] = dot(x1, wj) + c
			y[(i+2)*ldy+j] = dot(x2, wj) + c
			y[(i+3)*ldy+j] = dot(x3, wj) + c
		}
	}
	for ; i < rows; i++ {
		xi := x[i*ldx : i*ldx+k]
		for j := 0; j < m; j++ {
			var c float32
			if bias != nil {
				c = bias[j]
			}
			y[i*ldy+j] = dot(xi, w[j*k:(j+1)*k]) + c
		}
	}
}

// axpy computes y[i] += alpha·x[i].
func axpy(alpha float32, x, y []float32) {
	x = x[:len(y)]
	i := 0
	if haveSIMD && len(y) >= 16 {
		i = len(y) &^ 15
		axpyAVX(alpha, &x[0], &y[0], i)
	}
	for ; i < len(y); i++ {
		y[i] += alpha * x[i]
	}
}

func store4(y []float32, a, b, c, d float32) {
	y = y[:4]
	y[0], y[1], y[2], y[3] = a, b, c, d
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	if haveSIMD && len(a) >= 16 {
		n := len(a) &^ 15
		s := dotAVX(&a[0], &b[0], n)
		for i := n; i < len(a); i++ {
			s += a[i] * b[i]
		}
		return s
	}
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
