# The test command .ci/run calls, and a few conveniences around it.
GO ?= go
PKGS ?= ./...

.PHONY: test vet lint build simulate bench bench-replay dist dist-reproducible package-test

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

## dist: findmy-harvester, pact-bridge and pact-server for linux/amd64 and
## linux/arm64 and the pact-findmy .deb of each, into dist/ (scripts/dist.sh;
## needs gcc-aarch64-linux-gnu and libc6-dev-arm64-cross).
dist:
	scripts/dist.sh

## dist-reproducible: make dist twice (the second with an empty build cache)
## and compare every sha256.
dist-reproducible:
	scripts/dist-reproducible.sh

## package-test: dist-reproducible, then install, verify, run and purge the
## amd64 package and run the arm64 binaries under qemu (as root; CI).
package-test:
	scripts/package-test.sh
