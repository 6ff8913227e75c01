// demt.js — DeMT multi-task dense prediction in the browser (ES module; types in demt.d.ts).
//
//   import { DeMT, DeMTError } from "./demt.js";
//   const m = await DeMT.load("models/default.demt", { onProgress: console.log, device: "auto" });
//   const out = await m.run(image);                 // per-task results
//   const raw = await m.run(image, { raw: true });  // {task: {channels, height, width, data}} (CHW)
//   m.render(canvas, "semseg", { opacity: 0.6 });
//
// The numerics run in Go (demt.wasm: the CPU executor, or the WebGPU executor through
// gogpu). This module owns what Go cannot see in the browser: the GPUDevice gogpu creates
// (found by wrapping GPUAdapter.prototype.requestDevice before Go starts), its error scopes,
// compilation messages and loss, the fetch stream, Cache Storage and the page's image sources.

/** Error codes of DeMTError (see demt.d.ts). */
export const ErrorCodes = Object.freeze([
  "no-webgpu", "fallback-adapter", "shader-compile", "gpu-validation", "device-lost", "out-of-memory",
  "bad-model", "checksum", "fetch", "aborted", "input-too-large", "input-too-small", "bad-input",
  "unsupported-source", "disposed", "wasm", "internal",
]);

/** The one error class of demt.js: `code` says what went wrong (one of ErrorCodes). */
export class DeMTError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = "DeMTError";
    this.code = code;
    Object.assign(this, details);
  }
}

/** The long side images are fitted to when run() gets no size (as the CLI does). */
export const DEFAULT_LONG_SIDE = 512;
/** The default long side on the CPU fallback (the slow path). */
export const CPU_LONG_SIDE = 256;
/** The largest source image run() accepts, in pixels. */
export const MAX_SOURCE_PIXELS = 4096 * 4096;
/** The Cache Storage cache that holds downloaded models. */
export const CACHE_NAME = "demt-models-v1";

// ---- the WebGPU device gogpu creates, seen from JS ----

const gpuHook = { adapter: null, device: null, errors: [], lost: null, modules: [], onLost: new Set(),
  buffers: new Map(), capture: null };

/** Counts of what JS did on the device (the live test reads them): GPU objects created
 * (create*, importExternalTexture), command encoders, calls into Go. */
export const gpuCounters = { creates: 0, encoders: 0, goCalls: 0 };

function installHooks() {
  const G = globalThis;
  if (!G.GPUAdapter || !G.GPUDevice || G.GPUAdapter.prototype.__demtHooked) return;
  const adapterProto = G.GPUAdapter.prototype;
  const requestDevice = adapterProto.requestDevice;
  adapterProto.requestDevice = async function (...args) {
    const d = await requestDevice.apply(this, args);
    gpuHook.adapter = this;
    gpuHook.device = d;
    gpuHook.lost = null;
    gpuHook.errors = [];
    d.addEventListener("uncapturederror", (e) => gpuHook.errors.push(e.error));
    d.lost.then((info) => {
      if (gpuHook.device !== d) return; // a device we released ourselves
      gpuHook.lost = info;
      for (const f of gpuHook.onLost) f(info);
    });
    return d;
  };
  adapterProto.__demtHooked = true;
  const dev = G.GPUDevice.prototype;
  for (const name of ["createBuffer", "createTexture", "createBindGroup", "createBindGroupLayout", "createPipelineLayout",
    "createComputePipeline", "createRenderPipeline", "createShaderModule", "createSampler", "createQuerySet", "importExternalTexture"]) {
    const orig = dev[name];
    if (!orig) continue;
    dev[name] = function (desc) {
      gpuCounters.creates++;
      const v = orig.call(this, desc);
      if (this === gpuHook.device && desc && desc.label) {
        if (name === "createShaderModule") gpuHook.modules.push({ label: desc.label, module: v });
        if (name === "createBuffer") gpuHook.buffers.set(desc.label, v);
      }
      return v;
    };
  }
  const createCommandEncoder = dev.createCommandEncoder;
  dev.createCommandEncoder = function (desc) {
    gpuCounters.encoders++;
    return createCommandEncoder.call(this, desc);
  };
  // While gpuHook.capture is an array, the compute commands gogpu encodes are recorded
  // there (the live path replays them).
  const pass = G.GPUComputePassEncoder.prototype;
  for (const [op, name] of [[0, "setPipeline"], [1, "setBindGroup"], [2, "dispatchWorkgroups"]]) {
    const orig = pass[name];
    pass[name] = function (...args) {
      if (gpuHook.capture) gpuHook.capture.push({ op, args });
      return orig.apply(this, args);
    };
  }
}
installHooks();


// The first compilation error among the modules created since the last check.
async function compileError() {
  const mods = gpuHook.modules;
  gpuHook.modules = [];
  for (const { label, module } of mods) {
    if (!module.getCompilationInfo) continue;
    const info = await module.getCompilationInfo();
    const errs = info.messages.filter((x) => x.type === "error");
    if (errs.length) {
      const text = errs.map((x) => `${x.lineNum}:${x.linePos} ${x.message}`).join("\n");
      return new DeMTError("shader-compile", `kernel ${label.split("|")[0]}: ${text}`, { kernel: label, compilerMessage: text });
    }
  }
  return null;
}

// gpuCall runs f (a call into Go that uses the device) inside validation and out-of-memory
// error scopes and turns what the device reports into a DeMTError: gogpu's browser build
// returns nil errors and a broken pipeline computes zeros, so the errors must come from here.
async function gpuCall(f) {
  const d = gpuHook.device;
  if (!d) {
    try {
      const v = await f();
      await checkUncaptured();
      return v;
    } catch (e) {
      await checkUncaptured();
      throw e;
    }
  }
  d.pushErrorScope("out-of-memory");
  d.pushErrorScope("validation");
  let value, err;
  try {
    value = await f();
  } catch (e) {
    err = e;
  }
  const validation = await d.popErrorScope().catch(() => null);
  const oom = await d.popErrorScope().catch(() => null);
  if (gpuHook.lost) throw lostError(gpuHook.lost);
  if (oom) throw new DeMTError("out-of-memory", `GPU out of memory: ${oom.message}`);
  if (validation) {
    throw (await compileError()) || new DeMTError("gpu-validation", `WebGPU validation error: ${validation.message}`);
  }
  await checkUncaptured();
  if (err) throw err;
  gpuHook.modules = [];
  return value;
}

async function checkUncaptured() {
  if (gpuHook.lost) throw lostError(gpuHook.lost);
  if (!gpuHook.errors.length) return;
  const first = gpuHook.errors[0];
  gpuHook.errors = [];
  const c = await compileError();
  if (c) throw c;
  if (globalThis.GPUOutOfMemoryError && first instanceof GPUOutOfMemoryError) {
    throw new DeMTError("out-of-memory", `GPU out of memory: ${first.message}`);
  }
  throw new DeMTError("gpu-validation", `WebGPU error: ${first.message}`);
}

function lostError(info) {
  return new DeMTError("device-lost", `the GPU device was lost (${info.reason || "unknown"}): ${info.message || ""}`.trim(), { reason: info.reason });
}

// ---- the Go module ----

let goPromise = null;
let goExit = null; // rejects when the Go program ends

function isNode() {
  return typeof process === "object" && !!(process.versions && process.versions.node);
}

async function readURL(url) {
  if (isNode() && String(url).startsWith("file:")) {
    const fs = await import("node:fs/promises");
    return new Uint8Array(await fs.readFile(new URL(url)));
  }
  const r = await fetch(url);
  if (!r.ok) throw new DeMTError("wasm", `fetching ${url}: HTTP ${r.status}`, { status: r.status });
  return r;
}

/** Starts the Go module (once per page). */
async function startGo(wasmURL, wasmExecURL) {
  if (goPromise) return goPromise;
  goPromise = (async () => {
    if (!globalThis.Go) await import(String(wasmExecURL));
    const go = new globalThis.Go();
    const ready = new Promise((resolve) => (globalThis.__demtGoReady = resolve));
    const src = await readURL(wasmURL);
    const { instance } = src instanceof Uint8Array
      ? await WebAssembly.instantiate(src, go.importObject)
      : await WebAssembly.instantiateStreaming(src, go.importObject);
    goExit = go.run(instance).then(
      () => { throw new DeMTError("wasm", "the Go module exited (see the console)"); },
      (e) => { throw new DeMTError("wasm", `the Go module crashed: ${e && e.message || e}`); });
    goExit.catch(() => {});
    await Promise.race([ready, goExit]);
    return globalThis.demtGo;
  })();
  goPromise.catch(() => (goPromise = null));
  return goPromise;
}

// callGo calls demtGo[name](...args), turning Go's errors into DeMTErrors; it never hangs
// on a dead Go program.
async function callGo(name, ...args) {
  const api = await goPromise;
  gpuCounters.goCalls++;
  try {
    return await Promise.race([api[name](...args), goExit]);
  } catch (e) {
    if (e instanceof DeMTError) throw e;
    const msg = (e && e.message) || String(e);
    throw new DeMTError((e && e.code) || (msg.startsWith("internal error") ? "internal" : "bad-input"), msg);
  }
}

// ---- loading ----

function progressEvent(onProgress, ev) {
  if (onProgress) {
    try { onProgress(ev); } catch (e) { console.error("demt: onProgress threw", e); }
  }
}

// counting wraps a byte stream and reports download progress.
function counting(stream, total, report) {
  let loaded = 0;
  return stream.pipeThrough(new TransformStream({
    transform(chunk, ctl) {
      loaded += chunk.byteLength;
      report(loaded, total);
      ctl.enqueue(chunk);
    },
  }));
}

function bytesStream(bytes) {
  return new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } });
}

async function openResponse(url, signal) {
  let r;
  try {
    r = await fetch(url, { signal });
  } catch (e) {
    if (signal && signal.aborted) throw new DeMTError("aborted", `loading ${url} was aborted`);
    throw new DeMTError("fetch", `fetching ${url} failed: ${e.message || e}`);
  }
  if (!r.ok) throw new DeMTError("fetch", `fetching ${url}: HTTP ${r.status} ${r.statusText}`.trim(), { status: r.status });
  return r;
}

// adapterInfo describes a GPUAdapter.
function adapterInfo(ad) {
  if (!ad) return null;
  const i = ad.info || {};
  return { vendor: i.vendor || "", architecture: i.architecture || "", device: i.device || "", description: i.description || "",
    isFallbackAdapter: !!(i.isFallbackAdapter || ad.isFallbackAdapter) };
}

// chooseBackend picks webgpu or cpu for the device option.
async function chooseBackend(device, allowFallbackAdapter) {
  if (device === "cpu") return { backend: "cpu", notice: null, adapter: null };
  const gpu = globalThis.navigator && navigator.gpu;
  const ad = gpu ? await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null) : null;
  if (!ad) {
    const err = new DeMTError("no-webgpu", gpu ? "WebGPU is present but gives no adapter" : "this browser has no WebGPU (navigator.gpu)");
    if (device === "webgpu") throw err;
    return { backend: "cpu", notice: err, adapter: null };
  }
  const info = adapterInfo(ad);
  if (info.isFallbackAdapter) {
    const err = new DeMTError("fallback-adapter",
      `the WebGPU adapter is a software fallback (${info.vendor} ${info.architecture}); the CPU path is used instead`, { adapter: info });
    if (device === "auto") return { backend: "cpu", notice: err, adapter: info };
    if (!allowFallbackAdapter) throw err;
  }
  return { backend: "webgpu", notice: null, adapter: info };
}

function parseSize(size) {
  if (size == null) return null;
  if (typeof size === "number") return { long: size };
  if (Array.isArray(size) && size.length === 2) return { h: size[0] | 0, w: size[1] | 0 };
  if (typeof size === "object" && size.height && size.width) return { h: size.height | 0, w: size.width | 0 };
  throw new DeMTError("bad-input", `size must be a long side, [height, width] or {height, width}; got ${JSON.stringify(size)}`);
}

// ---- image sources ----

function sourceSize(s) {
  const G = globalThis;
  if (G.HTMLVideoElement && s instanceof HTMLVideoElement) return [s.videoWidth, s.videoHeight];
  if (G.HTMLImageElement && s instanceof HTMLImageElement) return [s.naturalWidth, s.naturalHeight];
  if (G.VideoFrame && s instanceof VideoFrame) return [s.displayWidth, s.displayHeight];
  if (G.SVGImageElement && s instanceof SVGImageElement) return [s.width.baseVal.value, s.height.baseVal.value];
  if ((G.ImageBitmap && s instanceof ImageBitmap) || (G.HTMLCanvasElement && s instanceof HTMLCanvasElement) ||
      (G.OffscreenCanvas && s instanceof OffscreenCanvas)) return [s.width, s.height];
  return null;
}

/** pixels returns the RGBA pixels of an image source: {data, width, height}. */
export async function pixels(source) {
  if (source && source.data && typeof source.width === "number" && typeof source.height === "number") {
    if (source.data.length !== 4 * source.width * source.height) {
      throw new DeMTError("bad-input", `image data of ${source.data.length} bytes is not ${source.width}×${source.height} RGBA`);
    }
    checkSourceSize(source.width, source.height);
    return source;
  }
  const G = globalThis;
  if (G.Blob && source instanceof Blob) {
    if (source.type && !source.type.startsWith("image/")) {
      throw new DeMTError("unsupported-source", `unsupported file type ${source.type || "(unknown)"}: want an image`);
    }
    let bmp;
    try {
      bmp = await createImageBitmap(source, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    } catch (e) {
      throw new DeMTError("unsupported-source", `cannot decode the file as an image (${source.type || "unknown type"}): ${e.message || e}`);
    }
    try { return await pixels(bmp); } finally { bmp.close(); }
  }
  if (G.HTMLImageElement && source instanceof HTMLImageElement && !source.complete) {
    await source.decode().catch((e) => { throw new DeMTError("bad-input", `the image did not load: ${e.message || e}`); });
  }
  const size = source ? sourceSize(source) : null;
  if (!size) throw new DeMTError("unsupported-source", "unsupported source: want an ImageBitmap, ImageData, image, canvas, VideoFrame, video or image Blob");
  const [w, h] = size;
  if (!w || !h) throw new DeMTError("bad-input", "the source has no pixels yet (an image not loaded or a video without a frame)");
  checkSourceSize(w, h);
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

function checkSourceSize(w, h) {
  if (w * h > MAX_SOURCE_PIXELS) {
    throw new DeMTError("input-too-large", `the image is ${w}×${h}: more than ${MAX_SOURCE_PIXELS} pixels (4096×4096)`, { width: w, height: h });
  }
}

// ---- results ----

function sigmoid(x) { return 1 / (1 + Math.exp(-x)); }

// ready turns one task's raw CHW logits into the result a page uses.
function ready(task, o, classNames) {
  const { channels: C, height: H, width: W, data } = o;
  const n = H * W;
  const base = { task, channels: C, height: H, width: W, raw: data, image: globalThis.ImageData ? new ImageData(o.rgba, W, H) : null };
  if (task === "depth" || (C === 1 && task !== "edge" && task !== "sal")) {
    const depth = new Float32Array(n);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = task === "depth" ? Math.max(0, data[i]) : data[i];
      depth[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return { ...base, kind: "depth", depth, min: lo, max: hi };
  }
  if (task === "normals") {
    const normals = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      const x = data[i], y = data[n + i], z = data[2 * n + i];
      const l = Math.hypot(x, y, z) || 1;
      normals[3 * i] = x / l; normals[3 * i + 1] = y / l; normals[3 * i + 2] = z / l;
    }
    return { ...base, kind: "normals", normals };
  }
  if (task === "edge" || task === "sal") {
    const probability = new Float32Array(n);
    for (let i = 0; i < n; i++) probability[i] = C === 1 ? sigmoid(data[i]) : sigmoid(data[n + i] - data[i]);
    return { ...base, kind: "probability", probability };
  }
  const labels = C <= 256 ? new Uint8Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bv = data[i];
    for (let c = 1; c < C; c++) {
      const v = data[c * n + i];
      if (v > bv) { bv = v; best = c; }
    }
    labels[i] = best;
  }
  return { ...base, kind: "labels", labels, classNames: classNames || [] };
}

// ---- the model ----

/** A loaded DeMT model. Create it with DeMT.load. */
export class DeMT {
  /**
   * Loads a .demt model: streaming fetch (or Cache Storage), chunk decode with checksum
   * checks, GPU upload, kernel compilation, one warm-up forward.
   */
  static async load(url, opts = {}) {
    const { onProgress, signal, device = "auto", allowFallbackAdapter = true, cache = true, warmup } = opts;
    if (!["auto", "webgpu", "cpu"].includes(device)) throw new DeMTError("bad-input", `device must be auto, webgpu or cpu; got ${device}`);
    const t0 = performance.now();
    const file = typeof url === "string" ? url : (url instanceof URL ? url.href : "(bytes)");
    const report = (ev) => progressEvent(onProgress, { file, name: file, ...ev });
    report({ status: "initiate", progress: 0, loaded: 0, total: 0 });
    const base = import.meta.url;
    const go = startGo(opts.wasmURL || new URL("demt.wasm", base), opts.wasmExecURL || new URL("wasm_exec.js", base));
    const choice = await chooseBackend(device, allowFallbackAdapter);
    await go;
    if (signal && signal.aborted) throw new DeMTError("aborted", `loading ${file} was aborted`);

    const timings = {};
    let res, fromCache = false;
    const useCache = cache && typeof url === "string" && globalThis.caches;
    const decode = async (stream, total) => {
      const td = performance.now();
      const reader = stream.getReader();
      const onAbort = () => reader.cancel().catch(() => {});
      if (signal) signal.addEventListener("abort", onAbort);
      try {
        const call = () => callGo("load", reader, choice.backend, (done, all) =>
          report({ status: "decode", loaded: done, total: all, progress: all ? (100 * done) / all : 0 }));
        return choice.backend === "webgpu" ? await gpuCall(call) : await call();
      } catch (e) {
        reader.cancel().catch(() => {});
        if (signal && signal.aborted) throw new DeMTError("aborted", `loading ${file} was aborted`);
        throw e;
      } finally {
        if (signal) signal.removeEventListener("abort", onAbort);
        timings.decodeMs = performance.now() - td;
      }
    };
    const downloadReport = (loaded, total) =>
      report({ status: "download", loaded, total, progress: total ? (100 * loaded) / total : 0 });
    if (typeof url !== "string" && !(url instanceof URL)) {
      const bytes = url instanceof Uint8Array ? url : new Uint8Array(url);
      res = await decode(bytesStream(bytes), bytes.length);
    } else {
      const href = String(url);
      let c = null, cached = null;
      if (useCache) {
        c = await caches.open(CACHE_NAME).catch(() => null);
        cached = c ? await c.match(href).catch(() => null) : null;
      }
      if (cached) {
        fromCache = true;
        const total = Number(cached.headers.get("content-length")) || 0;
        try {
          res = await decode(counting(cached.body, total, downloadReport), total);
        } catch (e) {
          if (e.code !== "bad-model" && e.code !== "checksum" && e.code !== "fetch") throw e;
          await c.delete(href); // a damaged cached copy: fetch it again
          fromCache = false;
        }
      }
      if (!res) {
        const tf = performance.now();
        const r = await openResponse(href, signal);
        const total = Number(r.headers.get("content-length")) || 0;
        const type = r.headers.get("content-type") || "";
        let body = r.body;
        let put = null;
        if (c) {
          const [a, b] = body.tee();
          body = a;
          const headers = new Headers({ "content-type": "application/octet-stream" });
          if (total) headers.set("content-length", String(total));
          put = c.put(href, new Response(b, { headers })).catch(() => {});
        }
        try {
          res = await decode(counting(body, total, downloadReport), total);
        } catch (e) {
          if (put) { await put; await c.delete(href).catch(() => {}); }
          if (type.includes("text/html") && (e.code === "bad-model" || e.code === "checksum")) {
            throw new DeMTError("bad-model", `${href} is an HTML page, not a .demt model (${e.message})`);
          }
          throw e;
        }
        if (put) await put;
        timings.downloadMs = performance.now() - tf;
      }
    }
    const meta = JSON.parse(res.meta);
    const m = new DeMT(res.id, meta, res.legends, choice, fromCache);
    m._timings.load = timings;
    const size = parseSize(opts.size) || { h: 256, w: 256 };
    const [h, w] = size.long ? [size.long, size.long] : [size.h, size.w];
    report({ status: "upload", progress: 0 });
    const tu = performance.now();
    await m._gpu(() => callGo("prepare", m._id, h, w));
    timings.uploadMs = performance.now() - tu;
    report({ status: "compile", progress: 0 });
    const tc = performance.now();
    if (gpuHook.device && m.backend === "webgpu") await gpuHook.device.queue.onSubmittedWorkDone();
    timings.compileMs = performance.now() - tc;
    if (warmup ?? m.backend === "webgpu") {
      report({ status: "warm-up", progress: 0 });
      const tw = performance.now();
      const grey = { data: new Uint8ClampedArray(4 * h * w).fill(128), width: w, height: h };
      await m.run(grey, { size: [h, w], raw: true, tasks: [m.info.tasks[0]] });
      timings.warmupMs = performance.now() - tw;
    }
    timings.totalMs = performance.now() - t0;
    report({ status: "ready", progress: 100, timings });
    m._loadedAt = performance.now();
    return m;
  }

  constructor(id, meta, legends, choice, fromCache) {
    this._id = id;
    this._meta = meta;
    this._legends = legends;
    this.backend = choice.backend;
    this._adapter = choice.adapter;
    this.notice = choice.notice;
    this._fromCache = fromCache;
    this._timings = {};
    this._last = null;
    this._disposed = false;
    this._lost = null;
    this._onLost = (info) => { if (this.backend === "webgpu") this._lost = info; };
    gpuHook.onLost.add(this._onLost);
  }

  /** Tasks, class names, input size, backend, adapter and the timings of the last run. */
  get info() {
    const tasks = this._meta.config.head.tasks;
    return {
      tasks: tasks.map((t) => t.name),
      classNames: Object.fromEntries(tasks.map((t) => [t.name, t.class_names || []])),
      legends: this._legends,
      backend: this.backend,
      adapter: this.backend === "webgpu" ? adapterInfo(gpuHook.adapter) || this._adapter : this._adapter,
      notice: this.notice ? this.notice.message : null,
      fromCache: this._fromCache,
      inputSize: this._last ? [this._last.height, this._last.width] : null,
      defaultLongSide: this.backend === "cpu" ? CPU_LONG_SIDE : DEFAULT_LONG_SIDE,
      timings: this._timings,
      meta: this._meta,
    };
  }

  async _gpu(f) {
    if (this.backend !== "webgpu") return f();
    return gpuCall(f);
  }

  /**
   * Runs the model on an image. Resolves to per-task results, or with {raw: true} to
   * {task: {channels, height, width, data}} (CHW float32 logits).
   */
  async run(source, opts = {}) {
    if (this._disposed) throw new DeMTError("disposed", "the model was disposed");
    if (this._lost) throw lostError(this._lost);
    const t0 = performance.now();
    const img = await pixels(source);
    const sz = parseSize(opts.size);
    let h, w;
    if (sz && !sz.long) [h, w] = [sz.h, sz.w];
    else {
      const long = sz ? sz.long : (opts.longSide || DEFAULT_LONG_SIDE);
      [h, w] = globalThis.demtGo.fitSize(img.height, img.width, long);
    }
    const tasks = opts.tasks ? [].concat(opts.tasks) : null;
    if (tasks) for (const t of tasks) {
      if (!this.info.tasks.includes(t)) throw new DeMTError("bad-input", `the model has no task ${t} (it has ${this.info.tasks.join(", ")})`);
    }
    const tp = performance.now();
    const res = await this._gpu(() => callGo("run", this._id, img.data, img.width, img.height, h, w, tasks));
    const t = { pixelsMs: tp - t0, ...res.timings, jsMs: 0 };
    this._timings.run = t;
    this._lastImage = img;
    const tj = performance.now();
    let out;
    if (opts.raw) {
      out = {};
      for (const k of Object.keys(res.outputs)) {
        const o = res.outputs[k];
        out[k] = { channels: o.channels, height: o.height, width: o.width, data: o.data };
      }
    } else {
      out = {};
      const names = this.info.classNames;
      for (const k of Object.keys(res.outputs)) out[k] = ready(k, res.outputs[k], names[k]);
    }
    this._last = { height: h, width: w, outputs: res.outputs };
    t.jsMs = performance.now() - tj;
    t.totalMs = performance.now() - t0;
    return out;
  }

  /**
   * Draws the last run's rendering of task into canvas (scaled to the canvas), over the
   * last input image with the given opacity (1: the rendering only).
   */
  render(canvas, task, { opacity = 1 } = {}) {
    if (!this._last) throw new DeMTError("bad-input", "render: nothing has run yet");
    const o = this._last.outputs[task];
    if (!o) throw new DeMTError("bad-input", `render: the last run has no task ${task}`);
    const ctx = canvas.getContext("2d");
    const layer = new OffscreenCanvas(o.width, o.height);
    layer.getContext("2d").putImageData(new ImageData(o.rgba, o.width, o.height), 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (opacity < 1 && this._lastImage) {
      const src = new OffscreenCanvas(this._lastImage.width, this._lastImage.height);
      src.getContext("2d").putImageData(this._lastImage instanceof ImageData ? this._lastImage
        : new ImageData(new Uint8ClampedArray(this._lastImage.data), this._lastImage.width, this._lastImage.height), 0, 0);
      ctx.globalAlpha = 1;
      ctx.drawImage(src, 0, 0, canvas.width, canvas.height);
    }
    ctx.globalAlpha = opacity;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(layer, 0, 0, canvas.width, canvas.height);
    ctx.globalAlpha = 1;
  }

  /**
   * After a device loss: releases the lost device; the next run opens a new one and
   * re-uploads the weights (every WebGPU model of the page shares the device).
   */
  async recover() {
    if (this._disposed) throw new DeMTError("disposed", "the model was disposed");
    gpuHook.device = null;
    gpuHook.lost = null;
    await callGo("resetDevice");
    this._lost = null;
    this._last = null;
  }

  /**
   * Per-frame inference on a playing video, entirely on the GPU: each frame is copied
   * into a texture, preprocessed, run and rendered into WebGPU canvases with no readback,
   * no call into Go and no new GPU object (the commands of one Go-encoded warm-up frame
   * are recorded and replayed). At most one frame is in flight; frames that arrive while
   * the GPU is busy are dropped, never queued.
   */
  async live(video, opts = {}) {
    if (this._disposed) throw new DeMTError("disposed", "the model was disposed");
    if (this.backend !== "webgpu") throw new DeMTError("bad-input", "the live path needs the WebGPU backend (load with device: 'webgpu')");
    if (this._lost) throw lostError(this._lost);
    if (!video.videoWidth) await new Promise((r) => video.addEventListener("loadeddata", r, { once: true }));
    const t0 = performance.now();
    const vw = video.videoWidth, vh = video.videoHeight;
    const sw = Math.floor(vw / 64) * 64, sh = vh; // copyTextureToBuffer wants rows of 256 bytes
    if (sw < 64) throw new DeMTError("input-too-small", `the video is ${vw}×${vh}: at least 64 pixels wide`);
    const sz = parseSize(opts.size) || { long: 256 };
    let h, w;
    if (sz.long) [h, w] = globalThis.demtGo.fitSize(sh, sw, sz.long);
    else [h, w] = [sz.h, sz.w];
    w = Math.max(64, Math.round(w / 64) * 64);
    h = Math.max(32, h);
    gpuHook.capture = [];
    let sched;
    try {
      sched = JSON.parse(await gpuCall(() => callGo("liveSetup", this._id, sw, sh, h, w)));
      await gpuHook.device.queue.onSubmittedWorkDone();
    } finally {
      var cmds = gpuHook.capture;
      gpuHook.capture = null;
    }
    const d = gpuHook.device;
    // Split the recorded commands at each dispatch; the schedule names each one's stage.
    const ranges = {};
    let start = 0, k = 0;
    cmds.forEach((c, i) => {
      if (c.op !== 2) return;
      const stage = sched.steps[k] ? sched.steps[k].stage : "?";
      (ranges[stage] ||= []).push([start, i + 1]);
      start = i + 1;
      k++;
    });
    if (k !== sched.steps.length) {
      throw new DeMTError("internal", `recorded ${k} dispatches, the schedule has ${sched.steps.length}`);
    }
    const img = gpuHook.buffers.get(sched.image);
    const displays = {};
    for (const ds of sched.displays) {
      const b = gpuHook.buffers.get(ds.label);
      if (!b) throw new DeMTError("internal", `no buffer labelled ${ds.label}`);
      if ((ds.width * 4) % 256) throw new DeMTError("internal", `${ds.task} is ${ds.width} wide: rows are not 256-byte aligned`);
      displays[ds.task] = { ...ds, buffer: b };
    }
    const tex = d.createTexture({ label: "live frame", size: [sw, sh], format: "rgba8unorm",
      usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT });
    const canvases = opts.canvases || { [opts.task || this.info.tasks[0]]: opts.canvas };
    const targets = {};
    for (const [task, c] of Object.entries(canvases)) {
      if (!displays[task]) throw new DeMTError("bad-input", `the model has no task ${task}`);
      c.width = displays[task].width;
      c.height = displays[task].height;
      const ctx = c.getContext("webgpu");
      ctx.configure({ device: d, format: "rgba8unorm", usage: GPUTextureUsage.COPY_DST, alphaMode: "opaque" });
      targets[task] = ctx;
    }
    let shown = opts.task && opts.task !== "all" ? [opts.task] : Object.keys(targets);
    const pre = [...(ranges.preprocess || []), ...(ranges.forward || [])];
    let plan = [];
    const setShown = (tasks) => {
      shown = tasks.filter((t) => targets[t]);
      plan = pre.concat(...shown.map((t) => ranges["display:" + t] || []));
    };
    setShown(shown);

    const stats = { fps: 0, frames: 0, dropped: 0, importMs: 0, encodeMs: 0, gpuMs: 0, goCalls: 0, createsPerFrame: 0,
      encodersPerFrame: 0, firstFrameMs: null, setupMs: performance.now() - t0, input: [h, w], source: [sh, sw] };
    this._timings.live = stats;
    const base = { creates: gpuCounters.creates, encoders: gpuCounters.encoders, goCalls: gpuCounters.goCalls };
    let inFlight = false, stopped = false, cb = 0, lastTime = -1;
    const times = [];
    const fail = (e) => {
      stop();
      const err = e instanceof DeMTError ? e : new DeMTError("gpu-validation", String(e && e.message || e));
      if (opts.onError) opts.onError(err); else console.error(err);
    };
    const onLost = (info) => fail(lostError(info));
    gpuHook.onLost.add(onLost);
    const stop = () => {
      stopped = true;
      gpuHook.onLost.delete(onLost);
      if (cb && video.cancelVideoFrameCallback) video.cancelVideoFrameCallback(cb);
    };
    const onFrame = (now, meta) => {
      if (stopped) return;
      cb = video.requestVideoFrameCallback(onFrame);
      if (document.hidden || video.paused) return;
      if (meta && meta.mediaTime === lastTime) return;
      if (inFlight) { stats.dropped++; return; }
      if (meta) lastTime = meta.mediaTime;
      inFlight = true;
      try {
        encodeFrame();
      } catch (e) {
        inFlight = false;
        fail(new DeMTError("gpu-validation", `live frame: ${e.message || e}`));
      }
    };
    const encodeFrame = () => {
      const ta = performance.now();
      try {
        d.queue.copyExternalImageToTexture({ source: video }, { texture: tex }, [sw, sh]);
      } catch (e) {
        throw new DeMTError("bad-input", `the video frame could not be imported: ${e.message || e}`);
      }
      const tb = performance.now();
      const enc = d.createCommandEncoder();
      enc.copyTextureToBuffer({ texture: tex }, { buffer: img, bytesPerRow: sw * 4, rowsPerImage: sh }, [sw, sh]);
      const pass = enc.beginComputePass();
      for (const [lo, hi] of plan) {
        for (let i = lo; i < hi; i++) {
          const c = cmds[i], a = c.args;
          if (c.op === 0) pass.setPipeline(a[0]);
          else if (c.op === 1) pass.setBindGroup(a[0], a[1], a[2] || []);
          else pass.dispatchWorkgroups(a[0], a[1] ?? 1, a[2] ?? 1);
        }
      }
      pass.end();
      for (const t of shown) {
        const ds = displays[t];
        enc.copyBufferToTexture({ buffer: ds.buffer, bytesPerRow: ds.width * 4, rowsPerImage: ds.height },
          { texture: targets[t].getCurrentTexture() }, [ds.width, ds.height]);
      }
      d.queue.submit([enc.finish()]);
      const tc = performance.now();
      d.queue.onSubmittedWorkDone().then(() => {
        inFlight = false;
        if (stopped) return;
        if (gpuHook.errors.length) return checkUncaptured().catch(fail);
        const td = performance.now();
        stats.frames++;
        if (stats.firstFrameMs == null) stats.firstFrameMs = td - (this._loadedAt || t0);
        stats.importMs = tb - ta; stats.encodeMs = tc - tb; stats.gpuMs = td - tc;
        times.push(td);
        while (times.length && times[0] < td - 1000) times.shift();
        stats.fps = times.length;
        stats.goCalls = gpuCounters.goCalls - base.goCalls;
        stats.createsPerFrame = (gpuCounters.creates - base.creates) / stats.frames;
        stats.encodersPerFrame = (gpuCounters.encoders - base.encoders) / stats.frames;
        if (opts.onStats) opts.onStats({ ...stats });
      }, fail);
    };
    cb = video.requestVideoFrameCallback(onFrame);
    return {
      stop,
      setTask: (t) => setShown(t === "all" ? Object.keys(targets) : [t]),
      get stats() { return { ...stats }; },
      schedule: sched,
    };
  }

  /** Releases the model's executors (and its GPU memory). */
  async dispose() {
    if (this._disposed) return;
    this._disposed = true;
    gpuHook.onLost.delete(this._onLost);
    await callGo("unload", this._id);
  }
}

/** Internal state, for tests and diagnostics. */
export const _internal = { gpuHook };
