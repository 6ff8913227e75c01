package torchckpt

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/demt-web/demt/internal/fixture"
)

// mustNotPanic reads b and reports a panic as a test failure naming the input.
func mustNotPanic(t *testing.T, what string, b []byte) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: panic: %v", what, r)
		}
	}()
	w, err := Read(bytes.NewReader(b), int64(len(b)))
	if err == nil {
		for _, x := range w.Tensors {
			if (x.F32 == nil) == (x.I64 == nil) || len(x.F32)+len(x.I64) != x.Numel() {
				t.Fatalf("%s: tensor %q has %d+%d values for shape %v", what, x.Name, len(x.F32), len(x.I64), x.Shape)
			}
		}
	}
	return err
}

// withDeadline runs fn and fails the test if it takes longer than d (a hang).
func withDeadline(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v", d)
	}
}

// rezip rebuilds a checkpoint zip with data.pkl replaced (fresh CRCs), so that a
// corrupted pickle reaches the pickle machine. Without storages, only data.pkl and
// version are kept.
func rezip(t *testing.T, orig []byte, pkl []byte, storages bool) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if !storages && strings.Contains(f.Name, "/data/") {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name, "/data.pkl") {
			w.Write(pkl)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pickleOf(t *testing.T, ckpt []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(ckpt), int64(len(ckpt)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("no data.pkl")
	return nil
}

// TestTruncatedAndCorrupted cuts real checkpoints at every 97th length and flips
// random bytes, in the file and in its pickle: errors or success, never a panic
// or a hang.
func TestTruncatedAndCorrupted(t *testing.T) {
	root := fixture.Root(t)
	files := []string{
		filepath.Join(root, "reader", "int64", "int64.pt"),
		filepath.Join(root, "reader", "storage_offset", "storage_offset.pt"),
		filepath.Join(root, "reader", "misc_dtypes", "misc_dtypes.pt"),
		filepath.Join(root, "swin-nyud-small", "model.pth"),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	withDeadline(t, 2*time.Minute, func() {
		for _, path := range files {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			name := filepath.Base(path)
			small := len(orig) < 1<<20
			// Prefixes of the file (the zip directory is at the end, so only small
			// files are cut everywhere; large ones near both ends).
			for n := 0; n < len(orig); n += 97 {
				if small || n < 1<<16 || n > len(orig)-1<<16 {
					if mustNotPanic(t, fmt.Sprintf("%s[:%d]", name, n), orig[:n]) == nil {
						t.Errorf("%s[:%d]: no error", name, n)
					}
				}
			}
			// Byte flips anywhere in the file.
			flips := 300
			if !small {
				flips = 30
			}
			for i := range flips {
				b := bytes.Clone(orig)
				pos := rng.IntN(len(b))
				if i%2 == 1 && !small { // the zip directory at the end
					pos = len(b) - 1 - rng.IntN(min(len(b), 1<<15))
				}
				b[pos] ^= byte(1 + rng.IntN(255))
				mustNotPanic(t, fmt.Sprintf("%s flip at %d", name, pos), b)
			}
			// Prefixes and byte flips of the pickle itself, re-zipped with good CRCs.
			pkl := pickleOf(t, orig)
			for n := 0; n < len(pkl); n += 97 {
				if err := mustNotPanic(t, fmt.Sprintf("%s data.pkl[:%d]", name, n), rezip(t, orig, pkl[:n], false)); err == nil {
					t.Errorf("%s data.pkl[:%d]: no error", name, n)
				}
			}
			for range flips {
				p := bytes.Clone(pkl)
				for range 1 + rng.IntN(3) {
					p[rng.IntN(len(p))] ^= byte(1 + rng.IntN(255))
				}
				mustNotPanic(t, name+" flipped data.pkl", rezip(t, orig, p, true))
			}
		}
	})
}
