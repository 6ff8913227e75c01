//go:build js && wasm

// Command wasm is the browser side of demt-web: compiled with GOOS=js GOARCH=wasm, it
// registers globalThis.demtGo with the functions web/demt.js wraps. This first version runs
// the CPU reference executor inside wasm (the fallback where no WebGPU adapter exists); the
// browser issue adds the WebGPU executor, streaming loads and the pages.
//
//	demtGo.load(bytes: Uint8Array) → Promise<string>   (the .demt metadata as JSON)
//	demtGo.infer(rgba: Uint8Array, width, height) → Promise<{[task]: Float32Array}>
//	                                                   (raw logits, (C,H,W), as --raw writes)
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"syscall/js"

	"github.com/demt-web/demt/cpu"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/demtfile"
)

// session is the loaded model and the executor of the last input size.
type session struct {
	file *demtfile.File
	exec *cpu.Executor
	h, w int
}

func main() {
	s := &session{}
	api := js.Global().Get("Object").New()
	api.Set("load", promiseFunc(s.load))
	api.Set("infer", promiseFunc(s.infer))
	js.Global().Set("demtGo", api)
	select {}
}

// promiseFunc wraps f as a JS function returning a Promise; f runs in a goroutine, never in
// the callback itself (blocking there deadlocks Go's wasm runtime).
func promiseFunc(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, pr []js.Value) any {
			resolve, reject := pr[0], pr[1]
			go func() {
				v, err := f(args)
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				resolve.Invoke(v)
			}()
			return nil
		}))
	})
}

func (s *session) load(args []js.Value) (any, error) {
	if len(args) != 1 {
		return nil, errors.New("load(bytes): want one Uint8Array")
	}
	buf := make([]byte, args[0].Get("length").Int())
	js.CopyBytesToGo(buf, args[0])
	f, err := demtfile.Read(bytes.NewReader(buf), nil)
	if err != nil {
		return nil, err
	}
	if s.exec != nil {
		s.exec.Close()
	}
	s.file, s.exec = f, nil
	meta, err := json.Marshal(f.Meta)
	if err != nil {
		return nil, err
	}
	return string(meta), nil
}

func (s *session) infer(args []js.Value) (any, error) {
	if s.file == nil {
		return nil, errors.New("infer: no model loaded")
	}
	if len(args) != 3 {
		return nil, errors.New("infer(rgba, width, height): want three arguments")
	}
	w, h := args[1].Int(), args[2].Int()
	if w < model.MinInputSize || h < model.MinInputSize {
		return nil, fmt.Errorf("infer: image %dx%d is smaller than %dx%d", w, h, model.MinInputSize, model.MinInputSize)
	}
	rgba := make([]byte, args[0].Get("length").Int())
	if len(rgba) != w*h*4 {
		return nil, fmt.Errorf("infer: %d bytes for a %dx%d RGBA image", len(rgba), w, h)
	}
	js.CopyBytesToGo(rgba, args[0])
	if s.exec == nil || s.h != h || s.w != w {
		plain, err := model.Build(&s.file.Meta.Config, s.file.Weights, h, w)
		if err != nil {
			return nil, err
		}
		plan, err := model.Optimize(plain)
		if err != nil {
			return nil, err
		}
		if s.exec != nil {
			s.exec.Close()
		}
		if s.exec, err = cpu.New(plan, cpu.Options{}); err != nil {
			return nil, err
		}
		s.h, s.w = h, w
	}
	n := s.file.Meta.Normalization
	in := make([]float32, h*w*3)
	for p := 0; p < h*w; p++ {
		for c := 0; c < 3; c++ {
			in[3*p+c] = (float32(rgba[4*p+c])/255 - float32(n.Mean[c])) / float32(n.Std[c])
		}
	}
	if err := s.exec.Run(in); err != nil {
		return nil, err
	}
	plan := s.exec.Plan()
	out := js.Global().Get("Object").New()
	for _, o := range plan.Outputs {
		sh := plan.Tensors[o.Tensor].Shape
		chw := model.CHWFromHWC(s.exec.Tensor(o.Tensor), sh.H, sh.W, sh.C)
		arr := js.Global().Get("Float32Array").New(len(chw))
		b := make([]byte, 4*len(chw))
		for i, v := range chw {
			u := math.Float32bits(v)
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		}
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(arr.Get("buffer")), b)
		out.Set(o.Task, arr)
	}
	return out, nil
}
