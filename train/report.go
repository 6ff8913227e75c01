package train

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/demt-web/demt/colormap"
	"github.com/demt-web/demt/imageio"
	"github.com/demt-web/demt/train/dataset"
)

// Pictures of a run folder, rewritten with every checkpoint (loss curve) and every
// evaluation (previews).
const (
	CurveFile   = "loss.png"    // the losses of log.csv over the steps
	PreviewFile = "preview.png" // val images: input, then prediction and label of every task
)

// Loss-curve geometry (pixels).
const (
	curveW, curveH = 800, 400
	curveMargin    = 24
	legendBox      = 10
)

// WriteLossCurve draws log.csv (step, objective, one column per task, lr, it/s) as a PNG: the
// step on x, every series scaled to its own maximum on y (so each shows its relative fall);
// the objective black and thick, the tasks in the palette colours 1, 2, … in the CSV's
// column order, with a legend of those colours in the same order along the top. Ten grid
// lines mark tenths of each series' maximum and of the steps.
func WriteLossCurve(logPath, pngPath string) error {
	names, rows, err := readLog(logPath)
	if err != nil {
		return err
	}
	img := make([]uint8, curveW*curveH*4)
	for i := range img {
		img[i] = 255
	}
	set := func(x, y int, c [3]uint8) {
		if x >= 0 && y >= 0 && x < curveW && y < curveH {
			p := 4 * (y*curveW + x)
			img[p], img[p+1], img[p+2] = c[0], c[1], c[2]
		}
	}
	grid := [3]uint8{225, 225, 225}
	x0, y0, x1, y1 := curveMargin, curveMargin, curveW-curveMargin, curveH-curveMargin
	for k := 0; k <= 10; k++ {
		gx := x0 + (x1-x0)*k/10
		gy := y0 + (y1-y0)*k/10
		for y := y0; y <= y1; y++ {
			set(gx, y, grid)
		}
		for x := x0; x <= x1; x++ {
			set(x, gy, grid)
		}
	}
	if len(rows) == 0 {
		return imageio.WritePNG(pngPath, img, curveH, curveW)
	}
	pal := colormap.Palette()
	maxStep := rows[len(rows)-1][0]
	for s := 1; s < len(names); s++ {
		col, thick := pal[s-1], 1
		if s == 1 { // the objective
			col, thick = [3]uint8{0, 0, 0}, 2
		}
		peak := 0.0
		for _, r := range rows {
			peak = max(peak, r[s])
		}
		if peak <= 0 || math.IsInf(peak, 0) || math.IsNaN(peak) {
			continue
		}
		px := func(r []float64) (int, int) {
			x := x0 + int(float64(x1-x0)*r[0]/math.Max(maxStep, 1))
			y := y1 - int(float64(y1-y0)*r[s]/peak)
			return x, y
		}
		for i := 1; i < len(rows); i++ {
			ax, ay := px(rows[i-1])
			bx, by := px(rows[i])
			line(ax, ay, bx, by, func(x, y int) {
				for d := 0; d < thick; d++ {
					set(x, y+d, col)
				}
			})
		}
		for y := 2; y < 2+legendBox; y++ { // legend square s−1 along the top
			for x := 0; x < legendBox; x++ {
				set(curveMargin+(s-1)*(legendBox+4)+x, y, col)
			}
		}
	}
	return imageio.WritePNG(pngPath, img, curveH, curveW)
}

// line calls plot for every pixel of the segment (ax, ay)–(bx, by) (Bresenham).
func line(ax, ay, bx, by int, plot func(x, y int)) {
	dx, dy := abs(bx-ax), -abs(by-ay)
	sx, sy := sgn(bx-ax), sgn(by-ay)
	e := dx + dy
	for {
		plot(ax, ay)
		if ax == bx && ay == by {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			ax += sx
		} else {
			e += dx
			ay += sy
		}
	}
}

func abs(v int) int { return max(v, -v) }

func sgn(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// readLog reads log.csv: the column names and, per row, step, objective and the task losses
// (the lr and it/s columns are left out).
func readLog(path string) ([]string, [][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("loss curve: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("loss curve: %s is empty", path)
	}
	names := strings.Split(sc.Text(), ",")
	if len(names) < 4 || names[0] != "step" {
		return nil, nil, fmt.Errorf("loss curve: %s: unexpected header %q", path, sc.Text())
	}
	names = names[:len(names)-2] // drop lr, it_per_s
	var rows [][]float64
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		if len(fields) < len(names) {
			continue // a row cut by an interruption
		}
		r := make([]float64, len(names))
		for i := range r {
			if r[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
				return nil, nil, fmt.Errorf("loss curve: %s: %w", path, err)
			}
		}
		rows = append(rows, r)
	}
	return names, rows, sc.Err()
}

// previewImages is how many val images the preview shows.
const previewImages = 4

// writePreview renders the first val images of the evaluator as one PNG: a row per image
// with the input, then for every task its prediction (as `infer` renders it) and its label.
func (v *evaluator) writePreview(path string) error {
	ids := v.ids[:min(previewImages, len(v.ids))]
	if len(ids) == 0 {
		return nil
	}
	var tiles [][][]uint8 // per image: RGBA tiles
	h, w := 0, 0
	for _, id := range ids {
		s, err := v.r.Load(id)
		if err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		if h == 0 {
			h, w = s.H, s.W
		}
		if s.H != h || s.W != w {
			continue // previews of one size only
		}
		row := [][]uint8{rgbaOf(s.Image, h, w)}
		dataset.Normalize(s)
		outs, err := v.forward(s.Image, h, w)
		if err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		for _, t := range v.cfg.Head.Tasks {
			row = append(row, imageio.Colorize(t.Name, t.Channels, outs[t.Name], h, w), labelRGBA(t.Name, s.Labels[t.Name], h, w))
		}
		tiles = append(tiles, row)
	}
	cols := len(tiles[0])
	const gap = 2
	W, H := cols*(w+gap), len(tiles)*(h+gap)
	sheet := make([]uint8, W*H*4)
	for i := range sheet {
		sheet[i] = 255
	}
	for r, row := range tiles {
		for c, tile := range row {
			for y := 0; y < h; y++ {
				dst := 4 * ((r*(h+gap)+y)*W + c*(w+gap))
				copy(sheet[dst:dst+4*w], tile[4*y*w:4*(y+1)*w])
			}
		}
	}
	return imageio.WritePNG(path, sheet, H, W)
}

// rgbaOf turns a 0..255 RGB [h, w, 3] image into RGBA bytes.
func rgbaOf(rgb []float32, h, w int) []uint8 {
	out := make([]uint8, 4*h*w)
	for p := 0; p < h*w; p++ {
		for k := 0; k < 3; k++ {
			out[4*p+k] = uint8(min(255, max(0, rgb[3*p+k])))
		}
		out[4*p+3] = 255
	}
	return out
}

// labelRGBA renders a label [h, w, C] of task: class indices in the palette (255, ignore,
// black), normals as RGB (n+1)/2, depth with turbo over its valid range, the others (0/1
// maps) in grey.
func labelRGBA(task string, label []float32, h, w int) []uint8 {
	out := make([]uint8, 4*h*w)
	n := h * w
	if len(label) < n {
		return out
	}
	pal := colormap.Palette()
	lo, hi := math.Inf(1), math.Inf(-1)
	if task == "depth" {
		for _, d := range label[:n] {
			if d > 0 && d != 255 {
				lo, hi = min(lo, float64(d)), max(hi, float64(d))
			}
		}
	}
	for p := 0; p < n; p++ {
		var r, g, b uint8
		switch task {
		case "semseg", "human_parts":
			if k := label[p]; k != 255 && k >= 0 {
				c := pal[int(k)%len(pal)]
				r, g, b = c[0], c[1], c[2]
			}
		case "normals":
			if len(label) >= 3*n {
				to := func(v float32) uint8 { return uint8(min(255, max(0, (v+1)/2*255))) }
				r, g, b = to(label[3*p]), to(label[3*p+1]), to(label[3*p+2])
			}
		case "depth":
			if d := float64(label[p]); d > 0 && d != 255 && hi > lo {
				r, g, b = colormap.Turbo((d - lo) / (hi - lo))
			}
		default:
			if v := label[p]; v != 255 {
				r = uint8(min(255, max(0, v*255)))
				g, b = r, r
			}
		}
		out[4*p], out[4*p+1], out[4*p+2], out[4*p+3] = r, g, b, 255
	}
	return out
}
