// Types of demt.js, the DeMT browser API.

/** What went wrong: one code per case. */
export type DeMTErrorCode =
  | "no-webgpu"          // no navigator.gpu or no adapter (with device: "webgpu")
  | "fallback-adapter"   // the adapter is a software fallback (the CPU path is offered)
  | "shader-compile"     // a kernel did not compile: `kernel`, `compilerMessage`
  | "gpu-validation"     // another WebGPU validation error
  | "device-lost"        // the GPU device was lost: `reason`; m.recover() opens a new one
  | "out-of-memory"      // the GPU ran out of memory, or a buffer exceeds the device limits
  | "bad-model"          // not a .demt file, or truncated / corrupted (the message names the chunk)
  | "checksum"           // a chunk's CRC-32C does not match the index
  | "fetch"              // the request failed: `status` is the HTTP status when there was one
  | "aborted"            // the AbortSignal fired
  | "input-too-large"    // the image exceeds MAX_SOURCE_PIXELS, or size exceeds 4096 per side
  | "input-too-small"    // the model input would be under 32×32
  | "bad-input"          // a bad argument
  | "unsupported-source" // not an image source, or a file that is not an image
  | "camera"             // getUserMedia failed or the camera stopped: `name` is the DOMException name
  | "disposed"           // the model was disposed
  | "wasm"               // the Go module failed to load or exited
  | "internal";          // a bug (the message has the Go stack)

/** The one error class of demt.js. */
export class DeMTError extends Error {
  readonly code: DeMTErrorCode;
  /** shader-compile: the kernel's label (name|variant). */
  readonly kernel?: string;
  /** shader-compile: the WGSL compiler's messages. */
  readonly compilerMessage?: string;
  /** fetch: the HTTP status. */
  readonly status?: number;
  /** device-lost: the GPUDeviceLostReason. */
  readonly reason?: string;
  constructor(code: DeMTErrorCode, message: string, details?: object);
}

export const ErrorCodes: readonly DeMTErrorCode[];
export const DEFAULT_LONG_SIDE: number;
export const CPU_LONG_SIDE: number;
export const MAX_SOURCE_PIXELS: number;
export const CACHE_NAME: string;

/** Progress events, in the style of transformers.js. */
export interface ProgressEvent {
  status: "initiate" | "download" | "decode" | "upload" | "compile" | "warm-up" | "ready";
  /** The model URL. */
  file: string;
  name: string;
  /** 0–100 within the current status. */
  progress: number;
  /** Bytes so far (download, decode). */
  loaded?: number;
  /** Total bytes (download, decode); 0 when unknown. */
  total?: number;
  /** On "ready": the load timings. */
  timings?: LoadTimings;
}

export interface LoadOptions {
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
  /** "auto" (default): WebGPU on a hardware adapter, else the CPU path with a notice. */
  device?: "auto" | "webgpu" | "cpu";
  /** With device "webgpu": accept a software fallback adapter (default true). */
  allowFallbackAdapter?: boolean;
  /** Keep the model in Cache Storage (default true). */
  cache?: boolean;
  /** The input size to prepare (and warm up) at load: a long side or [height, width]; default [256, 256]. */
  size?: number | [number, number];
  /** Run one forward at load (default: on WebGPU). */
  warmup?: boolean;
  /** Where demt.wasm and wasm_exec.js are (default: next to demt.js). */
  wasmURL?: string | URL;
  wasmExecURL?: string | URL;
}

export interface LoadTimings {
  downloadMs?: number;
  decodeMs?: number;
  uploadMs?: number;
  compileMs?: number;
  warmupMs?: number;
  totalMs?: number;
}

export interface RunTimings {
  pixelsMs: number;
  prepareMs: number;
  uploadMs: number;
  forwardMs: number;
  readMs: number;
  displayMs: number;
  jsMs: number;
  totalMs: number;
}

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

export interface ModelInfo {
  tasks: string[];
  classNames: Record<string, string[]>;
  /** Per palette task: "index\tname\t#rrggbb" lines (as demt-convert writes <task>_legend.txt). */
  legends: Record<string, string>;
  backend: "webgpu" | "cpu";
  adapter: AdapterInfo | null;
  /** Why the CPU path is used, when it was chosen automatically. */
  notice: string | null;
  fromCache: boolean;
  /** [height, width] of the last run's model input. */
  inputSize: [number, number] | null;
  defaultLongSide: number;
  timings: { load?: LoadTimings; run?: RunTimings; live?: LiveStats };
  /** The .demt metadata. */
  meta: object;
}

export type Source =
  | ImageBitmap | ImageData | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas
  | VideoFrame | HTMLVideoElement | Blob
  | { data: Uint8Array | Uint8ClampedArray; width: number; height: number };

export interface RunOptions {
  /** Tasks to compute (default: all). */
  tasks?: string | string[];
  /** The model input: a long side or [height, width]; default the long side fitted to 512 (min side 16), smaller images at their own size. */
  size?: number | [number, number];
  /** Resolve to the raw CHW logits. */
  raw?: boolean;
}

/** Raw output: exactly the array `demt-convert infer --raw` writes to out_<task>.npy (without the batch axis). */
export interface RawOutput {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

interface ResultBase extends RawOutput {
  task: string;
  /** The CLI's rendering of the task (imageio.Colorize). */
  image: ImageData;
  raw: Float32Array;
}
export interface LabelResult extends ResultBase { kind: "labels"; labels: Uint8Array | Uint16Array; classNames: string[] }
export interface DepthResult extends ResultBase { kind: "depth"; depth: Float32Array; min: number; max: number }
export interface NormalsResult extends ResultBase { kind: "normals"; /** HWC unit vectors */ normals: Float32Array }
export interface ProbabilityResult extends ResultBase { kind: "probability"; probability: Float32Array }
export type TaskResult = LabelResult | DepthResult | NormalsResult | ProbabilityResult;

export interface LiveStats {
  /** Frames completed in the last second. */
  fps: number;
  frames: number;
  /** Video frames skipped because a frame was still on the GPU. */
  dropped: number;
  /** Per-stage latency of the last frame, ms: video → texture, encoding + submit (CPU), GPU until done. */
  importMs: number;
  encodeMs: number;
  gpuMs: number;
  /** From load resolving (or live() starting) to the first displayed frame. */
  firstFrameMs: number | null;
  /** live()'s set-up: executor at the live size, one recorded warm-up frame. */
  setupMs: number;
  /** JS calls into Go since the live loop started (0 by design). */
  goCalls: number;
  /** GPU objects (create*, importExternalTexture) created per frame since the loop started (0 by design). */
  createsPerFrame: number;
  /** Command encoders per frame (1: WebGPU has no reusable command buffers). */
  encodersPerFrame: number;
  /** [height, width] of the model input and of the source crop (width a multiple of 64). */
  input: [number, number];
  source: [number, number];
}

export interface LiveOptions {
  /** One canvas for one task (opts.task, default the first)... */
  canvas?: HTMLCanvasElement;
  task?: string;
  /** ...or one canvas per task. Canvases are sized to the output and configured for WebGPU (rgba8unorm). */
  canvases?: Record<string, HTMLCanvasElement>;
  /** The model input: a long side (default 256) or [height, width]; the width is rounded to a multiple of 64. */
  size?: number | [number, number];
  onStats?: (s: LiveStats) => void;
  /** The loop stopped: device-lost (then m.recover() and live() again), gpu-validation, bad-input. */
  onError?: (e: DeMTError) => void;
}

export interface LiveHandle {
  stop(): void;
  /** Which of the canvases are drawn: one task or "all". */
  setTask(task: string | "all"): void;
  readonly stats: LiveStats;
  /** The recorded frame's dispatch list (gpu.Schedule). */
  readonly schedule: { image: string; steps: { kernel: string; stage: string }[]; displays: { task: string; label: string; height: number; width: number }[] };
}

export class DeMT {
  static load(url: string | URL | Uint8Array | ArrayBuffer, opts?: LoadOptions): Promise<DeMT>;
  readonly backend: "webgpu" | "cpu";
  readonly info: ModelInfo;
  run(source: Source, opts: RunOptions & { raw: true }): Promise<Record<string, RawOutput>>;
  run(source: Source, opts?: RunOptions): Promise<Record<string, TaskResult>>;
  /** Draws the last run's rendering of task into a 2D canvas over the last input image. */
  render(canvas: HTMLCanvasElement | OffscreenCanvas, task: string, opts?: { opacity?: number }): void;
  /** Per-frame inference on a video element, on the GPU with no readback (WebGPU only). */
  live(video: HTMLVideoElement, opts: LiveOptions): Promise<LiveHandle>;
  /** After "device-lost": opens a new device on the next run. */
  recover(): Promise<void>;
  dispose(): Promise<void>;
}

/** The RGBA pixels of an image source. */
export function pixels(source: Source): Promise<{ data: Uint8Array | Uint8ClampedArray; width: number; height: number }>;
