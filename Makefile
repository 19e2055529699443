# Highrise — the two commands are `make demo` and `make check`.
# This Makefile only wraps scripts/deps.sh, CMake and ctest; see README.md.

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
ASAN    ?= build-asan
FUZZ    ?= build-fuzz
# CI turns warnings into errors; locally they stay warnings unless WERROR=ON.
ifneq ($(CI),)
WERROR  ?= ON
else
WERROR  ?= OFF
endif
# Seconds each fuzz target runs under `make check` (`make fuzz` runs longer).
FUZZ_SECONDS      ?= 20
FUZZ_LONG_SECONDS ?= 600
CTEST = ctest --output-on-failure --timeout 600 -j$(JOBS)

.PHONY: all deps build test asan fuzz-build fuzz-short fuzz check demo bench reliability format format-check clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIGHRISE_WERROR=$(WERROR)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && $(CTEST)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DHIGHRISE_WERROR=$(WERROR) \
		-DHIGHRISE_SANITIZE=ON
	cmake --build $(ASAN) -j$(JOBS)
	cd $(ASAN) && $(CTEST) -LE fixture

fuzz-build:
	cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DHIGHRISE_WERROR=$(WERROR) -DHIGHRISE_FUZZ=ON \
		-DHIGHRISE_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(FUZZ) -j$(JOBS)

# Every fuzz target for FUZZ_SECONDS, as ctest tests (label "fuzz").
fuzz-short: fuzz-build
	cd $(FUZZ) && $(CTEST) -L fuzz

# The long run: every fuzz target for FUZZ_LONG_SECONDS.
fuzz:
	$(MAKE) fuzz-short FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)

format-check:
	@scripts/format.sh --check

format:
	@scripts/format.sh

check: deps format-check test asan fuzz-short
	@echo "make check: all stages passed (format, tests, ASan/UBSan tests, fuzzers)"

bench: deps build
	$(BUILD)/bench/proto/bench-proto
	bench/agent/run.sh $(BUILD)
	bench/agent/vm.sh $(BUILD)
	bench/client/run.sh $(BUILD)
	bench/audio/run.sh $(BUILD)
	bench/broker/run.sh $(BUILD)

# The faults of docs/reliability.md (network holes, crashes, restarts), with their figures;
# also part of `make check`. HR_LONG_FAULTS=1 adds the 60 s and 200 s holes.
reliability: deps build
	cd $(BUILD) && ctest --timeout 1800 -L reliability -V

demo: deps build
	@scripts/demo.sh --build $(BUILD) $(ARGS)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
