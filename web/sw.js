// Service worker of the DeMT demo: keeps the app shell (pages, demt.js, the wasm module)
// in Cache Storage so that the pages work offline after one visit. Network first (so a
// rebuilt module is picked up), the cache when the network fails. Models are cached by
// demt.js itself (cache "demt-models-v1", checked against the file's checksums on decode).
const SHELL = "demt-shell-v1";
const FILES = ["./", "index.html", "live.html", "style.css", "demt.js", "demt.wasm", "wasm_exec.js"];

// clean drops the "redirected" flag (Go's file server redirects /index.html to /): a
// redirected response cannot answer a navigation.
async function clean(r) {
  if (!r.redirected) return r;
  return new Response(await r.blob(), { status: r.status, statusText: r.statusText, headers: r.headers });
}

self.addEventListener("install", (e) => {
  e.waitUntil((async () => {
    const c = await caches.open(SHELL);
    for (const f of FILES) {
      const r = await fetch(f, { cache: "no-cache" });
      if (!r.ok) throw new Error(`${f}: HTTP ${r.status}`);
      await c.put(f, await clean(r));
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.endsWith(".demt")) {
    // demt.js reads models from its own cache first; offline, answer from it here too.
    e.respondWith(fetch(e.request).catch(() => caches.open("demt-models-v1").then((c) => c.match(e.request.url))
      .then((r) => r || Response.error())));
    return;
  }
  e.respondWith((async () => {
    try {
      const r = await fetch(e.request);
      if (r.ok) {
        const c = await caches.open(SHELL);
        const ok = await clean(r);
        await c.put(e.request, ok.clone());
        return ok;
      }
      return r;
    } catch (err) {
      const hit = await caches.match(e.request, { ignoreSearch: true });
      return hit || Response.error();
    }
  })());
});
