//go:build amd64 && !noasm

package cpu

// HasSIMD reports whether this CPU runs the AVX2 + FMA kernels.
func HasSIMD() bool { return haveSIMD }

// DisableSIMD makes executors built from now on, and the kernels they run, use the portable
// code (what the wasm build and other architectures run) instead of the assembly; the
// returned function restores the setting. Tests that call it must not run in parallel.
func DisableSIMD() (restore func()) {
	old := haveSIMD
	haveSIMD = false
	return func() { haveSIMD = old }
}
