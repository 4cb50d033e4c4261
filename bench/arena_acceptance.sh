#!/usr/bin/env bash
# bench/arena_acceptance.sh [--seconds S] [--threads N] [--dir DIR] [--shuffle SEED] [EXTRA.csv ...]
#
# Issue 19's acceptance line 1 in one run: the generated cuts with a known
# optimum (the lower bound) that docs/results.md counts, 220 of them,
# 100-500 buffers each: the coarse family (a 50-150 step x 200-800 unit
# rectangle, seeds 1, 3, 4 and 5, 20 each) and the fine family (a 1024 x
# 1024 rectangle, like MiniMalloc's benchmarks, seeds 1-7, 20 each). Each is
# written to DIR as CSV (`slimtrain arena --input` reads them), then searched
# for at most S seconds (default 10) with N parallel streams (default:
# arena_bench's, the cores, 4 to 8), every result checked by VerifyArena.
# Prints one line per instance, then per set and for all: how many were
# proven optimal, the median time, the worst ratio to the optimum and the
# instances above 1.01. EXTRA.csv files (e.g. MiniMalloc's A-K) are run after,
# in a set of their own. --shuffle SEED (> 0) searches every file with its
# buffers in an order drawn from SEED: the search's luck depends on the
# order, so compare two versions over a few seeds, not on one run. About 2-4
# minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10 threads="" dir=/tmp/slimtrain-arena-cuts shuffle=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --threads) threads="--threads=$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --shuffle) shuffle="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "usage: bench/arena_acceptance.sh [--seconds S] [--threads N] [--dir DIR] [--shuffle SEED] [EXTRA.csv ...]" >&2; exit 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
bazel build -c opt //bench:arena_bench >&2
bench=bazel-bin/bench/arena_bench
mkdir -p "$dir"
rm -f "$dir"/rectangle-*.csv "$dir"/fine-*.csv
for seed in 1 3 4 5; do
  "$bench" --family=rectangle --instances=20 --seed="$seed" --exact-seconds=0 --dump="$dir" >/dev/null
done
for seed in 1 2 3 4 5 6 7; do
  "$bench" --family=fine --instances=20 --seed="$seed" --exact-seconds=0 --dump="$dir" >/dev/null
done
run() {  # run NAME FILES...: one bench over the files, its lines and summary
  local name="$1"
  shift
  echo "== $name ($# instances, at most ${seconds} s each)"
  # shellcheck disable=SC2086
  "$bench" --exact-seconds="$seconds" --shuffle="$shuffle" $threads "$@" | tee "$dir/$name.txt"
  echo "   above 1.01: $(awk '$5 + 0 > 1.01 {printf "%s %s  ", $1, $5}' "$dir/$name.txt")"
}
coarse=("$dir"/rectangle-*.csv)
fine=("$dir"/fine-*.csv)
run coarse "${coarse[@]}"
run fine "${fine[@]}"
if [[ ${#extra[@]} -gt 0 ]]; then run extra "${extra[@]}"; fi
# Both sets together (mawk: no asort, so the median by sort).
lines=$(cat "$dir/coarse.txt" "$dir/fine.txt" | grep -v -e '^file ' -e '^proven optimal')
n=$(wc -l <<<"$lines")
proven=$(awk '$6 == "proven"' <<<"$lines" | wc -l)
median=$(awk '{print $NF}' <<<"$lines" | sort -g | awk -v n="$n" '{t[NR] = $1} END {print n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2}')
worst=$(awk '{print $5}' <<<"$lines" | sort -g | tail -1)
printf '== all generated cuts: %d/%d proven optimal (%s%%), median %s s, worst ratio %s\n' "$proven" "$n" \
  "$(awk -v p="$proven" -v n="$n" 'BEGIN {printf "%.1f", 100 * p / n}')" "$median" "$worst"
echo "   not proven: $(awk '$6 != "proven" {printf "%s %s  ", $1, $5}' <<<"$lines")"
