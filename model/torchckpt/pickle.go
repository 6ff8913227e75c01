package torchckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Values the pickle machine builds. Nothing here can run code: globals are
// names, and calling one only ever builds one of these types.
type (
	tuple []any
	list  struct{ items []any }
	set   struct{ items []any } // set or frozenset; inert
	// dict is a dict or OrderedDict in insertion order. String keys are indexed so
	// that assigning an existing key replaces its value in place, as in Python.
	dict struct {
		keys, vals []any
		index      map[string]int
	}
	// global is a module.name reference (GLOBAL / STACK_GLOBAL), never imported.
	global struct {
		module, name string
		kind         globalKind
		dt           dtype // for kindStorageType
	}
	// object is an inert placeholder: what calling, instantiating or building an
	// unknown global gives.
	object struct{ class string }
	// bigInt is an integer too large for int64 (LONG1/LONG4); only its size is kept.
	bigInt struct{ nbytes int }
	// storage is a persistent id ('storage', type, key, location, numel).
	storage struct {
		key   string
		dt    dtype
		numel int64
	}
	// tensor is a view (offset, shape, stride in elements) into a storage.
	tensor struct {
		st            *storage
		offset        int64
		shape, stride []int64
	}
)

func (g *global) String() string { return g.module + "." + g.name }

func newDict() *dict { return &dict{index: map[string]int{}} }

// set assigns d[k] = v. Unhashable keys (list, dict, set) are an error, as in Python.
func (d *dict) set(k, v any) error {
	switch k := k.(type) {
	case *list, *dict, *set:
		return fmt.Errorf("unhashable dict key of type %s", describe(k))
	case string:
		if i, ok := d.index[k]; ok {
			d.vals[i] = v
			return nil
		}
		d.index[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// get returns the value of the string key k.
func (d *dict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// describe names the type of a pickled value for error messages (never recursive).
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *bigInt:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *set:
		return "set"
	case *dict:
		return "dict"
	case *global:
		return "global " + v.String()
	case *object:
		return "placeholder object of " + v.class
	case *storage:
		return "storage"
	case *tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// Limits of the pickle machine.
const (
	maxMarkDepth = 10000   // nested MARKs (torch needs fewer than 10)
	maxRank      = 64      // tensor dimensions
	maxDim       = 1 << 40 // one dimension, stride, offset or storage size, in elements
	maxProtocol  = 5       // highest pickle protocol
	maxPickle    = 1 << 30 // bytes of data.pkl
	maxLine      = 1 << 16 // a GLOBAL module or name line
	// maxValues bounds the values a pickle may create (pushes and memo entries, counted as
	// they happen): a state dict needs a few dozen per tensor, so this is far above any
	// checkpoint, and it keeps the machine's stack and containers under ~64 MiB.
	maxValues = 1 << 22
	// maxMemo bounds the memo (a state dict memoizes a few entries per tensor).
	maxMemo = 1 << 20
	// maxValueBytes bounds the bytes of the strings and byte strings a pickle may create.
	maxValueBytes = 256 << 20
)

// Opcodes.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
)

// unsupportedOps names opcodes that are valid pickle but that torch never writes.
var unsupportedOps = map[byte]string{
	'F': "FLOAT", 'I': "INT", 'L': "LONG", 'P': "PERSID", 'S': "STRING", 'V': "UNICODE",
	'g': "GET", 'i': "INST", 'o': "OBJ", 'p': "PUT",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// unpickler is a pickle machine that builds values without running anything.
type unpickler struct {
	data     []byte
	pos      int
	stack    []any
	marks    [][]any
	memo     map[uint32]any
	storages map[string]*storage // persistent ids seen, by key
	values   int                 // values created so far (pushes, memo entries), bounded by maxValues
	bytes    int                 // bytes of string operands so far, bounded by maxValueBytes
}

// unpickle runs the pickle in data and returns the object STOP returns.
func unpickle(data []byte) (any, error) {
	u := &unpickler{
		data:     data,
		memo:     map[uint32]any{},
		storages: map[string]*storage{},
	}
	for {
		start := u.pos
		if start >= len(u.data) {
			return nil, pickleErr(start, errors.New("pickle ends without STOP (truncated)"))
		}
		op := u.data[start]
		u.pos++
		v, done, err := u.step(op)
		if err != nil {
			return nil, pickleErr(start, err)
		}
		if u.values > maxValues {
			return nil, pickleErr(start, fmt.Errorf("pickle creates more than %d values (a state dict needs far fewer): refusing it before it exhausts memory", maxValues))
		}
		if u.bytes > maxValueBytes {
			return nil, pickleErr(start, fmt.Errorf("pickle creates more than %d MiB of strings (a state dict needs far fewer): refusing it before it exhausts memory", maxValueBytes>>20))
		}
		if done {
			return v, nil
		}
	}
}

func pickleErr(off int, err error) error {
	return &Error{Part: "data.pkl", Offset: int64(off), Err: err}
}

// take returns the next n bytes, checking n against what remains.
func (u *unpickler) take(n uint64, what string) ([]byte, error) {
	left := uint64(len(u.data) - u.pos)
	if n > left {
		return nil, fmt.Errorf("%s of %d bytes exceeds the %d bytes left", what, n, left)
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) u8(what string) (uint64, error) {
	b, err := u.take(1, what)
	if err != nil {
		return 0, err
	}
	return uint64(b[0]), nil
}

func (u *unpickler) u16(what string) (uint64, error) {
	b, err := u.take(2, what)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint16(b)), nil
}

func (u *unpickler) u32(what string) (uint64, error) {
	b, err := u.take(4, what)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint32(b)), nil
}

func (u *unpickler) u64(what string) (uint64, error) {
	b, err := u.take(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// line reads a newline-terminated line (GLOBAL operands).
func (u *unpickler) line() (string, error) {
	rest := u.data[u.pos:]
	i := bytes.IndexByte(rest[:min(len(rest), maxLine)], '\n')
	if i < 0 {
		return "", errors.New("GLOBAL operand without newline")
	}
	u.pos += i + 1
	return string(rest[:i]), nil
}

func (u *unpickler) push(v any) {
	u.values++
	u.stack = append(u.stack, v)
}

func (u *unpickler) pop(op string) (any, error) {
	n := len(u.stack)
	if n == 0 {
		return nil, fmt.Errorf("%s: stack underflow", op)
	}
	v := u.stack[n-1]
	u.stack[n-1] = nil
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top(op string) (any, error) {
	if len(u.stack) == 0 {
		return nil, fmt.Errorf("%s: stack underflow", op)
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items pushed since the last MARK and restores the stack below it.
func (u *unpickler) popMark(op string) ([]any, error) {
	n := len(u.marks)
	if n == 0 {
		return nil, fmt.Errorf("%s without MARK", op)
	}
	items := u.stack
	u.stack = u.marks[n-1]
	u.marks[n-1] = nil
	u.marks = u.marks[:n-1]
	return items, nil
}

// popN pops n items into a new slice, in stack order.
func (u *unpickler) popN(n int, op string) ([]any, error) {
	if len(u.stack) < n {
		return nil, fmt.Errorf("%s: stack underflow", op)
	}
	items := make([]any, n)
	copy(items, u.stack[len(u.stack)-n:])
	clear(u.stack[len(u.stack)-n:])
	u.stack = u.stack[:len(u.stack)-n]
	return items, nil
}

func (u *unpickler) memoGet(idx uint64) (any, error) {
	v, ok := u.memo[uint32(idx)]
	if !ok {
		return nil, fmt.Errorf("memo index %d not defined (%d entries)", idx, len(u.memo))
	}
	return v, nil
}

func (u *unpickler) memoPut(idx uint64, op string) error {
	v, err := u.top(op)
	if err != nil {
		return err
	}
	if _, ok := u.memo[uint32(idx)]; !ok && len(u.memo) >= maxMemo {
		return fmt.Errorf("%s: memo of more than %d entries (a state dict needs far fewer)", op, maxMemo)
	}
	u.values++
	u.memo[uint32(idx)] = v
	return nil
}

// str reads a string operand whose length field has the given size.
func (u *unpickler) str(lenBytes int, what string) (string, error) {
	b, err := u.bytesOp(lenBytes, what)
	return string(b), err
}

// bytesOp reads a length-prefixed byte operand (length field of lenBytes bytes).
func (u *unpickler) bytesOp(lenBytes int, what string) ([]byte, error) {
	var n uint64
	var err error
	switch lenBytes {
	case 1:
		n, err = u.u8(what)
	case 4:
		n, err = u.u32(what)
	default:
		n, err = u.u64(what)
	}
	if err != nil {
		return nil, err
	}
	if n <= maxValueBytes {
		u.bytes += int(n)
	}
	return u.take(n, what)
}

// step executes one opcode. done is true at STOP, with the result in v.
func (u *unpickler) step(op byte) (v any, done bool, err error) {
	switch op {
	case opProto:
		p, err := u.u8("PROTO")
		if err != nil {
			return nil, false, err
		}
		if p > maxProtocol {
			return nil, false, fmt.Errorf("unsupported pickle protocol %d", p)
		}
	case opFrame:
		n, err := u.u64("FRAME")
		if err != nil {
			return nil, false, err
		}
		if left := uint64(len(u.data) - u.pos); n > left {
			return nil, false, fmt.Errorf("FRAME of %d bytes exceeds the %d bytes left", n, left)
		}
	case opStop:
		v, err := u.pop("STOP")
		return v, err == nil, err
	case opMark:
		if len(u.marks) >= maxMarkDepth {
			return nil, false, fmt.Errorf("MARK nesting deeper than %d", maxMarkDepth)
		}
		u.marks = append(u.marks, u.stack)
		u.stack = nil
	case opPop:
		if len(u.stack) > 0 {
			_, err = u.pop("POP")
		} else {
			_, err = u.popMark("POP")
		}
	case opPopMark:
		_, err = u.popMark("POP_MARK")
	case opDup:
		var v any
		if v, err = u.top("DUP"); err == nil {
			u.push(v)
		}

	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opBinInt:
		var n uint64
		if n, err = u.u32("BININT"); err == nil {
			u.push(int64(int32(uint32(n))))
		}
	case opBinInt1:
		var n uint64
		if n, err = u.u8("BININT1"); err == nil {
			u.push(int64(n))
		}
	case opBinInt2:
		var n uint64
		if n, err = u.u16("BININT2"); err == nil {
			u.push(int64(n))
		}
	case opLong1, opLong4:
		lenBytes := 1
		if op == opLong4 {
			lenBytes = 4
		}
		var b []byte
		if b, err = u.bytesOp(lenBytes, "LONG"); err == nil {
			u.push(decodeLong(b))
		}
	case opBinFloat:
		var b []byte
		if b, err = u.take(8, "BINFLOAT"); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}

	case opShortBinUni, opShortBinString:
		var s string
		if s, err = u.str(1, "string"); err == nil {
			u.push(s)
		}
	case opBinUnicode, opBinString:
		var s string
		if s, err = u.str(4, "string"); err == nil {
			u.push(s)
		}
	case opBinUnicode8:
		var s string
		if s, err = u.str(8, "string"); err == nil {
			u.push(s)
		}
	case opShortBinBytes:
		var b []byte
		if b, err = u.bytesOp(1, "bytes"); err == nil {
			u.push(b)
		}
	case opBinBytes:
		var b []byte
		if b, err = u.bytesOp(4, "bytes"); err == nil {
			u.push(b)
		}
	case opBinBytes8, opByteArray8:
		var b []byte
		if b, err = u.bytesOp(8, "bytes"); err == nil {
			u.push(b)
		}

	case opEmptyTuple:
		u.push(tuple{})
	case opTuple:
		var items []any
		if items, err = u.popMark("TUPLE"); err == nil {
			u.push(tuple(items))
		}
	case opTuple1, opTuple2, opTuple3:
		var items []any
		if items, err = u.popN(int(op-opTuple1)+1, "TUPLE1/2/3"); err == nil {
			u.push(tuple(items))
		}
	case opEmptyList:
		u.push(&list{})
	case opList:
		var items []any
		if items, err = u.popMark("LIST"); err == nil {
			u.push(&list{items: items})
		}
	case opEmptyDict:
		u.push(newDict())
	case opDict:
		var items []any
		if items, err = u.popMark("DICT"); err == nil {
			d := newDict()
			if err = setItems(d, items); err == nil {
				u.push(d)
			}
		}
	case opEmptySet:
		u.push(&set{})
	case opFrozenSet:
		var items []any
		if items, err = u.popMark("FROZENSET"); err == nil {
			u.push(&set{items: items})
		}

	case opAppend:
		var v any
		if v, err = u.pop("APPEND"); err == nil {
			err = u.appendItems([]any{v}, "APPEND")
		}
	case opAppends:
		var items []any
		if items, err = u.popMark("APPENDS"); err == nil {
			err = u.appendItems(items, "APPENDS")
		}
	case opAddItems:
		var items []any
		if items, err = u.popMark("ADDITEMS"); err == nil {
			var t any
			if t, err = u.top("ADDITEMS"); err == nil {
				s, ok := t.(*set)
				if !ok {
					return nil, false, fmt.Errorf("ADDITEMS to a %s", describe(t))
				}
				s.items = append(s.items, items...)
			}
		}
	case opSetItem:
		var kv []any
		if kv, err = u.popN(2, "SETITEM"); err == nil {
			err = u.setItemsOnTop(kv, "SETITEM")
		}
	case opSetItems:
		var items []any
		if items, err = u.popMark("SETITEMS"); err == nil {
			err = u.setItemsOnTop(items, "SETITEMS")
		}

	case opBinPut:
		var i uint64
		if i, err = u.u8("BINPUT"); err == nil {
			err = u.memoPut(i, "BINPUT")
		}
	case opLongBinPut:
		var i uint64
		if i, err = u.u32("LONG_BINPUT"); err == nil {
			err = u.memoPut(i, "LONG_BINPUT")
		}
	case opMemoize:
		err = u.memoPut(uint64(len(u.memo)), "MEMOIZE")
	case opBinGet:
		var i uint64
		if i, err = u.u8("BINGET"); err == nil {
			var v any
			if v, err = u.memoGet(i); err == nil {
				u.push(v)
			}
		}
	case opLongBinGet:
		var i uint64
		if i, err = u.u32("LONG_BINGET"); err == nil {
			var v any
			if v, err = u.memoGet(i); err == nil {
				u.push(v)
			}
		}

	case opGlobal:
		var module, name string
		if module, err = u.line(); err != nil {
			return nil, false, err
		}
		if name, err = u.line(); err != nil {
			return nil, false, err
		}
		var g *global
		if g, err = resolveGlobal(module, name); err == nil {
			u.push(g)
		}
	case opStackGlobal:
		var mn []any
		if mn, err = u.popN(2, "STACK_GLOBAL"); err != nil {
			return nil, false, err
		}
		module, ok1 := mn[0].(string)
		name, ok2 := mn[1].(string)
		if !ok1 || !ok2 {
			return nil, false, fmt.Errorf("STACK_GLOBAL of a %s and a %s (want two str)", describe(mn[0]), describe(mn[1]))
		}
		var g *global
		if g, err = resolveGlobal(module, name); err == nil {
			u.push(g)
		}
	case opReduce:
		var fa []any
		if fa, err = u.popN(2, "REDUCE"); err == nil {
			var v any
			if v, err = call(fa[0], fa[1], "REDUCE"); err == nil {
				u.push(v)
			}
		}
	case opNewObj:
		var ca []any
		if ca, err = u.popN(2, "NEWOBJ"); err == nil {
			var v any
			if v, err = newObj(ca[0], ca[1], "NEWOBJ"); err == nil {
				u.push(v)
			}
		}
	case opNewObjEx:
		var ca []any
		if ca, err = u.popN(3, "NEWOBJ_EX"); err == nil {
			var v any
			if v, err = newObj(ca[0], ca[1], "NEWOBJ_EX"); err == nil {
				u.push(v)
			}
		}
	case opBuild:
		var state any
		if state, err = u.pop("BUILD"); err == nil {
			var inst any
			if inst, err = u.top("BUILD"); err == nil {
				err = build(inst, state)
			}
		}
	case opBinPersID:
		var pid any
		if pid, err = u.pop("BINPERSID"); err == nil {
			var st *storage
			if st, err = u.persistentLoad(pid); err == nil {
				u.push(st)
			}
		}

	default:
		if name, ok := unsupportedOps[op]; ok {
			return nil, false, fmt.Errorf("unsupported opcode %s (0x%02x)", name, op)
		}
		return nil, false, fmt.Errorf("unknown opcode 0x%02x", op)
	}
	return nil, false, err
}

// decodeLong decodes a little-endian two's-complement integer (LONG1/LONG4).
func decodeLong(b []byte) any {
	if len(b) > 8 {
		return &bigInt{nbytes: len(b)}
	}
	if len(b) == 0 {
		return int64(0)
	}
	var x uint64
	for i := len(b) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	shift := uint(64 - 8*len(b))
	return int64(x<<shift) >> shift // sign-extend
}

// appendItems implements APPEND(S) on the object on top of the stack.
func (u *unpickler) appendItems(items []any, op string) error {
	t, err := u.top(op)
	if err != nil {
		return err
	}
	switch t := t.(type) {
	case *list:
		t.items = append(t.items, items...)
	case *object:
		// Inert: a placeholder list subclass keeps nothing.
	default:
		return fmt.Errorf("%s to a %s", op, describe(t))
	}
	return nil
}

// setItemsOnTop implements SETITEM(S) on the object on top of the stack.
func (u *unpickler) setItemsOnTop(items []any, op string) error {
	t, err := u.top(op)
	if err != nil {
		return err
	}
	switch t := t.(type) {
	case *dict:
		return setItems(t, items)
	case *object:
		// Inert: a placeholder dict subclass keeps nothing.
		if len(items)%2 != 0 {
			return fmt.Errorf("%s with an odd number (%d) of items", op, len(items))
		}
		return nil
	}
	return fmt.Errorf("%s on a %s", op, describe(t))
}

func setItems(d *dict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number (%d) of dict items", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// resolveGlobal turns GLOBAL module name into a global, refusing code-execution vectors.
func resolveGlobal(module, name string) (*global, error) {
	if module == "" || name == "" {
		return nil, fmt.Errorf("malformed global %q %q", module, name)
	}
	g := &global{module: module, name: name}
	full := g.String()
	if isRefused(module, name) {
		return nil, fmt.Errorf("%w %s (code execution)", ErrRefusedGlobal, full)
	}
	if dt, ok := storageTypes[full]; ok {
		g.kind, g.dt = kindStorageType, dt
	} else {
		g.kind = allowedGlobals[full] // kindPlaceholder when absent
	}
	return g, nil
}

// call implements REDUCE: fn(*args).
func call(fn, args any, op string) (any, error) {
	a, ok := args.(tuple)
	if !ok {
		return nil, fmt.Errorf("%s with arguments of type %s (want tuple)", op, describe(args))
	}
	switch fn := fn.(type) {
	case *object:
		return &object{class: fn.class}, nil
	case *global:
		switch fn.kind {
		case kindPlaceholder:
			return &object{class: fn.String()}, nil
		case kindOrderedDict:
			return newOrderedDict(a)
		case kindRebuildTensor, kindRebuildTensorLegacy:
			t, err := rebuildTensor(a, fn.kind == kindRebuildTensorLegacy)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			return t, nil
		case kindRebuildParameter:
			if len(a) < 1 {
				return nil, fmt.Errorf("%s: no arguments", fn)
			}
			t, ok := a[0].(*tensor)
			if !ok {
				return nil, fmt.Errorf("%s: data is a %s, not a tensor", fn, describe(a[0]))
			}
			return t, nil
		case kindRebuildFromType:
			// _rebuild_from_type_v2(func, new_type, args, state): func must be a
			// tensor rebuild function; new_type and state are ignored.
			if len(a) != 4 {
				return nil, fmt.Errorf("%s: %d arguments, want 4", fn, len(a))
			}
			inner, ok := a[0].(*global)
			if !ok || (inner.kind != kindRebuildTensor && inner.kind != kindRebuildTensorLegacy && inner.kind != kindRebuildParameter) {
				return nil, fmt.Errorf("%s: function is a %s, not a tensor rebuild function", fn, describe(a[0]))
			}
			return call(inner, a[2], op)
		}
		return nil, fmt.Errorf("%s: cannot call %s in a state dict", op, fn)
	}
	return nil, fmt.Errorf("%s: cannot call a %s", op, describe(fn))
}

// newObj implements NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args).
func newObj(cls, args any, op string) (any, error) {
	if _, ok := args.(tuple); !ok {
		return nil, fmt.Errorf("%s with arguments of type %s (want tuple)", op, describe(args))
	}
	switch cls := cls.(type) {
	case *object:
		return &object{class: cls.class}, nil
	case *global:
		switch cls.kind {
		case kindPlaceholder:
			return &object{class: cls.String()}, nil
		case kindOrderedDict:
			return newDict(), nil
		}
		return nil, fmt.Errorf("%s: cannot instantiate %s", op, cls)
	}
	return nil, fmt.Errorf("%s: cannot instantiate a %s", op, describe(cls))
}

// newOrderedDict implements collections.OrderedDict() and OrderedDict([(k, v), ...]).
func newOrderedDict(args tuple) (any, error) {
	d := newDict()
	if len(args) == 0 {
		return d, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("collections.OrderedDict with %d arguments", len(args))
	}
	var pairs []any
	switch a := args[0].(type) {
	case *list:
		pairs = a.items
	case tuple:
		pairs = a
	default:
		return nil, fmt.Errorf("collections.OrderedDict of a %s", describe(args[0]))
	}
	for _, p := range pairs {
		kv, ok := p.(tuple)
		if !ok || len(kv) != 2 {
			return nil, fmt.Errorf("collections.OrderedDict item is a %s, not a pair", describe(p))
		}
		if err := d.set(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// build implements BUILD: state is ignored (e.g. the _metadata attribute of a
// state dict, the __dict__ of a placeholder); only plausible targets are accepted.
func build(inst, state any) error {
	switch inst.(type) {
	case *dict, *object, *tensor:
		return nil
	}
	return fmt.Errorf("BUILD on a %s", describe(inst))
}

// persistentLoad resolves BINPERSID ('storage', storage_type, key, location, numel).
func (u *unpickler) persistentLoad(pid any) (*storage, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("persistent id is a %s, want a 5-tuple ('storage', type, key, location, numel)", describe(pid))
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id of kind %s, want 'storage'", describe(t[0]))
	}
	g, ok := t[1].(*global)
	if !ok {
		return nil, fmt.Errorf("storage type is a %s, want a torch storage class or dtype", describe(t[1]))
	}
	if g.kind != kindStorageType {
		return nil, fmt.Errorf("unsupported storage type %s", g)
	}
	var key string
	switch k := t[2].(type) {
	case string:
		key = k
	case int64:
		key = strconv.FormatInt(k, 10)
	default:
		return nil, fmt.Errorf("storage key is a %s", describe(t[2]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 || numel > maxDim {
		return nil, fmt.Errorf("storage %q: bad element count (%s)", key, describeInt(t[4]))
	}
	st := &storage{key: key, dt: g.dt, numel: numel}
	if prev, ok := u.storages[key]; ok {
		if prev.dt != st.dt || prev.numel != st.numel {
			return nil, fmt.Errorf("storage %q used as %d×%s and as %d×%s", key, prev.numel, prev.dt, numel, st.dt)
		}
		return prev, nil
	}
	u.storages[key] = st
	return st, nil
}

func describeInt(v any) string {
	if n, ok := v.(int64); ok {
		return strconv.FormatInt(n, 10)
	}
	return describe(v)
}

// rebuildTensor implements _rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]) and the legacy _rebuild_tensor(storage,
// storage_offset, size, stride). Bounds against the storage are checked when the
// tensor is read.
func rebuildTensor(a tuple, legacy bool) (*tensor, error) {
	if legacy && len(a) != 4 || !legacy && len(a) != 6 && len(a) != 7 {
		return nil, fmt.Errorf("%d arguments", len(a))
	}
	st, ok := a[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("storage is a %s", describe(a[0]))
	}
	off, ok := a[1].(int64)
	if !ok || off < 0 || off > maxDim {
		return nil, fmt.Errorf("bad storage offset (%s)", describeInt(a[1]))
	}
	shape, err := intTuple(a[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(a[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("size has %d dimensions, stride %d", len(shape), len(stride))
	}
	return &tensor{st: st, offset: off, shape: shape, stride: stride}, nil
}

// intTuple reads a tuple of non-negative ints (a size or stride).
func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(tuple)
	if !ok {
		return nil, fmt.Errorf("%s is a %s, want a tuple", what, describe(v))
	}
	if len(t) > maxRank {
		return nil, fmt.Errorf("%s has %d dimensions (max %d)", what, len(t), maxRank)
	}
	out := make([]int64, len(t))
	for i, e := range t {
		n, ok := e.(int64)
		if !ok || n < 0 || n > maxDim {
			return nil, fmt.Errorf("%s[%d] is %s", what, i, describeInt(e))
		}
		out[i] = n
	}
	return out, nil
}
