#!/bin/bash
# Long fuzzing runs, for a schedule (a nightly cron job or CI job; not part
# of `make test`, which runs each target for FUZZ_SECONDS=20):
#   1. builds every target with tools/fuzz-build.sh (ASan + UBSan),
#   2. runs each for SECONDS (default 3600) on a corpus kept between runs,
#      starting again after a finding until its time is used up,
#   3. minimises every new finding (crash-*, leak-*, timeout-*, oom-*) and
#      copies it into fuzz/corpus/<target>/ as a seed, so that `make test`
#      replays it from then on (commit it together with the fix),
#   4. prints a summary, one line per target.
#
#   tools/fuzz-long.sh [-t SECONDS] [-d DIR] [--no-build] [TARGET...]
#   nice -n 10 tools/fuzz-long.sh -t 300          # a shorter run
#
# DIR (default $VESTNIK_FUZZ_DIR, else ~/.cache/vestnik-fuzz; outside the
# build tree so that `make clean` keeps it) holds
#   corpus/<target>/      the growing corpus (never in git: too big)
#   artifacts/<target>/   what libFuzzer wrote; .done-<name> once handled
#   logs/<target>.log     the fuzzer's output, all restarts
# Exit status: 0 when no target found anything new, 1 when one did, 2 when
# the build failed.
set -u
cd "$(dirname "$0")/.."
. tools/fuzz-build.sh

SECONDS_EACH=${FUZZ_LONG_SECONDS:-3600}
DIR=${VESTNIK_FUZZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestnik-fuzz}
BUILD=1
MAX_RESTARTS=20 # a seed that crashes at once would otherwise loop
MINIMISE_SECONDS=${FUZZ_MINIMISE_SECONDS:-30}
targets=()
while [ $# -gt 0 ]; do
  case $1 in
  -t) SECONDS_EACH=$2; shift 2 ;;
  -d) DIR=$2; shift 2 ;;
  --no-build) BUILD=0; shift ;;
  -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  -*) echo "fuzz-long: unknown option $1" >&2; exit 2 ;;
  *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || read -ra targets <<<"$FUZZ_TARGETS"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ $BUILD -eq 1 ]; then
  for t in "${targets[@]}"; do
    if fuzz_needs_lib "$t"; then
      fuzz_build_lib || { echo "fuzz-long: building libvestnik.a failed" >&2; exit 2; }
      break
    fi
  done
  for t in "${targets[@]}"; do
    fuzz_build_target "$t" || { echo "fuzz-long: building fuzz_$t failed" >&2; exit 2; }
  done
fi

count_files() { find "$1" -maxdepth 1 -type f ! -name '.*' | wc -l; }

# Minimise a finding into $3 (a copy of the input when minimising fails).
minimise() { # target artifact out
  rm -f "$3"
  "$FUZZ_OUT/fuzz_$1" -minimize_crash=1 -max_total_time="$MINIMISE_SECONDS" -timeout=10 \
    -rss_limit_mb=2048 -exact_artifact_path="$3" "$2" >>"$DIR/logs/$1.minimise.log" 2>&1
  [ -s "$3" ] || cp "$2" "$3"
}

# "artifact<TAB>signature" for every finding in a log. The signature is the
# first stack frame in our own code (src/ or fuzz/, the allocator wrappers
# of src/core/mem.c skipped), so that the same bug found again after a
# restart is recognised and not added twice.
signatures() { # log
  awk '
    /ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: / {
      if (!inrep) { inrep = 1; sig = "" } }
    inrep && sig == "" && /^ *#[0-9]+ 0x[0-9a-f]+ in / {
      fn = ""; loc = ""
      for (i = 1; i < NF; i++) if ($i == "in") { fn = $(i + 1); loc = $(i + 2); break }
      if (match(loc, /(src|fuzz)\/[^ :()]*\.[ch]:[0-9]+/)) {
        loc = substr(loc, RSTART, RLENGTH)
        if (loc !~ /^src\/core\/mem\.c/) sig = fn " " loc
      } }
    /Test unit written to / { print $NF "\t" (sig == "" ? "(no frame in src/ or fuzz/)" : sig); inrep = 0; sig = "" }
  ' "$1"
}

summary=()
found_any=0
for t in "${targets[@]}"; do
  corpus=$DIR/corpus/$t art=$DIR/artifacts/$t log=$DIR/logs/$t.log
  mkdir -p "$corpus" "$art" "$DIR/logs"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  n0=$(count_files "$corpus")
  : >"$log"
  start=$(date +%s)
  end=$((start + SECONDS_EACH))
  restarts=0
  echo "fuzz-long: fuzz_$t for ${SECONDS_EACH}s (corpus $corpus: $n0 inputs)"
  while :; do
    left=$((end - $(date +%s)))
    [ $left -gt 0 ] || break
    # New inputs go to the first directory (the kept corpus); the seeds in
    # git are read only.
    "$FUZZ_OUT/fuzz_$t" -max_total_time=$left -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art/" "$corpus" "${seeds[@]}" >>"$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] && break
    restarts=$((restarts + 1))
    [ $restarts -lt $MAX_RESTARTS ] || { echo "fuzz-long: fuzz_$t: $restarts restarts, stopping it"; break; }
  done
  secs=$(($(date +%s) - start))
  execs=$(awk '/^stat::number_of_executed_units/ {s += $NF} END {print s + 0}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  n1=$(count_files "$corpus")
  # The findings not handled yet: one seed per signature (new to this
  # corpus directory), minimised, copied to fuzz/corpus/<target>/.
  new=0 copied=()
  touch "$art/.signatures"
  while IFS=$'\t' read -r f sig; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    [ -e "$art/.done-$name" ] && continue
    new=$((new + 1))
    kind=${name%%-*}
    touch "$art/.done-$name"
    grep -qxF "$kind $sig" <(cut -f1 "$art/.signatures") && continue
    min=$art/.min-$name
    minimise "$t" "$f" "$min"
    dest=fuzz/corpus/$t/$kind-$(sha1sum "$min" | cut -c1-16)
    mkdir -p "fuzz/corpus/$t"
    [ -e "$dest" ] || cp "$min" "$dest"
    printf '%s\t%s\n' "$kind $sig" "$dest" >>"$art/.signatures"
    copied+=("$kind in $sig -> $dest ($(stat -c %s "$dest") bytes)")
  done < <(signatures "$log")
  [ $new -eq 0 ] || found_any=1
  line=$(printf '%-8s %6ss %3d restarts %12s execs  cov %-6s corpus %5d -> %-5d  findings %d (new bugs %d)' \
    "$t" "$secs" "$restarts" "$execs" "${cov:--}" "$n0" "$n1" "$new" "${#copied[@]}")
  summary+=("$line")
  for c in "${copied[@]}"; do summary+=("           seed added: $c"); done
  # What the sanitizers said, once per kind of report.
  while read -r s; do summary+=("           $s"); done < <(grep -h '^SUMMARY: ' "$log" | sort | uniq -c | sed 's/^ *//')
done

echo
echo "=== fuzz-long summary (${SECONDS_EACH}s per target, corpus in $DIR)"
printf '%s\n' "${summary[@]}"
[ $found_any -eq 0 ] && echo "no new findings" || echo "FINDINGS (see above): fix them and commit the seeds added under fuzz/corpus/"
exit $found_any
