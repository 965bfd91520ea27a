# gitops-status — build, test and measure.
GO       ?= go
# The toolchain everything is built and tested with (see README, Development):
# the machine's Go 1.26.8 has standard-library vulnerabilities fixed only in
# a newer one. The go command fetches it from the module proxy once.
export GOTOOLCHAIN ?= go1.27.3
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time, not the clock's: the same commit builds the same bytes.
DATE     ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || TZ=UTC date +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
IMAGE    ?= gitops-status:$(VERSION)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test test-short lint bench bench-load bench-fleet fuzz vulncheck smoke screenshots clean release oci image

build: ## the single binary, without cgo
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o gitops-status ./cmd/gitops-status

run: ## serve on :5000 with SQLite in ./data
	$(GO) run ./cmd/gitops-status serve

test: ## the whole suite (PostgreSQL tests skip when 127.0.0.1:5432 is down, unless GITOPS_STATUS_REQUIRE_POSTGRES=1)
	$(GO) test -race -count=1 -timeout 15m ./...
	# The HTTP API's tests again, on PostgreSQL: both backends answer the same.
	GITOPS_STATUS_TEST_BACKEND=postgres $(GO) test -count=1 -timeout 10m ./httpapi/
	# Allocation counts, without the race detector, whose instrumentation allocates.
	$(GO) test -count=1 -run 'Allocates' ./...
	# deploy/: its own module (image, Kubernetes, systemd, OpenAPI checks and their heavy dependencies).
	cd deploy && $(GO) test -count=1 -timeout 15m ./...

test-short:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd deploy && $(GO) vet ./... && $(STATICCHECK) ./...

bench: ## micro-benchmarks; compare runs with benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

bench-load: ## the load benchmark at 1,000 / 10,000 / 100,000 servers (SQLite, and PostgreSQL when reachable)
	$(GO) run ./bench/load -n 1000,10000,100000 -duration 10s

FLEET ?= 200000,400000
bench-fleet: ## the open-loop fleet benchmark: FLEET servers each reporting once a minute for 60 s, with a dashboard reading, then a run killed with kill -9 halfway (SQLite; add ARGS='-backend postgres -replicas 2', '-tokens -webhook on')
	$(GO) run ./bench/load -fleet $(FLEET) -duration 60s -rounds 2 -kill9 $(ARGS)

FUZZTIME ?= 30s
fuzz: ## every fuzz target of every package, FUZZTIME each
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

vulncheck: ## govulncheck ./... against a database built from golang.org/x/vulndb (cached; see scripts/vulncheck.sh)
	GO=$(GO) scripts/vulncheck.sh

smoke: build ## the README's curl examples against a throw-away server on :5099
	@dir=$$(mktemp -d); ./gitops-status serve --addr 127.0.0.1:5099 --data-dir $$dir 2>$$dir/log & pid=$$!; \
	for i in $$(seq 50); do curl -sf http://127.0.0.1:5099/ready >/dev/null && break; sleep 0.1; done; \
	scripts/smoke.sh http://127.0.0.1:5099; rc=$$?; kill $$pid; wait $$pid; rm -rf $$dir; exit $$rc

screenshots: ## docs/ui*.png, taken by the status page's browser test (needs chromium)
	rm -rf .screenshots && mkdir .screenshots
	$(GO) test -count=1 -run '^TestUIBrowser$$' -artifacts -outputdir $(CURDIR)/.screenshots ./cmd/gitops-status
	cp "$$(find .screenshots -name fleet.png)" docs/ui.png
	cp "$$(find .screenshots -name server.png)" docs/ui-server.png
	cp "$$(find .screenshots -name fleet-dark.png)" docs/ui-dark.png
	rm -rf .screenshots

PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64
release: ## static, stamped binaries for PLATFORMS in dist/, with SHA256SUMS
	rm -rf dist && mkdir -p dist
	for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o dist/gitops-status-$(VERSION)-$$os-$$arch ./cmd/gitops-status || exit 1; done
	cd dist && sha256sum gitops-status-* > SHA256SUMS && sha256sum -c --quiet SHA256SUMS

oci: ## the container image without a daemon: an OCI layout in dist/oci (and dist/gitops-status-oci.tar)
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/gitops-status-linux-amd64 ./cmd/gitops-status
	cd deploy && $(GO) run ./cmd/oci-image -binary ../dist/gitops-status-linux-amd64 -out ../dist/oci -tar ../dist/gitops-status-oci.tar \
		-version $(VERSION) -revision $(COMMIT) -created $(DATE)

image: ## the container image with Docker (needs a Docker daemon)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMAGE) .

clean:
	rm -rf gitops-status bench.txt dist .screenshots
