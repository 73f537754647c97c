#!/bin/bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan) into
# build-fuzz/ (or $FUZZ_OUT). The one place that knows how each target is
# compiled: tools/test.sh (the short runs of `make test`) and
# tools/fuzz-long.sh (the long scheduled runs) source it.
#
#   tools/fuzz-build.sh [TARGET...]     build these (default: all of them)
#
# Sourced, it defines FUZZ_TARGETS, fuzz_build_lib (the instrumented server
# library that the module targets link) and fuzz_build_target NAME.
FUZZ_TARGETS="stream jid scram rsm muc pubsub caps profile"
FUZZ_OUT=${FUZZ_OUT:-build-fuzz}
FUZZ_DEPS="src/core/arena.c src/core/buf.c src/core/mem.c src/core/log.c"

fuzz_cc() { # clang arguments...
  clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Isrc "$@"
}

# The module targets call into the whole server library: it is compiled
# once, instrumented, into $FUZZ_OUT/libvestnik.a.
fuzz_build_lib() {
  local objs=$FUZZ_OUT/lib
  mkdir -p "$FUZZ_OUT" || return 1
  rm -rf "$objs" "$FUZZ_OUT/libvestnik.a" && mkdir -p "$objs" || return 1
  ls src/*/*.c src/mod/*/*.c src/store/*/*.c | xargs -P"$(nproc)" -I{} sh -c \
    'clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
       -fno-sanitize-recover=undefined -Isrc -c "$1" -o "$2/$(echo "$1" | tr / _).o"' _ {} "$objs" &&
    ar rcs "$FUZZ_OUT/libvestnik.a" "$objs"/*.o
}

fuzz_build_target() { # name
  mkdir -p "$FUZZ_OUT" || return 1
  local out=$FUZZ_OUT/fuzz_$1
  case $1 in
  stream) fuzz_cc -o "$out" fuzz/fuzz_stream.c src/xml/parser.c src/xml/node.c $FUZZ_DEPS -lexpat ;;
  jid) fuzz_cc -o "$out" fuzz/fuzz_jid.c src/xmpp/jid.c $FUZZ_DEPS $(pkg-config --cflags --libs icu-uc libidn2) ;;
  scram) fuzz_cc -o "$out" fuzz/fuzz_scram.c src/xmpp/scram.c $FUZZ_DEPS -lcrypto -lpthread ;;
  rsm) fuzz_cc -o "$out" fuzz/fuzz_rsm.c src/xmpp/rsm.c src/xml/parser.c src/xml/node.c $FUZZ_DEPS -lexpat ;;
  muc | pubsub | caps | profile)
    [ -f "$FUZZ_OUT/libvestnik.a" ] || { echo "fuzz-build: $FUZZ_OUT/libvestnik.a missing (fuzz_build_lib)" >&2; return 1; }
    fuzz_cc -Ifuzz -o "$out" "fuzz/fuzz_$1.c" "$FUZZ_OUT/libvestnik.a" \
      $(pkg-config --libs expat openssl sqlite3 libidn2 icu-uc inih) -lpthread ;;
  *) echo "fuzz-build: no target '$1' (targets: $FUZZ_TARGETS)" >&2; return 1 ;;
  esac
}

fuzz_needs_lib() { # name: does this target link libvestnik.a?
  case $1 in muc | pubsub | caps | profile) return 0 ;; *) return 1 ;; esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  cd "$(dirname "$0")/.."
  targets=${*:-$FUZZ_TARGETS}
  for t in $targets; do
    if fuzz_needs_lib "$t"; then
      echo "fuzz-build: libvestnik.a"
      fuzz_build_lib || exit 1
      break
    fi
  done
  for t in $targets; do
    echo "fuzz-build: fuzz_$t"
    fuzz_build_target "$t" || exit 1
  done
fi
