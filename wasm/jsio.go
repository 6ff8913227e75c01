//go:build js && wasm

package main

import (
	"errors"
	"io"
	"syscall/js"
	"unsafe"

	"github.com/demt-web/demt/colormap"
	"github.com/demt-web/demt/imageio"
)

// await blocks the calling goroutine (never a callback) until promise p settles.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{v: arg0(a)}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{err: errors.New(jsString(arg0(a)))}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	r := <-ch
	return r.v, r.err
}

func arg0(a []js.Value) js.Value {
	if len(a) == 0 {
		return js.Undefined()
	}
	return a[0]
}

// jsString is the message of a JS error or the string form of any value.
func jsString(v js.Value) string {
	if v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString {
		return v.Get("message").String()
	}
	return js.Global().Get("String").Invoke(v).String()
}

// streamReader reads a ReadableStreamDefaultReader as an io.Reader, one chunk per await.
type streamReader struct {
	r    js.Value
	buf  []byte
	done bool
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.done {
			return 0, io.EOF
		}
		res, err := await(s.r.Call("read"))
		if err != nil {
			return 0, coded("fetch", err)
		}
		if res.Get("done").Bool() {
			s.done = true
			continue
		}
		v := res.Get("value")
		n := v.Get("byteLength").Int()
		if cap(s.buf) < n {
			s.buf = make([]byte, n)
		}
		s.buf = s.buf[:n]
		js.CopyBytesToGo(s.buf, v)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// bytesFromJS copies a Uint8Array or Uint8ClampedArray into Go.
func bytesFromJS(v js.Value) []byte {
	b := make([]byte, v.Get("byteLength").Int())
	if v.Get("constructor").Get("name").String() != "Uint8Array" {
		v = js.Global().Get("Uint8Array").New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength"))
	}
	js.CopyBytesToGo(b, v)
	return b
}

// float32sToJS copies f into a new Float32Array (wasm memory is little-endian, as JS's is
// on every platform browsers run on).
func float32sToJS(f []float32) js.Value {
	arr := js.Global().Get("Float32Array").New(len(f))
	if len(f) > 0 {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(arr.Get("buffer")), b)
	}
	return arr
}

// bytesToJS copies b into a new Uint8ClampedArray (what ImageData takes).
func bytesToJS(b []byte) js.Value {
	arr := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(arr, b)
	return js.Global().Get("Uint8ClampedArray").New(arr.Get("buffer"))
}

// fitSize is imageio.FitSize for JS: fitSize(h, w, long) → [h, w].
func fitSize(_ js.Value, a []js.Value) any {
	if len(a) != 3 {
		return js.Null()
	}
	h, w := imageio.FitSize(a[0].Int(), a[1].Int(), a[2].Int())
	return js.ValueOf([]any{h, w})
}

// colormaps returns {palette, turbo}: colormap.Palette and colormap.Turbo sampled at 256
// points, each a Uint8Array of 256 RGB triples (for legends and colour scales).
func colormaps(js.Value, []js.Value) any {
	pal := colormap.Palette()
	p := make([]byte, 0, 768)
	t := make([]byte, 0, 768)
	for i := range 256 {
		p = append(p, pal[i][0], pal[i][1], pal[i][2])
		r, g, b := colormap.Turbo(float64(i) / 255)
		t = append(t, r, g, b)
	}
	pa := js.Global().Get("Uint8Array").New(768)
	js.CopyBytesToJS(pa, p)
	ta := js.Global().Get("Uint8Array").New(768)
	js.CopyBytesToJS(ta, t)
	return js.ValueOf(map[string]any{"palette": pa, "turbo": ta})
}
