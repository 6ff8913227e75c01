package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(in, []byte("input"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.bin")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.bin")
	cases := []struct {
		name    string
		path    string
		write   func(io.Writer) error
		wantErr string
	}{
		{"ok", out, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }, ""},
		{"failing writer keeps the old file", out, func(io.Writer) error { return errors.New("boom") }, "boom"},
		{"protected by name", in, func(io.Writer) error { return nil }, "refusing to overwrite input"},
		{"protected as the same file", link, func(io.Writer) error { return nil }, "refusing to overwrite input"},
		{"missing folder", filepath.Join(dir, "no", "x"), func(io.Writer) error { return nil }, "write "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Write(c.path, c.write, in)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "hello" {
		t.Fatalf("out = %q, %v", b, err)
	}
	if b, _ := os.ReadFile(in); string(b) != "input" {
		t.Fatalf("input changed: %q", b)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", st.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
