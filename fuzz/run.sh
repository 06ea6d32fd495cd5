#!/usr/bin/env bash
# Runs one fuzz target for SECONDS (default 600) at the lowest priority, with a scratch
# corpus in fuzz/work/<target> seeded from fuzz/corpus/<target>; the log goes to
# fuzz/work/<target>.log. usage: bash fuzz/run.sh TARGET [SECONDS]   (docs/fuzzing.md)
set -euo pipefail
cd "$(dirname "$0")"
target="$1"
seconds="${2:-600}"
mkdir -p "work/$target"
RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run --sanitizer none -a "$target" \
  "work/$target" "corpus/$target" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 2>&1 | tee "work/$target.log" | grep -E "^(#|==|stat::|Done|SUMMARY|thread|panicked)" | tail -n 25
