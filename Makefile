# Flint's build. `make run` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
# MinIO, the S3 server the model-store tests run against (a test tool only,
# never linked into Flint). Tagged RELEASE versions are not served by the Go
# module proxy; this pseudo-version is (see ../shared/DEPENDENCIES.md).
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
BIN := $(CURDIR)/bin/flint
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Packages with goroutines of their own run under the race detector; the
# numeric packages (ml/...) run without it, where it would cost 10-25x.
RACE_PKGS := ./log/... ./cluster/... ./features/... ./models/... ./serving/... ./trainer/... ./internal/logspec/... ./internal/bearer/... ./cmd/...
OTHER_PKGS = $$($(GO) list ./... | grep -v -E 'flint/(log|cluster|features|models|serving|trainer|cmd)(/|$$)|flint/internal/(logspec|bearer)')

export FLINT_MINIO := $(TOOLS)/minio

# The packages with code of the opt-in OpenBLAS build (-tags openblas).
OPENBLAS_PKGS := ./ml/internal/openblas ./ml ./ml/kmeans ./ml/als
# The packages whose amd64 assembly has a portable fallback (-tags noasm, and every other architecture).
NOASM_PKGS := ./ml/internal/tile ./ml ./ml/kmeans ./ml/als

.PHONY: all build run test test-long vet lint staticcheck tools bench bench-openblas fmt clean docs proto chromium

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/flint

## run: the demo on the embedded defaults (see examples/demo.sh)
run: build
	FLINT=$(BIN) ./examples/demo.sh

## run-fraud: the streaming-features example end to end (HTTP ingest → features run → train → serve by key)
run-fraud: build
	FLINT=$(BIN) ./examples/fraud.sh

## tools: install what the tests and linters need into .tools/
tools: $(TOOLS)/staticcheck $(TOOLS)/minio chromium

# Debian's Chromium, the headless browser internal/console's tests drive
# (installed only where it is missing; needs root, as in CI).
chromium:
	@test -x /usr/bin/chromium || apt-get install -y chromium

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/minio:
	@echo "building the MinIO test server (a few minutes, once; cached in .tools/)"
	GOBIN=$(TOOLS) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

vet:
	$(GO) vet ./...

staticcheck: $(TOOLS)/staticcheck
	$(TOOLS)/staticcheck ./...

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## test: installs the tools, then vet, staticcheck, gofmt and every test (race detector where concurrency lives)
test: tools lint
	$(GO) test -race -timeout 15m $(RACE_PKGS)
	$(GO) test -timeout 15m $(OTHER_PKGS)
	cd deploy && $(GO) vet ./... && $(TOOLS)/staticcheck ./... && $(GO) test -timeout 5m ./...
	@# The portable kernels, as a machine without the amd64 assembly runs them.
	$(GO) vet -tags noasm $(NOASM_PKGS) && $(GO) test -tags noasm -timeout 10m $(NOASM_PKGS)
	@# The opt-in OpenBLAS build's tests, where cgo and libopenblas-dev are there (not installed for them).
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ] && [ -e /usr/include/x86_64-linux-gnu/f77blas.h -o -e /usr/include/f77blas.h ]; then \
		echo "$(GO) test -tags openblas $(OPENBLAS_PKGS)"; \
		$(GO) vet -tags openblas $(OPENBLAS_PKGS) && $(TOOLS)/staticcheck -tags openblas $(OPENBLAS_PKGS) && \
		$(GO) test -tags openblas -timeout 10m $(OPENBLAS_PKGS); \
	else echo "skipping the OpenBLAS build's tests: no cgo or no libopenblas-dev"; fi

## test-long: also the full-size real-data tests (Fashion-MNIST accuracy and the like)
test-long: tools
	FLINT_LONG=1 $(GO) test -timeout 60m ./...

## bench: every benchmark, with the machine's floors (memory bandwidth, dd fdatasync, numpy dgemm, a bare echo
## handler under wrk) measured in the same run and a table of the hot paths beside them (bench/floors)
bench: build
	$(GO) run ./bench/floors -benchtime 2s -timeout 60m
	FLINT=$(BIN) ./bench/fashion-e2e.sh

## bench-openblas: the kernel benchmarks (logistic and softmax passes, Lloyd, ALS) of the default build and of the
## OpenBLAS build (-tags openblas: cgo and libopenblas-dev), alternating in one run, beside the same floors
bench-openblas:
	$(GO) run ./bench/floors -builds default,openblas -disk-mib 0 -echo-for 0 -pkgs "./ml ./ml/kmeans ./ml/als" \
		-bench '^Benchmark(GradientPass|SoftmaxPass|LloydFashionMNIST|ALSIteration)$$' -benchtime 5x -count 3 -timeout 60m

## proto: regenerate cluster/remote/remotepb (needs protoc: apt-get install -y protobuf-compiler)
proto:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH=$(TOOLS):$$PATH protoc -I cluster/remote/remotepb \
		--go_out=paths=source_relative:cluster/remote/remotepb \
		--go-grpc_out=paths=source_relative:cluster/remote/remotepb \
		cluster/remote/remotepb/remote.proto

## docs: regenerate the generated references in docs/
docs:
	$(GO) test ./trainer -run TestDocs -update

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin flint-data
