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
	text, err := expanded(name)
	if err != nil {
		return nil, err
	}
	out := [][]string{nil}
	var seen []string
	for _, line := range strings.Split(text, "\n") {
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
// text of NAME.wgsli (code several kernels share; an included file may include others).
func Source(name string, defines ...string) (string, error) {
	text, err := expanded(name)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	const (
		none = iota
		inIf
		inElse
	)
	state, keep := none, true
	for i, line := range strings.Split(text, "\n") {
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

// maxIncludeDepth bounds nested includes (and so include cycles).
const maxIncludeDepth = 4

// expanded returns the text of kernel name with every "//#include NAME" line replaced by the
// (expanded) text of NAME.wgsli; lines keep their order, so //#if blocks may span includes.
func expanded(name string) (string, error) {
	b, err := files.ReadFile(name + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shader %s: %w", name, err)
	}
	return expand(name, string(b), 0)
}

func expand(name, text string, depth int) (string, error) {
	if !strings.Contains(text, "//#include ") {
		return text, nil
	}
	if depth >= maxIncludeDepth {
		return "", fmt.Errorf("shader %s: includes nested deeper than %d", name, maxIncludeDepth)
	}
	var out strings.Builder
	for i, line := range strings.Split(text, "\n") {
		inc, ok := strings.CutPrefix(strings.TrimSpace(line), "//#include ")
		if !ok {
			out.WriteString(line)
			out.WriteByte('\n')
			continue
		}
		b, err := files.ReadFile(strings.TrimSpace(inc) + ".wgsli")
		if err != nil {
			return "", fmt.Errorf("shader %s line %d: include: %w", name, i+1, err)
		}
		sub, err := expand(name, string(b), depth+1)
		if err != nil {
			return "", err
		}
		out.WriteString(sub)
		if !strings.HasSuffix(sub, "\n") {
			out.WriteByte('\n')
		}
	}
	return strings.TrimSuffix(out.String(), "\n"), nil
}
