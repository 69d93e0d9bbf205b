# The test command .ci/run calls, and a few conveniences around it.
GO ?= go
PKGS ?= ./...

.PHONY: test vet lint build simulate bench bench-replay

## test: vet, then every test with the race detector (what CI runs).
test: vet
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

## vet: gofmt, go vet and staticcheck (lint).
vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt would change: $$fmt"; exit 1; fi
	$(GO) vet $(PKGS)
	$(MAKE) lint

## lint: staticcheck, at the version tools/go.mod pins (a module of its own,
## so that its dependencies stay out of the project's build list).
lint:
	$(GO) tool -modfile=tools/go.mod staticcheck $(PKGS)

build:
	$(GO) build -o bin/ ./cmd/...

## simulate: the main job on embedded defaults.
simulate:
	$(GO) run ./cmd/pact-bridge simulate

## bench: the Go benchmarks behind docs/performance.md (several minutes).
bench:
	$(GO) test ./pact -run '^$$' -bench 'Chirp|Match' -benchmem -benchtime 5s -timeout 60m
	$(GO) test ./findmy ./internal/harvest ./hci ./capture ./internal/devicedb -run '^$$' -bench . -benchmem -timeout 30m

## bench-replay: findmy-harvester replay against tshark on one generated capture (needs tshark).
bench-replay:
	scripts/bench-replay.sh
