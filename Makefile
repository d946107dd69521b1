# diamond - the README's verbs. CMake + CTest underneath.
#   make          build ./build/diamond (and ./diamond symlink)
#   make test     warnings-as-errors build + every test, then the whole suite under ASan+UBSan,
#                 then clang-format and clang-tidy (scripts/tidy) checks; ends with one
#                 "N passed, N failed" line
#   make demo     run the pipeline end to end on the embedded default
#   make bench    benchmarks, figures printed and written to bench/results/
#   make asan     sanitizer build in build-asan/
#   make format   clang-format the sources
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all deps build test test-fast asan format format-check demo bench fuzz chaos clean tidy

all: build

deps:
	@bash scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@ln -sf $(BUILD)/diamond diamond

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDM_SANITIZE=ON -DDM_WERROR=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

test: deps
	@bash scripts/run-tests

# One pass, no sanitizers: for quick local iteration.
test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j2

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')

# On a terminal the demo keeps the API and dashboard up until Ctrl-C; elsewhere (CI, scripts)
# it stops everything after the run.
demo: build
	@./$(BUILD)/diamond demo $$( [ -t 0 ] && [ -t 1 ] && echo --keep-running )

bench: build
	@bash bench/run

fuzz: deps
	@bash scripts/fuzz

chaos: build
	@bash scripts/chaos

clean:
	rm -rf build build-asan build-fuzz diamond

tidy: build
	@bash scripts/tidy $(BUILD)
