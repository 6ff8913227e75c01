package colormap

import "testing"

func TestRenderingOf(t *testing.T) {
	for _, c := range []struct {
		task      string
		channels  int
		want      Rendering
		minMax    bool
		clampZero bool
	}{
		{"semseg", 21, RenderPalette, false, false},
		{"human_parts", 7, RenderPalette, false, false},
		{"semseg", 1, RenderPalette, false, false}, // the task decides, not the channel count
		{"depth", 1, RenderDepth, true, true},
		{"normals", 3, RenderNormals, false, false},
		{"edge", 1, RenderSigmoid, false, false},
		{"sal", 2, RenderSal, false, false},
		{"sal", 1, RenderSigmoid, false, false},
		{"other", 5, RenderPalette, false, false},
		{"other", 1, RenderMinMax, true, false},
	} {
		got := RenderingOf(c.task, c.channels)
		if got != c.want || got.MinMax() != c.minMax || got.ClampZero() != c.clampZero {
			t.Errorf("RenderingOf(%q, %d) = %v (min–max %v, clamp %v), want %v (%v, %v)",
				c.task, c.channels, got, got.MinMax(), got.ClampZero(), c.want, c.minMax, c.clampZero)
		}
	}
}
