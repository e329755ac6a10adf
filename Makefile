# The top-level Makefile only wraps CMake (STYLE 2.7).
#   make run    install what is missing, build, start coffer on this machine
#   make test   install what is missing, then build and run every test:
#               lint, bounded fuzzing, -O2 build + tests, ASan/UBSan build + tests
#   make bench  build and run the benchmark (figures, not pass/fail)
#   make bench-scale  the scale benchmark (10k vs 1M vs 10M records)
#   make fuzz   build the libFuzzer targets with clang
#   make cluster       a multi-host cluster in network namespaces (root; scripts/cluster.sh)
#   make cluster-down  stop it and remove what it made
JOBS     ?= $(shell nproc)
BUILD    := build
REL      := $(BUILD)/release
SAN      := $(BUILD)/asan
FUZZ     := $(BUILD)/fuzz
FUZZ_SECONDS ?= 20
CMAKE_GEN := -G "Unix Makefiles"

.PHONY: all deps build build-asan run test test-release test-asan lint fuzz fuzz-run bench bench-cluster bench-maint bench-scale bench-xform \
        cluster cluster-down clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(REL) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(REL) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(SAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 \
	    -DCOFFER_SANITIZE=address,undefined -DCOFFER_TEST_TIMEOUT_MULTIPLIER=3 >/dev/null
	@cmake --build $(SAN) -j $(JOBS)

run: build
	@scripts/run.sh $(REL)/coffer

lint: deps
	@tools/checksrc.sh
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')
	@echo "lint: clang-format and checksrc clean"

fuzz: deps
	@cmake -S . -B $(FUZZ) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	    -DCOFFER_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS) --target fuzzers

fuzz-run: fuzz
	@scripts/fuzz-run.sh $(FUZZ) $(FUZZ_SECONDS)

test-release: build
	@scripts/deps.sh cluster
	@cd $(REL) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	@scripts/deps.sh cluster
	@cd $(SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Stages in order; the last thing printed is CTest's summary.
test: lint fuzz-run test-release test-asan

bench: build
	@scripts/deps.sh bench
	@cmake --build $(REL) -j $(JOBS) --target coffer-bench disklimit
	@bench/run.sh $(REL)
	@bench/gateway.sh $(REL)
	@bench/maint.sh $(REL)
	@bench/tls.sh $(REL)
	@bench/xform.sh $(REL)
	@bench/cluster.sh $(REL)

# Only the cluster path against one instance direct, and the fail-over time.
bench-cluster: build
	@scripts/deps.sh bench
	@cmake --build $(REL) -j $(JOBS) --target coffer-bench
	@bench/cluster.sh $(REL)

# The scale figures: uploads and look-ups with 10k, 1M and 10M records
# (bench/scale.sh; 7 GB under build/release/scale-tmp; most of its time loads the 10M).
bench-scale: build
	@scripts/deps.sh scale
	@cmake --build $(REL) -j $(JOBS) --target coffer-scale
	@bench/scale.sh $(REL)

# Only what compression and encryption cost in a filer (bench/xform.sh).
bench-xform: build
	@cmake --build $(REL) -j $(JOBS) --target coffer-bench
	@bench/xform.sh $(REL)

# Only the maintenance figures (rebuild and audit throughput).
bench-maint: build
	@cmake --build $(REL) -j $(JOBS) --target coffer-bench disklimit
	@bench/maint.sh $(REL)

cluster: build
	@scripts/deps.sh cluster
	@scripts/cluster.sh up $(REL)/coffer $(BUILD)/cluster

cluster-down:
	@scripts/cluster.sh down $(BUILD)/cluster

clean:
	rm -rf $(BUILD)
