package colormap

// Rendering is how a task's raw output is painted for display: the one task → rendering
// table of demt-web, used by the CPU renderer (imageio.Colorize) and the GPU display kernel
// (gpu's ReadRGBA). Its values are the mode numbers of shaders/colorize.wgsl.
type Rendering int

// The renderings, in the order of colorize.wgsl's modes.
const (
	RenderPalette Rendering = iota // argmax over channels (first maximum wins), Palette colour
	RenderDepth                    // clamped at 0, min–max normalised over the image, Turbo
	RenderNormals                  // L2-normalised per pixel, trunc((n+1)/2·255) as R, G, B
	RenderSigmoid                  // grey trunc(255·sigmoid(channel 0))
	RenderSal                      // grey trunc(255·softmax(l)[1]) = trunc(255·sigmoid(l1 − l0))
	RenderMinMax                   // grey round(255·(x − min)/(max − min)) of channel 0
)

// RenderingOf returns how the output of task, with the given number of channels, is
// rendered: semseg and human_parts by palette, depth by turbo, normals as RGB, edge by
// sigmoid grey (as the official prediction PNGs), sal by softmax grey (sigmoid grey when it
// has one channel); any other task by palette when it has several channels, else min–max grey.
func RenderingOf(task string, channels int) Rendering {
	switch task {
	case "semseg", "human_parts":
		return RenderPalette
	case "depth":
		return RenderDepth
	case "normals":
		return RenderNormals
	case "edge":
		return RenderSigmoid
	case "sal":
		if channels == 1 {
			return RenderSigmoid
		}
		return RenderSal
	}
	if channels > 1 {
		return RenderPalette
	}
	return RenderMinMax
}

// MinMax reports whether r normalises channel 0 by its minimum and maximum over the image
// (which a renderer computes in a first pass).
func (r Rendering) MinMax() bool { return r == RenderDepth || r == RenderMinMax }

// ClampZero reports whether r clamps values at 0 before anything else (depth: the official
// evaluation clamps predicted depth at 0).
func (r Rendering) ClampZero() bool { return r == RenderDepth }

// String returns the rendering's name, e.g. "palette".
func (r Rendering) String() string {
	switch r {
	case RenderPalette:
		return "palette"
	case RenderDepth:
		return "depth"
	case RenderNormals:
		return "normals"
	case RenderSigmoid:
		return "sigmoid"
	case RenderSal:
		return "sal"
	case RenderMinMax:
		return "minmax"
	}
	return "unknown"
}
