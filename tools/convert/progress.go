package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// progressBar draws a one-line "\r" progress bar on stderr while long work runs. It
// draws only when its writer is a terminal, so logs and tests see no bar.
type progressBar struct {
	w     io.Writer
	label string
	on    bool
	mu    sync.Mutex
	last  int // percentage last drawn, -1 before the first
}

const barWidth = 30

func newProgress(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, on: isTerminal(w), last: -1}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// set shows done out of total; it redraws only when the percentage changes.
func (p *progressBar) set(done, total int64) {
	if !p.on || total <= 0 {
		return
	}
	done = min(max(done, 0), total)
	pct := int(done * 100 / total)
	p.mu.Lock()
	defer p.mu.Unlock()
	if pct == p.last {
		return
	}
	p.last = pct
	n := pct * barWidth / 100
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%%", p.label, strings.Repeat("#", n), strings.Repeat(".", barWidth-n), pct)
}

// ops adapts the bar to the executors' progress callback (ops done, ops in all).
func (p *progressBar) ops(done, total int) { p.set(int64(done), int64(total)) }

// finish ends the bar's line, if one was drawn.
func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && p.last >= 0 {
		fmt.Fprintln(p.w)
		p.last = -1
	}
}
