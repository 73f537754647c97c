#!/bin/sh
# Build vestnik-bench without meson: bench/build.sh [OUTPUT]
# (the meson build of the whole project builds it too, as build/bench/vestnik-bench).
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/vestnik-bench}
${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Wno-missing-field-initializers -Werror \
    -D_GNU_SOURCE -o "$out" "$here"/src/*.c -lssl -lcrypto -lexpat
echo "$out"
