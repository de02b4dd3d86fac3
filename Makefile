# edgectl: one binary for the agent and the fleet tools.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go
BIN     := bin/edgectl

.PHONY: all setup build cross test test-race e2e conformance bench lint fuzz demo demo-local man clean

all: build

setup: ## install the packages and Go tools the tests drive, when missing (as root; otherwise it says what is missing)
	@bash scripts/setup.sh

build: ## build bin/edgectl for this machine
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edgectl

cross: ## dist/edgectl-linux-{amd64,arm64}: what deploy uploads to hosts of another architecture
	for a in amd64 arm64; do CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/edgectl-linux-$$a ./cmd/edgectl || exit 1; done

test: setup ## unit and integration tests (root-only namespace tests, and tests whose tool is missing, skip with a reason); the data plane on both engines
	$(GO) test -count=1 -timeout 30m ./...
	EDGECTL_ENGINE=goroutines $(GO) test -count=1 ./proxy/ ./agent/ ./conformance/
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null; then \
	  echo "$(GO) test -count=1 -race ./proxy/ ./agent/ ./remote/ ./sweep/ ./provision/"; \
	  $(GO) test -count=1 -race ./proxy/ ./agent/ ./remote/ ./sweep/ ./provision/; \
	else echo "test: the race detector needs cgo and a C compiler (apt-get install gcc): skipped"; fi

conformance: ## edgectl vs nginx vs HAProxy on hostile requests and responses (prints the table; also part of make test)
	$(GO) test -count=1 -v -run TestConformance ./conformance/
	$(GO) test -count=1 -v -run 'TestH2Spec|TestSlowClients|TestH2StalledStreamsBounded' ./agent/

e2e: ## full-fleet tests: deploy over SSH to systemd VPS in namespaces (root; also part of make test)
	$(GO) test -count=1 -v -timeout 20m ./e2e/ ./internal/testbed/

bench: setup build ## agent vs HAProxy, nginx and Caddy on loopback (CPU us/req, RSS, 64/256/1024 connections), under a slow-client attack too, plus Go micro-benchmarks; EDGECTL_BENCH_BASELINE=old-binary adds a before/after column
	$(GO) test -run XXX -bench . -benchmem ./proxy/
	bash scripts/bench.sh
	EDGECTL_SWEEP_SCALE=1 $(GO) test -count=1 -run TestSweepScale -v ./sweep/ | grep -E 'MEASURED|addresses \(|^(ok|FAIL|---)'
	EDGECTL_DEPLOY_SCALE=1 $(GO) test -count=1 -run TestDeployScale -v ./e2e/ | grep -E 'MEASURED|^(ok|FAIL|---)'

fuzz: ## run each fuzzer for FUZZTIME (default 30s)
	$(GO) test -run XXX -fuzz FuzzParseRequest -fuzztime $${FUZZTIME:-30s} ./proxy/
	$(GO) test -run XXX -fuzz FuzzCopyChunked -fuzztime $${FUZZTIME:-30s} ./proxy/
	$(GO) test -run XXX -fuzz FuzzParseResponse -fuzztime $${FUZZTIME:-30s} ./proxy/
	$(GO) test -run XXX -fuzz FuzzRequestVsNetHTTP -fuzztime $${FUZZTIME:-30s} ./proxy/
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime $${FUZZTIME:-30s} ./agentconfig/
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime $${FUZZTIME:-30s} ./endpoints/
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime $${FUZZTIME:-30s} ./fleet/
	$(GO) test -run XXX -fuzz FuzzParseDump -fuzztime $${FUZZTIME:-30s} ./nginxconf/
	$(GO) test -run XXX -fuzz FuzzTranslate -fuzztime $${FUZZTIME:-30s} ./nginximport/
	$(GO) test -run XXX -fuzz FuzzParseNginxDump -fuzztime $${FUZZTIME:-30s} ./diagnose/

lint: ## gofmt, go vet, staticcheck, go mod tidy check
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"; exit 1; fi
	@cp go.mod /tmp/edgectl-go.mod.bak && cp go.sum /tmp/edgectl-go.sum.bak && $(GO) mod tidy && \
	  if ! diff -q go.mod /tmp/edgectl-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/edgectl-go.sum.bak >/dev/null; then \
	    echo "go.mod/go.sum are not tidy: run go mod tidy"; cp /tmp/edgectl-go.mod.bak go.mod; cp /tmp/edgectl-go.sum.bak go.sum; exit 1; fi

demo: setup build ## three systemd VPS in namespaces: deploy the agent and a backend, sweep both families, diagnose a 502 (loopback demo without root)
	bash scripts/demo.sh

demo-local: build ## the seed outage on loopback: app on 127.0.0.1 only, agent prefers [::1], every request still succeeds
	bash scripts/demo-local.sh

man: ## man pages into bin/man (man -l bin/man/edgectl-deploy.1)
	$(GO) run ./internal/mangen bin/man $(VERSION)

clean:
	rm -rf bin dist
