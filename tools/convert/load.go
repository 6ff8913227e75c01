package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
	"github.com/demt-web/demt/model/torchckpt"
	"github.com/demt-web/demt/session"
)

// File kinds, told apart by their first bytes.
const (
	kindTorch = "torch" // a torch.save zip (or a legacy pickle stream, which torchckpt explains)
	kindDemt  = "demt"
)

// sniff returns the kind of the file at path from its magic bytes, never its extension.
func sniff(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fileErr(err)
	}
	defer f.Close()
	var magic [4]byte
	n, err := io.ReadFull(f, magic[:])
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return "", errors.New("empty file")
	case err != nil && err != io.ErrUnexpectedEOF:
		return "", fileErr(err)
	}
	switch {
	case bytes.Equal(magic[:n], []byte(demtfile.Magic)):
		return kindDemt, nil
	case bytes.HasPrefix(magic[:n], []byte("PK\x03\x04")), magic[0] == 0x80:
		return kindTorch, nil
	}
	return "", errors.New("neither a PyTorch checkpoint (zip) nor a .demt file")
}

// fileErr drops the path an *fs.PathError repeats, since callers name the file already.
func fileErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadModel reads a .demt file or a PyTorch checkpoint (sniffed), with a progress bar,
// and checks that its weights are the architecture its config says. Errors do not name path.
func loadModel(e *env, path string) (*session.Model, error) {
	kind, err := sniff(path)
	if err != nil {
		return nil, err
	}
	if kind == kindDemt {
		f, err := readDemt(e, path)
		if err != nil {
			return nil, err
		}
		m := session.FromFile(f)
		if err := m.Check(); err != nil {
			return nil, err
		}
		return m, nil
	}
	raw, err := readTorch(e, path)
	if err != nil {
		return nil, err
	}
	w, err := model.NormalizeKeys(raw)
	if err != nil {
		return nil, err
	}
	cfg, err := model.InferConfig(w)
	if err != nil {
		return nil, err
	}
	m := &session.Model{Config: cfg, Weights: w, Norm: demtfile.ImageNetNormalization()}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// readDemt reads a whole .demt file with a progress bar.
func readDemt(e *env, path string) (*demtfile.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fileErr(err)
	}
	defer fh.Close()
	bar := newProgress(e.stderr, "reading")
	defer bar.finish()
	return demtfile.Read(bufio.NewReaderSize(fh, 256<<10), bar.set)
}

// readTorch reads the state dict of a PyTorch checkpoint as stored (keys not normalised),
// with a progress bar over the bytes read.
func readTorch(e *env, path string) (*model.Weights, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fileErr(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fileErr(err)
	}
	bar := newProgress(e.stderr, "reading")
	defer bar.finish()
	r := &countingReaderAt{r: fh, report: func(n int64) { bar.set(n, st.Size()) }}
	return torchckpt.Read(r, st.Size())
}

// countingReaderAt reports the bytes read so far through it.
type countingReaderAt struct {
	r      io.ReaderAt
	report func(n int64)
	mu     sync.Mutex
	n      int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.mu.Lock()
	c.n += int64(n)
	total := c.n
	c.mu.Unlock()
	c.report(total)
	return n, err
}
