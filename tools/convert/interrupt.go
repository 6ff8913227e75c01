package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// outputSet is the files a command is writing. Every writer of this program (demtfile,
// imageio, npy, writeFileAtomic) writes a file through a hidden temporary ".NAME.tmp-*" in the
// same folder and renames it; on an interrupt those temporaries are removed.
type outputSet struct {
	mu    sync.Mutex
	paths []string
}

// add records that path is about to be written.
func (o *outputSet) add(paths ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.paths = append(o.paths, paths...)
}

// removeTemps removes the temporary files of every recorded output and returns how many.
func (o *outputSet) removeTemps() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, p := range o.paths {
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "."+globEscape(filepath.Base(p))+".tmp-*"))
		for _, m := range matches {
			if os.Remove(m) == nil {
				n++
			}
		}
	}
	return n
}

// globEscape quotes the pattern characters of a file name for filepath.Glob.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// handleInterrupts makes SIGINT and SIGTERM remove the temporary files of e's outputs, say so
// on stderr and exit with status 130 (the shell's 128+SIGINT).
func handleInterrupts(e *env) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		os.Exit(interrupted(e, sig))
	}()
}

// interrupted cleans up after signal sig and returns the exit status.
func interrupted(e *env, sig os.Signal) int {
	n := e.outputs.removeTemps()
	fmt.Fprintf(e.stderr, "\n%s: interrupted (%v); removed %d unfinished output file(s)\n", progName, sig, n)
	return exitInterrupted
}
