// Runs demt.js (and through it the Go wasm module, CPU executor) under Node: loads a .demt
// and an RGBA image (raw bytes), runs the model with {raw: true} and writes each task's raw
// output as little-endian float32 (CHW) to OUT/<task>.f32.
// Usage: node demt_node.mjs wasm_exec.js demt.wasm model.demt image.rgba W H OUTDIR
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { DeMT } from "./demt.js";

const [wasmExec, wasmPath, modelPath, rgbaPath, w, h, outDir] = process.argv.slice(2);
const m = await DeMT.load(new Uint8Array(fs.readFileSync(modelPath)), {
  device: "cpu", wasmURL: pathToFileURL(path.resolve(wasmPath)).href, wasmExecURL: pathToFileURL(path.resolve(wasmExec)).href,
  size: [Number(h), Number(w)],
});
const img = { data: new Uint8Array(fs.readFileSync(rgbaPath)), width: Number(w), height: Number(h) };
const out = await m.run(img, { raw: true });
fs.mkdirSync(outDir, { recursive: true });
for (const t of m.info.tasks) {
  fs.writeFileSync(path.join(outDir, t + ".f32"), Buffer.from(out[t].data.buffer));
}
console.log("tasks:", m.info.tasks.join(","), "backend:", m.info.backend);
process.exit(0);
