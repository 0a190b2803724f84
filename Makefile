# Parley: the two commands are `make run` and `make test` (see README.md).
#
#   make run      install what is missing, build, serve (port 8080, SQLite in ./data)
#   make build    configure + build build/parley (RelWithDebInfo)
#   make test     install, build with warnings as errors, run unit tests and every e2e suite
#   make asan     ASan+UBSan build in build-asan/, run the unit tests
#   make tsan     ThreadSanitizer build in build-tsan/: the hub, storage, bus and network tests
#   make e2e      only the end-to-end suites, against the current build/parley
#   make clean    remove the build folders (never ./data)
#
# Variables: JOBS (parallel jobs, default: nproc), SKIP_DEPS=1 (do not run install-deps).

SHELL := /bin/bash
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_TYPE ?= RelWithDebInfo
CMAKE_ARGS ?=
# Benchmarks are built by `make test` and checked by bench/run.sh --smoke (about a minute);
# BENCH=OFF leaves them out.
BENCH ?= ON

# ccache keys on relative paths, so a fresh clone elsewhere (as CI makes) reuses this
# machine's cache instead of compiling everything again.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: all deps configure build run test unit e2e asan tsan clean

all: build

deps:
ifneq ($(SKIP_DEPS),1)
	scripts/install-deps.sh
endif

configure: deps
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: configure
	cmake --build build -j$(JOBS)

run:
ifneq ($(SKIP_DEPS),1)
	scripts/install-deps.sh --serve
endif
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)
	cmake --build build -j$(JOBS) --target parley
	mkdir -p data
	exec build/parley serve

# Warnings are errors here (and so in CI); the unit tests, then each e2e suite in turn.
# scripts/run-tests.sh runs every suite even when one fails, and fails if any did.
test: deps
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPARLEY_WERROR=ON -DPARLEY_BUILD_BENCH=$(BENCH) $(CMAKE_ARGS)
	cmake --build build -j$(JOBS)
	BENCH=$(BENCH) scripts/run-tests.sh

unit:
	ctest --test-dir build --output-on-failure -L unit

e2e:
	scripts/run-tests.sh --e2e-only

asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPARLEY_SANITIZE=ON \
	  -DPARLEY_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build build-asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -L unit

# ThreadSanitizer over the tests whose code runs on several threads at once: the hub (rooms,
# presence, sessions' strands, the writer's callbacks), storage (writer, readers, checkpoints),
# the spool, the bus and the network layer. Only those targets are built.
TSAN_TESTS := parley_hub_test parley_join_gate_test parley_storage_test parley_store_sqlite_test parley_store_spool_test \
  parley_bus_test parley_net_test
tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_TSAN=ON \
	  -DPARLEY_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build build-tsan -j$(JOBS) --target $(TSAN_TESTS)
	set -e; for t in $(TSAN_TESTS); do \
	  bin=$$(find build-tsan/src -name $$t -type f -perm -u+x | head -1); \
	  echo "==> tsan: $$t"; \
	  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp $$bin --gtest_brief=1; \
	done

clean:
	rm -rf build build-asan build-tsan
