package torchckpt

import (
	"strings"

	"github.com/demt-web/demt/model"
)

// dtype is the element type of a storage.
type dtype uint8

const (
	dtInvalid dtype = iota
	dtF32
	dtF16
	dtBF16
	dtF64
	dtI64
	dtI32
	dtI16
	dtI8
	dtU8
	dtBool
)

// dtypeInfo describes each dtype: its name, its size in bytes, the model.DType it
// is recorded as, and whether it is read into Tensor.F32 (else Tensor.I64).
var dtypeInfo = [...]struct {
	name  string
	size  int64
	model model.DType
	float bool
}{
	dtInvalid: {"invalid", 0, "", false},
	dtF32:     {"float32", 4, model.F32, true},
	dtF16:     {"float16", 2, model.F16, true},
	dtBF16:    {"bfloat16", 2, model.BF16, true},
	dtF64:     {"float64", 8, model.F64, true},
	dtI64:     {"int64", 8, model.I64, false},
	dtI32:     {"int32", 4, model.DType("int32"), false},
	dtI16:     {"int16", 2, model.DType("int16"), false},
	dtI8:      {"int8", 1, model.I8, false},
	dtU8:      {"uint8", 1, model.DType("uint8"), false},
	dtBool:    {"bool", 1, model.DType("bool"), false},
}

func (d dtype) String() string { return dtypeInfo[d].name }

// globalKind says what a pickle global is allowed to become.
type globalKind uint8

const (
	// kindPlaceholder: any global that is neither allowed nor refused. It is never
	// resolved; calling or instantiating it gives an inert placeholder object.
	kindPlaceholder globalKind = iota
	kindOrderedDict
	kindRebuildTensor       // torch._utils._rebuild_tensor_v2
	kindRebuildTensorLegacy // torch._utils._rebuild_tensor
	kindRebuildParameter    // torch._utils._rebuild_parameter(_with_state)
	kindRebuildFromType     // torch._tensor._rebuild_from_type_v2
	kindStorageType         // torch.FloatStorage, ..., torch.float32, ...: a storage type tag
)

// allowedGlobals are the only globals that are turned into real values.
var allowedGlobals = map[string]globalKind{
	"collections.OrderedDict":                    kindOrderedDict,
	"torch._utils._rebuild_tensor_v2":            kindRebuildTensor,
	"torch._utils._rebuild_tensor":               kindRebuildTensorLegacy,
	"torch._utils._rebuild_parameter":            kindRebuildParameter,
	"torch._utils._rebuild_parameter_with_state": kindRebuildParameter,
	"torch._tensor._rebuild_from_type_v2":        kindRebuildFromType,
}

// storageTypes maps the storage classes and dtype objects torch writes as the
// storage type of a persistent id to the element type.
var storageTypes = map[string]dtype{
	"torch.FloatStorage":            dtF32,
	"torch.HalfStorage":             dtF16,
	"torch.BFloat16Storage":         dtBF16,
	"torch.DoubleStorage":           dtF64,
	"torch.LongStorage":             dtI64,
	"torch.IntStorage":              dtI32,
	"torch.ShortStorage":            dtI16,
	"torch.CharStorage":             dtI8,
	"torch.ByteStorage":             dtU8,
	"torch.BoolStorage":             dtBool,
	"torch.cuda.FloatStorage":       dtF32,
	"torch.cuda.HalfStorage":        dtF16,
	"torch.cuda.BFloat16Storage":    dtBF16,
	"torch.cuda.DoubleStorage":      dtF64,
	"torch.cuda.LongStorage":        dtI64,
	"torch.cuda.IntStorage":         dtI32,
	"torch.cuda.ShortStorage":       dtI16,
	"torch.cuda.CharStorage":        dtI8,
	"torch.cuda.ByteStorage":        dtU8,
	"torch.cuda.BoolStorage":        dtBool,
	"torch.UntypedStorage":          dtU8,
	"torch.storage.UntypedStorage":  dtU8,
	"torch.storage._UntypedStorage": dtU8,
	"torch.float32":                 dtF32,
	"torch.float":                   dtF32,
	"torch.float16":                 dtF16,
	"torch.half":                    dtF16,
	"torch.bfloat16":                dtBF16,
	"torch.float64":                 dtF64,
	"torch.double":                  dtF64,
	"torch.int64":                   dtI64,
	"torch.long":                    dtI64,
	"torch.int32":                   dtI32,
	"torch.int":                     dtI32,
	"torch.int16":                   dtI16,
	"torch.short":                   dtI16,
	"torch.int8":                    dtI8,
	"torch.uint8":                   dtU8,
	"torch.bool":                    dtBool,
}

// refusedModules are top-level modules whose globals are known code-execution
// (or file, process, network) vectors. Any global from them, or whose attribute
// path passes through one of them, is refused.
var refusedModules = map[string]bool{
	"os": true, "posix": true, "nt": true, "subprocess": true, "_posixsubprocess": true,
	"sys": true, "shutil": true, "socket": true, "pty": true, "importlib": true,
	"runpy": true, "pickle": true, "_pickle": true, "cPickle": true, "dill": true,
	"marshal": true, "types": true, "webbrowser": true, "ctypes": true, "_ctypes": true,
	"multiprocessing": true, "code": true, "codeop": true, "commands": true, "popen2": true,
	"platform": true, "pdb": true, "bdb": true, "timeit": true, "cProfile": true,
	"profile": true, "trace": true, "asyncio": true, "_thread": true, "threading": true,
	"signal": true, "io": true, "_io": true, "pathlib": true, "tempfile": true,
	"shelve": true, "zipimport": true, "pkgutil": true, "urllib": true, "http": true,
	"ftplib": true, "smtplib": true, "_winapi": true,
}

// builtinModules are the names of the Python builtins module.
var builtinModules = map[string]bool{"builtins": true, "__builtin__": true, "__builtins__": true}

// refusedBuiltins are builtins that run code, import modules or reach attributes.
var refusedBuiltins = map[string]bool{
	"eval": true, "exec": true, "execfile": true, "compile": true, "open": true,
	"getattr": true, "setattr": true, "delattr": true, "__import__": true, "apply": true,
	"input": true, "breakpoint": true, "globals": true, "locals": true, "vars": true,
}

// refusedGlobals are single refused globals of otherwise harmless modules.
var refusedGlobals = map[string]bool{
	"functools.partial":                      true,
	"functools.reduce":                       true,
	"operator.attrgetter":                    true,
	"operator.methodcaller":                  true,
	"numpy.testing._private.utils.runstring": true,
}

// isRefused reports whether the global module.name is a known code-execution vector.
func isRefused(module, name string) bool {
	top, _, _ := strings.Cut(module, ".")
	if refusedModules[top] || refusedGlobals[module+"."+name] {
		return true
	}
	parts := strings.Split(name, ".")
	if builtinModules[module] && refusedBuiltins[parts[0]] {
		return true
	}
	for _, p := range parts {
		// An attribute path such as torch.serialization.os.system reaches a
		// refused module through an allowed one.
		if refusedModules[p] || len(parts) > 1 && refusedBuiltins[p] {
			return true
		}
	}
	return false
}
