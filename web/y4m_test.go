package web

import (
	"bufio"
	"fmt"
	"os"
)

// Colours of the test clip (Y, Cb, Cr, full range as Chromium's C420jpeg reader takes them).
var (
	clipLeft  = [3]uint8{76, 85, 255}  // red
	clipRight = [3]uint8{29, 255, 107} // blue
)

// writeY4M writes a w×h clip of n frames (30 fps): the left half red, the right half blue,
// a white bar moving across, and the frame number in binary as black/white squares along
// the top edge (so that each frame differs).
func writeY4M(path string, w, h, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n", w, h)
	y := make([]byte, w*h)
	u := make([]byte, w*h/4)
	v := make([]byte, w*h/4)
	for fr := range n {
		bar := (fr * 4) % w
		for py := range h {
			for px := range w {
				c := clipLeft
				if px >= w/2 {
					c = clipRight
				}
				if px >= bar && px < bar+8 && py > h/4 {
					c = [3]uint8{235, 128, 128}
				}
				if py < 8 && px < 8*12 {
					bit := (fr >> (px / 8)) & 1
					c = [3]uint8{uint8(16 + 219*bit), 128, 128}
				}
				y[py*w+px] = c[0]
				if py%2 == 0 && px%2 == 0 {
					u[(py/2)*(w/2)+px/2], v[(py/2)*(w/2)+px/2] = c[1], c[2]
				}
			}
		}
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(u)
		bw.Write(v)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
