#!/bin/sh
# Installs the Debian 12 packages vestnik needs to build, run and test,
# skipping what is already there. Needs root (or sudo) only when something
# is missing.
set -eu
build="gcc meson ninja-build pkg-config libexpat1-dev libssl-dev libsqlite3-dev
libidn2-dev libicu-dev libinih-dev"
test="libcmocka-dev python3-slixmpp clang libclang-rt-14-dev tmux profanity"
case "${1:-build}" in
  build) want="$build" ;;
  test) want="$build $test" ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
