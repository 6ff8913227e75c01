package model

// HWCFromCHW converts a planar (C, H, W) array to channels-last (H, W, C).
func HWCFromCHW(src []float32, c, h, w int) []float32 {
	dst := make([]float32, len(src))
	for ch := 0; ch < c; ch++ {
		for p := 0; p < h*w; p++ {
			dst[p*c+ch] = src[ch*h*w+p]
		}
	}
	return dst
}

// CHWFromHWC converts a channels-last (H, W, C) array to planar (C, H, W).
func CHWFromHWC(src []float32, h, w, c int) []float32 {
	dst := make([]float32, len(src))
	for p := 0; p < h*w; p++ {
		for ch := 0; ch < c; ch++ {
			dst[ch*h*w+p] = src[p*c+ch]
		}
	}
	return dst
}

// ResizeTap is the two source indices and weights of one output index of OpResize on one axis.
type ResizeTap struct {
	I0, I1 int
	L0, L1 float32
}

// ResizeTaps defines OpResize along one axis: PyTorch's bilinear align_corners=False source
// indices, in float32 as PyTorch computes them: scale = in/out, src = max(scale·(d+0.5) − 0.5, 0),
// i0 = ⌊src⌋, i1 = min(i0+1, in−1), weights 1−λ and λ = src − i0.
func ResizeTaps(nIn, nOut int) []ResizeTap {
	taps := make([]ResizeTap, nOut)
	scale := float32(nIn) / float32(nOut)
	for d := range taps {
		src := scale*(float32(d)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		i1 := i0
		if i0 < nIn-1 {
			i1 = i0 + 1
		}
		l1 := src - float32(i0)
		taps[d] = ResizeTap{I0: i0, I1: i1, L0: 1 - l1, L1: l1}
	}
	return taps
}

// ConvWeightOHWI re-lays out a (Cout, Cin/G, KH, KW) convolution weight as (Cout, KH, KW, Cin/G),
// the order of a channels-last patch.
func ConvWeightOHWI(w []float32, cout, cin, kh, kw int) []float32 {
	out := make([]float32, len(w))
	for o := 0; o < cout; o++ {
		for ci := 0; ci < cin; ci++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					out[((o*kh+y)*kw+x)*cin+ci] = w[((o*cin+ci)*kh+y)*kw+x]
				}
			}
		}
	}
	return out
}

// WindowBias expands a Swin ((2w−1)², heads) relative position bias table to (heads, N, N),
// N = w², with the standard index (ya−yb+w−1)·(2w−1) + (xa−xb+w−1).
func WindowBias(table []float32, heads, win int) []float32 {
	n := win * win
	out := make([]float32, heads*n*n)
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			ya, xa, yb, xb := a/win, a%win, b/win, b%win
			idx := (ya-yb+win-1)*(2*win-1) + (xa - xb + win - 1)
			for g := 0; g < heads; g++ {
				out[(g*n+a)*n+b] = table[idx*heads+g]
			}
		}
	}
	return out
}
