package optest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/optest"
	"github.com/demt-web/demt/model"
)

// TestEveryOpKindHasItsFiles: an op kind's one name finds its CPU kernel (cpu/<name>.go), its
// WGSL kernel (shaders/<name>.wgsl) and at least one parity case ("<name>" or "<name>/…").
func TestEveryOpKindHasItsFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	cases := map[string]bool{}
	for _, c := range optest.Cases() {
		name, _, _ := strings.Cut(c.Name, "/")
		cases[name] = true
	}
	for k := 0; k < model.NumOpKinds; k++ {
		name := model.OpKind(k).FileName()
		for _, f := range []string{filepath.Join("cpu", name+".go"), filepath.Join("shaders", name+".wgsl")} {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("%s: %v", model.OpKind(k), err)
			}
		}
		if !cases[name] {
			t.Errorf("%s: no parity case %q in optest.Cases", model.OpKind(k), name)
		}
	}
}
