# Starling — developer entry points.
#   make build   compile everything (debug)
#   make test    install missing system packages, build with tests, run all tests (unit + integration;
#                integration tests need root and skip otherwise)
#   make run     the BGP ECMP demo (BIRD router + three `starling bgp` speakers in namespaces; root)
#   make lab     the full demo lab via `starling lab up` (once that command exists)
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

run: demo-bgp

demo-bgp: build
	scripts/demo-bgp.sh

lab: build
	"$$(swift build --show-bin-path)/starling" lab up

lab-down:
	"$$(swift build --show-bin-path)/starling" lab down

clean:
	swift package clean
