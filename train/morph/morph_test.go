package morph

import (
	"slices"
	"strings"
	"testing"
)

func parse(rows ...string) ([]uint8, int, int) {
	h, w := len(rows), len(rows[0])
	img := make([]uint8, 0, h*w)
	for _, r := range rows {
		for _, c := range r {
			img = append(img, uint8(strings.IndexRune(".#", c)))
		}
	}
	return img, h, w
}

func show(img []uint8, w int) string {
	var b strings.Builder
	for i, v := range img {
		b.WriteByte(".#"[v])
		if (i+1)%w == 0 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestThin(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"single pixel stays", []string{"...", ".#.", "..."}, []string{"...", ".#.", "..."}},
		{"thin line stays", []string{"......", "######", "......"}, []string{"......", "######", "......"}},
		{"3-wide bar becomes its middle line", []string{
			"........",
			".######.",
			".######.",
			".######.",
			"........",
		}, nil},
	}
	var th Thinner
	for _, c := range cases {
		img, h, w := parse(c.in...)
		th.Thin(img, h, w)
		if c.want != nil {
			want, _, _ := parse(c.want...)
			if !slices.Equal(img, want) {
				t.Errorf("%s:\n%swant\n%s", c.name, show(img, w), show(want, w))
			}
			continue
		}
		// The bar: one pixel wide (no 2×2 block), non-empty, inside the bar, connected.
		in, _, _ := parse(c.in...)
		n := 0
		for i, v := range img {
			if v == 1 {
				n++
				if in[i] == 0 {
					t.Fatalf("%s: pixel %d set outside the input", c.name, i)
				}
			}
		}
		for y := 0; y+1 < h; y++ {
			for x := 0; x+1 < w; x++ {
				if img[y*w+x]&img[y*w+x+1]&img[(y+1)*w+x]&img[(y+1)*w+x+1] == 1 {
					t.Fatalf("%s: a 2x2 block survives:\n%s", c.name, show(img, w))
				}
			}
		}
		if n < 4 || n > 6 {
			t.Fatalf("%s: %d pixels left:\n%s", c.name, n, show(img, w))
		}
		// Thinning is idempotent.
		again := slices.Clone(img)
		th.Thin(again, h, w)
		if !slices.Equal(again, img) {
			t.Fatalf("%s: a second thinning changed the result", c.name)
		}
	}
}

func TestLaplacianEdges(t *testing.T) {
	// The trap of notes §8.2: up 1, down 3, left = right = centre 2 has Laplacian 0.
	labels := []int32{
		0, 1, 0,
		2, 2, 2,
		0, 3, 0,
	}
	dst := make([]uint8, 9)
	LaplacianEdges(labels, 3, 3, dst)
	if dst[4] != 0 {
		t.Fatalf("centre marked an edge though its Laplacian is 0: %v", dst)
	}
	// A constant map has no edges; a step has edges on both sides of it (reflect-101 border).
	step := []int32{5, 5, 7, 7}
	d := make([]uint8, 4)
	LaplacianEdges(step, 1, 4, d)
	if !slices.Equal(d, []uint8{0, 1, 1, 0}) {
		t.Fatalf("step edges %v, want [0 1 1 0]", d)
	}
	LaplacianEdges([]int32{4, 4, 4, 4}, 2, 2, d)
	if !slices.Equal(d, []uint8{0, 0, 0, 0}) {
		t.Fatalf("constant map edges %v", d)
	}
}
