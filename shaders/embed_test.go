package shaders

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gogpu/naga"
)

// TestNagaValidate parses, lowers, validates and compiles every variant of every kernel.
// (gogpu/naga accepts some WGSL that Tint rejects; the browser harness is the stricter check.)
func TestNagaValidate(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no embedded kernels")
	}
	for _, name := range names {
		vs, err := Variants(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, defs := range vs {
			src, err := Source(name, defs...)
			if err != nil {
				t.Fatal(err)
			}
			label := name + strings.Join(append([]string{""}, defs...), "/")
			ast, err := naga.Parse(src)
			if err != nil {
				t.Errorf("%s: parse: %v", label, err)
				continue
			}
			mod, err := naga.LowerWithSource(ast, src)
			if err != nil {
				t.Errorf("%s: lower: %v", label, err)
				continue
			}
			errs, err := naga.Validate(mod)
			if err != nil || len(errs) > 0 {
				t.Errorf("%s: validate: %v %v", label, err, errs)
				continue
			}
			if _, err := naga.Compile(src); err != nil {
				t.Errorf("%s: compile: %v", label, err)
			}
			if strings.Contains(src, "enable f16") {
				t.Errorf("%s: uses enable f16", label)
			}
		}
	}
}

// TestInclude checks that the kernels with the fused epilogue get the shared activation code.
func TestInclude(t *testing.T) {
	for _, name := range []string{"linear", "conv2d", "affine"} {
		src, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(src, "fn erf_f32(") || !strings.Contains(src, "fn act(") || strings.Contains(src, "//#include") {
			t.Errorf("%s: epilogue.wgsli not included", name)
		}
	}
}

func TestSourceVariants(t *testing.T) {
	f32, err := Source("linear")
	if err != nil {
		t.Fatal(err)
	}
	f16, err := Source("linear", "F16")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f32, "array<f32>;\nfn load_w") || !strings.Contains(f16, "unpack2x16float") || strings.Contains(f32, "unpack2x16float") {
		t.Error("F16 variant not selected")
	}
	if _, err := Source("no_such_kernel"); err == nil {
		t.Error("missing kernel gave no error")
	}
}

// wgslReserved are WGSL's reserved words: Tint rejects them as identifiers, gogpu/naga does not.
var wgslReserved = strings.Fields(`NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await
become binding_array cast catch class co_await co_return co_yield coherent column_major common compile compile_fragment
concept const_cast consteval constexpr constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast
enum explicit export extends extern external fallthrough filter final finally friend from fxgroup get goto groupshared
highp impl implements import inline instanceof interface layout lowp macro macro_rules match mediump meta mod module
move mut mutable namespace new nil noexcept noinline nointerpolation noperspective null nullptr of operator package
packoffset partition pass patch pixelfragment precise precision premerge priv protected pub public readonly ref
regardless register reinterpret_cast require resource restrict self set shared sizeof smooth snorm static
static_assert static_cast std subroutine super target template this thread_local throw trait try type typedef typeid
typename typeof union unless unorm unsafe unsized use using varying virtual volatile wgsl where with writeonly yield`)

// TestNoReservedWords checks that no kernel uses a WGSL reserved word as an identifier.
func TestNoReservedWords(t *testing.T) {
	ident := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	comment := regexp.MustCompile(`//.*`)
	for _, name := range Names() {
		src, err := Source(name, "F16", "DEFORM")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ident.FindAllString(comment.ReplaceAllString(src, ""), -1) {
			if slices.Contains(wgslReserved, id) {
				t.Errorf("%s: reserved word %q used as an identifier", name, id)
			}
		}
	}
}
