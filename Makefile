# The user's two commands (README): `make demo` and `make test`.
# Each installs missing Debian packages first, so a fresh machine needs nothing else.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-asan demo reproduce validate test test-release test-asan bench fuzz clean install uninstall

all: build

deps:
	@scripts/deps.sh

# Quiet builds: no per-file or per-target progress (CMAKE_RULE_MESSAGES,
# CMAKE_TARGET_MESSAGES) and no recursive
# make's directory lines; compiler warnings and errors still show.
# V=1 shows everything.
ifeq ($(V),1)
QUIET_CMAKE  := -DCMAKE_RULE_MESSAGES=ON -DCMAKE_TARGET_MESSAGES=ON
QUIET_MAKE   :=
else
QUIET_CMAKE  := -DCMAKE_RULE_MESSAGES=OFF -DCMAKE_TARGET_MESSAGES=OFF
QUIET_MAKE   := -- --no-print-directory -s
endif

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(QUIET_CMAKE) >/dev/null
	@echo "building $(BUILD)/vcpusim (make V=1 shows each step)"
	@cmake --build $(BUILD) -j $(JOBS) $(QUIET_MAKE)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVCPUSIM_SANITIZE=ON $(QUIET_CMAKE) >/dev/null
	@echo "building $(ASAN_BUILD) (sanitizers)"
	@cmake --build $(ASAN_BUILD) -j $(JOBS) $(QUIET_MAKE)

demo: build
	@scripts/demo.sh $(BUILD)/vcpusim out/demo
	@scripts/reproduce.sh $(BUILD)/vcpusim out/asman-demo demo

# The paper's experiments in full (scenarios/asman/, figures in out/asman/figures).
reproduce: build
	@scripts/reproduce.sh $(BUILD)/vcpusim out/asman full

test: test-release test-asan

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS); rc=$$?; \
	  grep -h '^SKIPPED: ' Testing/Temporary/LastTest.log 2>/dev/null | sed 's/^/  skipped test: /'; exit $$rc

test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) -L fast

# Real KVM against the simulator on scenarios/validation/ (docs/validation.md).
# REPS repetitions; SIM_SET="PATH=VALUE ..." overrides for the simulated runs;
# ONLY=substring picks scenarios; NICE=-20 shields the real runs from other users;
# REAL_FROM=DIR reuses the real runs of an earlier validate (try model parameters),
# DIR1:DIR2:... pools several; SIM_NOISE=T:S adds host noise to the simulated side;
# SIM_REPS=N simulated seeds of every row (default 100); PROFILE=FILE|reference the
# simulated host (default: calibrated first, or REAL_FROM's profile.json)
# (docs/validation.md).
REPS ?= 5
validate: build
	@SIM_SET="$(SIM_SET)" SIM_REPS="$(SIM_REPS)" ONLY="$(ONLY)" NICE="$(NICE)" REAL_FROM="$(REAL_FROM)" SIM_NOISE="$(SIM_NOISE)" SIM_BIN="$(SIM_BIN)" PROFILE="$(PROFILE)" scripts/validate.sh $(BUILD)/vcpusim out/validate$(if $(SIM_SET),-$(subst =,-,$(subst .,-,$(firstword $(SIM_SET))))) $(REPS)

# Install into PREFIX (default /usr/local; DESTDIR is honoured for packaging):
# bin/vcpusim, lib/vcpusim/ (the capture library), share/vcpusim/ (scenarios,
# sweeps, sample traces), share/doc/vcpusim/, the man page and completions.
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix "$(PREFIX)"

# Removes what `make install` installed (the list CMake wrote in the build dir).
uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "nothing installed from $(BUILD)" >&2; exit 1; }
	@tr '\n' '\0' < $(BUILD)/install_manifest.txt | xargs -0 rm -f --

bench: build
	@$(BUILD)/vcpusim-bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) out

fuzz:
	@scripts/fuzz.sh
