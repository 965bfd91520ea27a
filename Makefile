# gitops-status — build, test and measure.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test test-short lint bench bench-load fuzz vulncheck smoke screenshots clean

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

test-short:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

bench: ## micro-benchmarks; compare runs with benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

bench-load: ## the load benchmark at 1,000 / 10,000 / 100,000 servers (SQLite, and PostgreSQL when reachable)
	$(GO) run ./bench/load -n 1000,10000,100000 -duration 10s

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

clean:
	rm -f gitops-status bench.txt
	rm -rf .screenshots
