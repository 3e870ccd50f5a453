#!/usr/bin/env bash
# Run every atheris harness for FUZZ_SECONDS seconds (default 60) each; exit non-zero on any finding.
#
#   fuzz/run.sh                      # all harnesses, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh payload
#
# Seeds come from fuzz/corpus/<name>/ (read only); what the fuzzer learns goes to build/fuzz/<name>/corpus,
# findings (crash-*, timeout-*, oom-*) to build/fuzz/<name>/. Knobs: FUZZ_SECONDS, FUZZ_TIME_BOUND (per
# input, default 1 s, checked inside the harness), FUZZ_RSS_MB (default 2048), FUZZ_JOBS (parallel
# workers, default 1), FUZZ_KEEP_GOING=1 (do not stop at the first finding: collect them all, fork mode),
# FUZZ_STRICT_MASKED=1 (strict expressions: report internal errors the safety net would mask),
# FUZZ_MAX_LEN (libFuzzer's input size cap; its default, 4096 or the largest seed, keeps size bombs out of
# reach), PYTHON (default .venv/bin/python). Exits 1 when a run adds a finding.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
seconds="${FUZZ_SECONDS:-60}"
rss="${FUZZ_RSS_MB:-2048}"
jobs="${FUZZ_JOBS:-1}"
# libFuzzer's own hard limit, for an input that never returns to the harness's time check.
hard_timeout="${FUZZ_HARD_TIMEOUT:-20}"

if ! "$python" -c "import atheris" 2>/dev/null; then
  echo "installing atheris into $("$python" -c 'import sys; print(sys.prefix)')" >&2
  "$python" -m pip install -q atheris
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(payload expressions)
status=0
for name in "${targets[@]}"; do
  work="build/fuzz/$name"
  mkdir -p "$work/corpus"
  echo "== fuzz_$name: ${seconds}s (seeds fuzz/corpus/$name, findings in $work)"
  args=("$work/corpus" "fuzz/corpus/$name" "-max_total_time=$seconds" "-timeout=$hard_timeout"
        "-rss_limit_mb=$rss" "-artifact_prefix=$work/" "-print_final_stats=1")
  [ -f "fuzz/$name.dict" ] && args+=("-dict=fuzz/$name.dict")
  [ -n "${FUZZ_MAX_LEN:-}" ] && args+=("-max_len=$FUZZ_MAX_LEN")
  if [ "$jobs" -gt 1 ] || [ -n "${FUZZ_KEEP_GOING:-}" ]; then
    args+=("-fork=$jobs" "-ignore_crashes=1" "-ignore_timeouts=1" "-ignore_ooms=1")
  fi
  before=$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
  "$python" "fuzz/fuzz_$name.py" "${args[@]}" || true
  after=$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
  if [ "$after" -gt "$before" ]; then
    status=1
    echo "!! fuzz_$name: $((after - before)) new finding(s) in $work (replay one: $python fuzz/fuzz_$name.py FILE)" >&2
  fi
done
exit $status
