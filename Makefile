# The test command .ci/run calls, and a few conveniences around it.
GO ?= go
PKGS ?= ./...

.PHONY: test vet build simulate bench fuzz-smoke

## test: vet, then every test with the race detector (what CI runs).
test: vet
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt would change: $$fmt"; exit 1; fi
	$(GO) vet $(PKGS)

build:
	$(GO) build -o bin/ ./cmd/...

## simulate: the main job on embedded defaults.
simulate:
	$(GO) run ./cmd/pact-bridge simulate

## bench: the benchmarks behind docs/performance.md (several minutes).
bench:
	$(GO) test ./pact -run '^$$' -bench 'Chirp|Match' -benchmem -timeout 60m
