package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progressBar shows the progress of long work on stderr: on a terminal a one-line "\r" bar,
// elsewhere (logs, pipes, CI) a plain line "label: 40%" at most every lineEvery, so that a
// long quiet step (an int8 calibration) still shows it is alive, and a short one prints
// nothing.
type progressBar struct {
	w     io.Writer
	label string
	on    bool // a terminal: draw the bar
	mu    sync.Mutex
	last  int // percentage last drawn, -1 before the first

	now      func() time.Time // the clock (tests replace it)
	started  time.Time        // when the bar was made, or the last line printed
	lastLine int              // percentage of the last plain line, -1 before the first
}

const (
	barWidth  = 30
	lineEvery = 10 * time.Second
)

func newProgress(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, on: isTerminal(w), last: -1, now: time.Now, started: time.Now(), lastLine: -1}
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
	if total <= 0 {
		return
	}
	done = min(max(done, 0), total)
	pct := int(done * 100 / total)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on {
		if p.now != nil && pct != p.lastLine && p.now().Sub(p.started) >= lineEvery {
			fmt.Fprintf(p.w, "%s: %d%%\n", p.label, pct)
			p.lastLine, p.started = pct, p.now()
		}
		return
	}
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
