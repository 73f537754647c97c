# vestnik: the two commands are `make run` and `make test`.
CONFIG ?= vestnik.conf.example
BUILD ?= build

.PHONY: all deps deps-test build run test test-unit test-integration test-asan fuzz bench-smoke clean format

all: build

deps:
	@tools/install-deps.sh build

deps-test:
	@tools/install-deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Starts the server in the foreground on its embedded defaults: SQLite in
# ./data, a generated self-signed certificate, domain localhost.
run: build
	./$(BUILD)/vestnikd --config $(CONFIG)

# Everything: unit tests, integration tests with real clients, the same
# under ASan+UBSan, fuzzers for a bounded time, and the bench smoke.
test: deps-test
	tools/test.sh

clean:
	rm -rf build build-asan build-fuzz

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'fuzz/*.c')
