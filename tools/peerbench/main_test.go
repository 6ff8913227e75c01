package main

import (
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSkipsWithoutOnnxRuntime(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is part of the build environment (web tests use it)")
	}
	err := run([]string{"-node-modules", filepath.Join(t.TempDir(), "none")}, io.Discard, io.Discard)
	var skip *skipError
	if !errors.As(err, &skip) || !strings.Contains(skip.reason, "onnxruntime-node is not installed") {
		t.Fatalf("err = %v, want a skip naming onnxruntime-node", err)
	}
	if err := run([]string{"-rounds", "0"}, io.Discard, io.Discard); err == nil || errors.As(err, &skip) {
		t.Fatalf("-rounds 0: err = %v, want a failure", err)
	}
}

func TestRunJSON(t *testing.T) {
	var v struct {
		Median float64 `json:"median_s"`
	}
	// Runners may print other lines first; the last JSON object counts.
	cmd := exec.Command("sh", "-c", `echo 'warming up'; echo '{"median_s": 0.5}'`)
	if err := runJSON(cmd, io.Discard, &v); err != nil || v.Median != 0.5 {
		t.Fatalf("median %v, err %v", v.Median, err)
	}
	if err := runJSON(exec.Command("sh", "-c", "echo nothing"), io.Discard, &v); err == nil {
		t.Fatal("no error for output without JSON")
	}
	if err := runJSON(exec.Command("sh", "-c", "exit 3"), io.Discard, &v); err == nil {
		t.Fatal("no error for a failing command")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}
