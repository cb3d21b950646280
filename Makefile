# Starling — developer entry points.
#   make build   compile everything (debug)
#   make test    install missing system packages, build with tests, run all tests (unit + integration;
#                integration tests need root and skip otherwise)
#   make run     the demo lab (root): controller, three SEs, two pool servers, a BIRD router with ECMP and a
#                client in network namespaces; a virtual service created through the REST API, advertised
#                by the three SEs. Prints what to run next. `make lab-down` (or `starling lab down`) removes it.
#   make demo-bgp  the BGP-only ECMP demo (three `starling bgp` speakers and a BIRD router)
# Set STARLING_BUILD_LOCK=1 to serialize swift commands with flock on /tmp/starling-build.lock.

SHELL := /bin/bash
export PATH := $(PATH):/opt/swift/usr/bin

.PHONY: all build test deps run demo-bgp lab lab-down clean

all: build

deps:
	scripts/install-deps.sh

build:
	@if [ -n "$$STARLING_BUILD_LOCK" ]; then l=$$STARLING_BUILD_LOCK; [ "$$l" = 1 ] && l=/tmp/starling-build.lock; \
	  flock "$$l" swift build; else swift build; fi

test: deps
	scripts/test.sh

run: deps lab

demo-bgp: deps build
	scripts/demo-bgp.sh

lab: build
	@"$$(swift build --show-bin-path)/starling" lab down >/dev/null 2>&1 || true
	"$$(swift build --show-bin-path)/starling" lab up

lab-down:
	"$$(swift build --show-bin-path)/starling" lab down

clean:
	swift package clean
