// Package shaders holds the WGSL compute kernels of the GPU executor, one kernel per file
// named after the plan op it computes (linear.wgsl for model.OpLinear, ...), embedded at
// build time, and a tiny line preprocessor that selects a kernel's variant.
package shaders

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

//go:embed *.wgsl *.wgsli
var files embed.FS

// Names lists the kernels (file names without ".wgsl"), sorted.
func Names() []string {
	ents, err := files.ReadDir(".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".wgsl"); ok {
			out = append(out, n)
		}
	}
	return out
}

// Variants returns the define sets a kernel is written for: nil (the plain kernel), every
// name that appears in one of its "//#if NAME" lines, one at a time, and all of them together.
func Variants(name string) ([][]string, error) {
	b, err := files.ReadFile(name + ".wgsl")
	if err != nil {
		return nil, fmt.Errorf("shader %s: %w", name, err)
	}
	out := [][]string{nil}
	var seen []string
	for _, line := range strings.Split(string(b), "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "//#if "); ok {
			d = strings.TrimSpace(d)
			if !slices.Contains(seen, d) {
				seen = append(seen, d)
				out = append(out, []string{d})
			}
		}
	}
	if len(seen) > 1 {
		out = append(out, seen)
	}
	return out, nil
}

// Source returns the WGSL of kernel name with the variant given by defines: a block
// "//#if NAME" … ["//#else" …] "//#endif" keeps its first part when NAME is defined and its
// else part otherwise (blocks do not nest), and a line "//#include NAME" is replaced by the
// text of NAME.wgsli (code several kernels share; includes do not nest).
func Source(name string, defines ...string) (string, error) {
	b, err := files.ReadFile(name + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shader %s: %w", name, err)
	}
	var out strings.Builder
	const (
		none = iota
		inIf
		inElse
	)
	state, keep := none, true
	for i, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "//#if "):
			if state != none {
				return "", fmt.Errorf("shader %s line %d: nested //#if", name, i+1)
			}
			state, keep = inIf, slices.Contains(defines, strings.TrimSpace(t[len("//#if "):]))
			continue
		case t == "//#else":
			if state != inIf {
				return "", fmt.Errorf("shader %s line %d: //#else without //#if", name, i+1)
			}
			state, keep = inElse, !keep
			continue
		case t == "//#endif":
			if state == none {
				return "", fmt.Errorf("shader %s line %d: //#endif without //#if", name, i+1)
			}
			state, keep = none, true
			continue
		case strings.HasPrefix(t, "//#include ") && keep:
			inc := strings.TrimSpace(t[len("//#include "):])
			b, err := files.ReadFile(inc + ".wgsli")
			if err != nil {
				return "", fmt.Errorf("shader %s line %d: include: %w", name, i+1, err)
			}
			out.Write(b)
			continue
		}
		if keep {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	if state != none {
		return "", fmt.Errorf("shader %s: unterminated //#if", name)
	}
	return out.String(), nil
}
