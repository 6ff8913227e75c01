//go:build js && wasm

// Command wasm is the browser side of demt-web: compiled with GOOS=js GOARCH=wasm, it
// registers globalThis.demtGo, the functions web/demt.js wraps. It is wiring only: the
// numerics live in model/, cpu/, gpu/ and imageio/. Every function returning a Promise
// posts its work to one worker goroutine, which owns the GPU device, the models and their
// executors; nothing blocking runs inside a js.FuncOf callback, and a panic rejects the
// promise with its message.
//
//	demtGo.fitSize(h, w, long) → [h, w]                          (imageio.FitSize; synchronous)
//	demtGo.load(reader, backend, onProgress) → Promise<{id, meta}>
//	    reader: a ReadableStreamDefaultReader of the .demt bytes; backend "webgpu" or "cpu";
//	    onProgress(loaded, total) after each decoded chunk; meta: the metadata as JSON.
//	demtGo.prepare(id, h, w) → Promise<{prepareMs, backend}>       (plan + executor at h×w)
//	demtGo.run(id, rgba, width, height, h, w, tasks) → Promise<{outputs, timings}>
//	    rgba: Uint8Array of width×height pixels, resized to h×w (imageio.ResizeRGB) and
//	    normalised; outputs[task] = {channels, height, width, data: Float32Array (CHW, the
//	    raw logits `demt-convert infer --raw` writes), rgba: Uint8ClampedArray (imageio.Colorize)}.
//	demtGo.colormaps() → {palette, turbo}                          (256 RGB colours each; synchronous)
//	demtGo.unload(id) → Promise                                    (releases the executors)
//	demtGo.resetDevice() → Promise                                 (after a device loss)
//	demtGo.liveSetup(id, sw, sh, h, w) → Promise<schedule JSON>    (the live path; see live.go)
package main

import "syscall/js"

func main() {
	w := newWorker()
	go w.serve()
	api := js.Global().Get("Object").New()
	api.Set("fitSize", js.FuncOf(fitSize))
	api.Set("colormaps", js.FuncOf(colormaps))
	api.Set("load", w.promise(w.sessions.load))
	api.Set("prepare", w.promise(w.sessions.prepareJS))
	api.Set("run", w.promise(w.sessions.run))
	api.Set("unload", w.promise(w.sessions.unload))
	api.Set("resetDevice", w.promise(w.sessions.resetDevice))
	api.Set("liveSetup", w.promise(w.sessions.liveSetup))
	js.Global().Set("demtGo", api)
	if ready := js.Global().Get("__demtGoReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {}
}
