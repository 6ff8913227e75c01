# demt-web — build, test and benchmark targets. `make test` is what CI runs.
GO       ?= go
BIN      := bin
FUZZTIME ?= 4000x
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: all build test vet fmt-check unit unit-noasm fuzz wasm-check bench bench-train bench-gpu bench-peers bench-peers-setup wasm demo sizes bench-web clean

all: build

build:
	$(GO) build -o $(BIN)/demt-convert ./tools/convert

test: vet fmt-check unit unit-noasm fuzz wasm-check

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# -timeout limits each package's test binary. Measured on the shared 2-core machine: all of
# make test 3.3 min at load ~8 (cpu 74 s, gpu 58 s, tools/convert 53 s, web 50 s) and 7.7 min
# at load ~14 (cpu 436 s: calibration in TestStoredDTypes); with the browser pages' tests web
# takes up to 5 min (SwiftShader frames). 40 minutes leave room for a CI machine 5x slower;
# the browser tests' own deadlines grow with it (newTab). One go test keeps two packages running.
unit:
	$(GO) test -timeout 40m ./...

# The portable kernels (the ones the wasm build runs) on amd64, the assembly built out
# (-tags noasm): official fixtures and kernel tests. TestPortableParity in the ordinary run
# compares them with the assembly over the parity table.
unit-noasm:
	$(GO) test -timeout 20m -tags noasm -skip 'TestStoredDTypes|TestAnyInputSize' ./cpu

# Short fuzzing runs of the readers of untrusted bytes (seed corpora in testdata/fuzz).
# Counted runs, not timed ones: Go 1.26 can fail a timed run with "context deadline exceeded".
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./model/torchckpt
	$(GO) test -run XXX -fuzz '^FuzzPickle$$' -fuzztime $(FUZZTIME) ./model/torchckpt
	$(GO) test -run XXX -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./model/demtfile
	$(GO) test -run XXX -fuzz '^FuzzReadBuild$$' -fuzztime $(FUZZTIME) ./model/demtfile

# The packages the browser build uses must compile for GOOS=js.
wasm-check:
	GOOS=js GOARCH=wasm $(GO) build ./model/... ./gpu/... ./shaders/... ./session/... ./wasm/...

# Full-size CPU benchmarks (minutes): HRNet18-S PASCAL and Swin-T NYUD at 256² and 512².
bench:
	$(GO) test -run XXX -bench 'Forward' -benchtime 2x -timeout 60m ./cpu

# Training step, train-mode and eval forwards of the nano preset (128×160, batch 8) and HRNet18-S.
bench-train:
	$(GO) test -run XXX -bench 'TrainStep|TrainForward|EvalForward' -benchtime 3x -timeout 60m ./train

bench-gpu:
	$(GO) test -run XXX -bench . -benchtime 1x -timeout 60m ./gpu

# Side by side with ONNX Runtime (onnxruntime-node CPU EP) on HRNet18-S PASCAL at 256², same input,
# alternating rounds; prints each round and the ratio ORT/project. Skips (exit 0) without onnxruntime.
PEERS        ?= ../shared/peers
PEER_MODULES ?= build/peers/node_modules
bench-peers: build
	$(GO) run ./tools/peerbench -bin $(BIN)/demt-convert -peers $(PEERS) -node-modules $(PEER_MODULES)

# Installs the peers into build/peers (gitignored); the install script would fetch CUDA binaries
# from an unreachable host, so it is skipped (the CPU binary ships inside the package).
bench-peers-setup:
	mkdir -p build/peers
	cd build/peers && { test -f package.json || npm init -y >/dev/null; } && \
		ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0 onnxruntime-web@1.30.0

# The browser module and its loader, next to the pages in web/.
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o web/demt.wasm ./wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" web/wasm_exec.js

# The demo: the pages with a default model converted from a fixture (random weights; the
# pages say so), served on http://127.0.0.1:8080.
DEMO_FIXTURE ?= ../shared/fixtures/official/hrnet18s-pascal
demo: wasm
	$(GO) run ./tools/demomodel -fixture $(DEMO_FIXTURE) -o web/models/default.demt
	$(GO) run ./tools/serve -dir web -addr 127.0.0.1:8080

# demt.js in headless Chromium on the full-size HRNet18-S PASCAL and Swin-T NYUD models
# (random weights) at 256²: load stages, first frame, mean frame over 20, the CPU path per image.
bench-web:
	$(GO) test -run XXX -bench Web -benchtime 1x -timeout 120m ./web

# Raw and gzip sizes of what the browser downloads (the wasm must stay ≤ 3 MiB gzipped).
sizes: wasm
	@for f in web/demt.wasm web/wasm_exec.js web/demt.js web/index.html web/live.html web/sw.js web/style.css; do \
	  [ -f $$f ] && printf "%-20s %9d bytes raw %9d gzip -9\n" $$f $$(wc -c < $$f) $$(gzip -9c $$f | wc -c); done

clean:
	rm -rf $(BIN)
