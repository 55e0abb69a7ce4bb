#!/usr/bin/env bash
# Runs the fuzz targets of tests/fuzz from the committed seed corpus (copied: the repository stays as it is),
# keeping what they find under OUT/TARGET/. Two modes:
#   tests/fuzz/run.sh --seconds S BIN OUT [TARGET...]   S seconds each, a random seed: the long campaign
#   tests/fuzz/run.sh --ci BIN OUT [TARGET...]          seed 1, the number of inputs in tests/fuzz/ci-runs:
#                                                       CTest's bounded, repeatable run (~20 s per target)
# BIN is the folder of the *_fuzz executables (build/fuzz/bin); no TARGET means all of them. Every input runs
# under AddressSanitizer and UBSan with a 10 s limit, 2 GB of memory and no single allocation over 512 MB:
# inputs are at most 64 KB, so a reader that allocates what a header claims is caught. Exit 1 on a finding.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:-}
case $mode in
--seconds) limit=$2 && shift 2 ;;
--ci) limit= && shift ;;
*) sed -n '2,9p' "$0" && exit 2 ;;
esac
[ $# -ge 2 ] || { sed -n '2,9p' "$0" && exit 2; }
BIN=$1 OUT=$2
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$HERE"/corpus/*/; do targets+=("$(basename "$d")"); done
fi

status=0
for t in "${targets[@]}"; do
  exe=$BIN/${t}_fuzz
  [ -x "$exe" ] || { echo "fuzz: no target $exe (the build makes build/fuzz when clang and libFuzzer are there)" >&2 && exit 2; }
  if [ -z "$limit" ]; then
    runs=$(awk -v t="$t" '$1 == t { print $2 }' "$HERE/ci-runs")
    [ -n "$runs" ] || { echo "fuzz: $t has no line in $HERE/ci-runs" >&2 && exit 2; }
    bound=(-seed=1 -runs="$runs" -max_total_time=300)
  else
    bound=(-max_total_time="$limit")
  fi
  work=$OUT/$t
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp "$HERE/corpus/$t"/* "$work/corpus/"
  start=$SECONDS
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 LSAN_OPTIONS=suppressions="$HERE/lsan.supp" \
    UBSAN_OPTIONS=print_stacktrace=1 "$exe" "${bound[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    echo "fuzz $t: no finding: $execs inputs in $((SECONDS - start)) s, corpus $(find "$work/corpus" -type f | wc -l) files"
  else
    status=1
    echo "fuzz $t: FINDING (the input is in $work/, the log $work/log):" >&2
    grep -E "^fuzz:|ERROR|SUMMARY|runtime error|^ +#[0-9]+ .* in scorch" "$work/log" | head -20 >&2
  fi
done
exit $status
