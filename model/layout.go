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
