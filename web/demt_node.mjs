// Runs the Go wasm module under Node: loads a .demt and an RGBA image (raw bytes), runs
// demtGo.infer and writes each task's raw output as little-endian float32 to OUT/<task>.f32.
// Usage: node demt_node.mjs wasm_exec.js demt.wasm model.demt image.rgba W H OUTDIR
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [wasmExec, wasmPath, modelPath, rgbaPath, w, h, outDir] = process.argv.slice(2);
createRequire(import.meta.url)(path.resolve(wasmExec));
const go = new globalThis.Go();
const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), go.importObject);
go.run(instance);
const meta = JSON.parse(await globalThis.demtGo.load(new Uint8Array(fs.readFileSync(modelPath))));
const out = await globalThis.demtGo.infer(new Uint8Array(fs.readFileSync(rgbaPath)), Number(w), Number(h));
fs.mkdirSync(outDir, { recursive: true });
for (const t of meta.config.head.tasks) {
  fs.writeFileSync(path.join(outDir, t.name + ".f32"), Buffer.from(out[t.name].buffer));
}
console.log("tasks:", meta.config.head.tasks.map((t) => t.name).join(","));
process.exit(0);
