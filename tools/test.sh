#!/bin/bash
# The whole test suite, as `make test` and CI run it. Each stage reports
# its own counts; the last line is the total "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
PY=/usr/bin/python3 # Debian's, with python3-slixmpp
passed=0
failed=0
failures=()

stage() { echo; echo "=== $*"; }
count() { # name passed failed
  passed=$((passed + $2)); failed=$((failed + $3))
  [ "$3" -eq 0 ] || failures+=("$1: $3 failed")
  echo "--- $1: $2 passed, $3 failed"
}
one() { # name command...: a check that counts as one test
  local name=$1; shift
  if "$@"; then count "$name" 1 0; else count "$name" 0 1; fi
}

meson_tests() { # builddir name
  local log
  log=$(meson test -C "$1" --print-errorlogs 2>&1)
  local rc=$?
  echo "$log" | grep -E "^ *[0-9]+/[0-9]+ |^(Ok|Fail|Timeout):" || true
  local ok fail
  ok=$(echo "$log" | sed -n 's/^Ok: *\([0-9]*\).*/\1/p')
  fail=$(echo "$log" | awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $2} END {print s + 0}')
  if [ -z "$ok" ]; then ok=0; fail=$((fail + 1)); echo "$log" | tail -30; fi
  [ $rc -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
  count "$2" "$ok" "$fail"
}

integration() { # name vestnikd vestnikctl
  local out
  out=$(VESTNIKD=$2 VESTNIKCTL=$3 $PY tests/integration/run.py 2>&1)
  echo "$out" | tail -40
  local line p f
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -z "$line" ]; then count "$1" 0 1; return; fi
  p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
  count "$1" "$p" "$f"
}

stage "build (release)"
one "build" sh -c 'meson setup build >/dev/null 2>&1 || meson setup --reconfigure build >/dev/null; ninja -C build'

stage "unit tests"
meson_tests build unit

stage "integration tests (slixmpp and raw sockets against build/vestnikd)"
integration integration build/vestnikd build/vestnikctl

stage "build with AddressSanitizer + UndefinedBehaviorSanitizer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
one "asan-build" sh -c '[ -f build-asan/build.ninja ] || meson setup build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null; ninja -C build-asan'

stage "unit tests under ASan+UBSan"
meson_tests build-asan unit-asan

stage "integration tests under ASan+UBSan"
integration integration-asan build-asan/vestnikd build-asan/vestnikctl

stage "fuzzers (${FUZZ_SECONDS}s each)"
mkdir -p build-fuzz
FUZZ_DEPS="src/core/arena.c src/core/buf.c src/core/mem.c src/core/log.c"
fuzz_build() { # name sources... -- libs
  clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Isrc "$@"
}
fuzz_run() { # name
  local dir=build-fuzz/corpus-$1
  mkdir -p "$dir"
  [ -d "fuzz/corpus/$1" ] && cp -n fuzz/corpus/$1/* "$dir"/ 2>/dev/null
  ./build-fuzz/fuzz_$1 -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=0 "$dir" >build-fuzz/$1.log 2>&1
  local rc=$?
  tail -3 build-fuzz/$1.log
  return $rc
}
one "fuzz-build-stream" fuzz_build -o build-fuzz/fuzz_stream fuzz/fuzz_stream.c src/xml/parser.c src/xml/node.c $FUZZ_DEPS -lexpat
one "fuzz-stream" fuzz_run stream
one "fuzz-build-jid" fuzz_build -o build-fuzz/fuzz_jid fuzz/fuzz_jid.c src/xmpp/jid.c $FUZZ_DEPS $(pkg-config --cflags --libs icu-uc libidn2)
one "fuzz-jid" fuzz_run jid
one "fuzz-build-scram" fuzz_build -o build-fuzz/fuzz_scram fuzz/fuzz_scram.c src/xmpp/scram.c $FUZZ_DEPS -lcrypto -lpthread
one "fuzz-scram" fuzz_run scram
one "fuzz-build-rsm" fuzz_build -o build-fuzz/fuzz_rsm fuzz/fuzz_rsm.c src/xmpp/rsm.c src/xml/parser.c src/xml/node.c $FUZZ_DEPS -lexpat
one "fuzz-rsm" fuzz_run rsm
# The module targets call into the whole server library: it is compiled
# once, instrumented, into build-fuzz/libvestnik.a.
fuzz_lib() {
  local objs=build-fuzz/lib
  rm -rf "$objs" build-fuzz/libvestnik.a && mkdir -p "$objs" || return 1
  ls src/*/*.c src/mod/*/*.c src/store/*/*.c | xargs -P"$(nproc)" -I{} sh -c \
    'clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
       -fno-sanitize-recover=undefined -Isrc -c "$1" -o "$2/$(echo "$1" | tr / _).o"' _ {} "$objs" &&
    ar rcs build-fuzz/libvestnik.a "$objs"/*.o
}
FUZZ_LIBS="build-fuzz/libvestnik.a $(pkg-config --libs expat openssl sqlite3 libidn2 icu-uc inih) -lpthread"
one "fuzz-build-lib" fuzz_lib
for t in muc pubsub caps profile; do
  one "fuzz-build-$t" fuzz_build -Ifuzz -o build-fuzz/fuzz_$t fuzz/fuzz_$t.c $FUZZ_LIBS
  one "fuzz-$t" fuzz_run $t
done

if [ -x bench/smoke.sh ]; then
  stage "bench smoke (vestnik-bench against vestnikd, room fan-out included: zero loss)"
  one "bench-smoke" bench/smoke.sh --muc build/vestnikd build/vestnikctl
fi

echo
echo "=== summary"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
