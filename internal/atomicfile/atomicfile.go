// Package atomicfile writes files the one way every writer of this project does: into a
// hidden temporary ".NAME.tmp-*" in the target's folder, buffered, made 0644, synced, then
// renamed over the target — so nobody ever sees a partial file, a failed or interrupted write
// leaves the target as it was, and a file the caller protects (an input of the same run) is
// never written over, by name or as the same file under another name.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// TempPattern is the name pattern of the temporary files, for os.CreateTemp in the target's
// folder: ".NAME.tmp-*" (an interrupt handler may remove files that match it).
func TempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// Write calls write with a buffered writer on a temporary file beside path and, if it and
// every later step succeed, renames the file to path. It refuses when path is one of protect.
// Errors name path and wrap their cause.
func Write(path string, write func(w io.Writer) error, protect ...string) (err error) {
	if err := CheckProtected(path, protect); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	steps := []func() error{bw.Flush, func() error { return tmp.Chmod(0o644) }, tmp.Sync, tmp.Close}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed = true
	if d, err := os.Open(dir); err == nil { // make the rename durable where the platform allows
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteBytes writes b to path with Write.
func WriteBytes(path string, b []byte, protect ...string) error {
	return Write(path, func(w io.Writer) error {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}, protect...)
}

// CheckProtected returns an error when path names, or is the same file as, one of protect.
func CheckProtected(path string, protect []string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	dst, dstErr := os.Stat(path)
	for _, p := range protect {
		pabs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		same := pabs == abs
		if !same && dstErr == nil {
			if src, err := os.Stat(p); err == nil && os.SameFile(src, dst) {
				same = true
			}
		}
		if same {
			return fmt.Errorf("refusing to overwrite input %s with output %s", p, path)
		}
	}
	return nil
}
