#!/usr/bin/env bash
# Fuzzes the policy with cargo-fuzz (libFuzzer): every target for a bounded
# time; exits non-zero when any target crashes (a panic here is a trap in the
# wasm module).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      default 60
#
# Environment:
#   FUZZ_TARGETS    targets to run (default: validate_payload settings mutation)
#   FUZZ_SANITIZER  address (default) or none; address falls back to none when
#                   the toolchain cannot build it
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (10)
#   FUZZ_RSS_MB     memory limit of the fuzzing process, in MB (2048)
#   FUZZ_JOBS       parallel fuzzing processes per target (1)
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, sanitizer coverage
# options); with a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them, so the
# active toolchain (stable or nightly) is used as it is.
#
# Corpora grow in fuzz/corpus/<target> (seeded from test_data/), crashes land
# in fuzz/artifacts/<target>/, logs in fuzz/artifacts/logs/. Turn a crash into
# a regression fixture under test_data/fuzz-regressions/ (see
# tests/fuzz_regressions.rs); reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
if ! [[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (a positive whole number; got '$SECONDS_PER_TARGET')" >&2
  exit 2
fi
read -r -a TARGETS <<<"${FUZZ_TARGETS:-validate_payload settings mutation}"
SANITIZER=${FUZZ_SANITIZER:-address}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2048}
export RUSTC_BOOTSTRAP=1
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

say() { echo "fuzz: $*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked >&2
fi

build_all() {
  local t
  for t in "${TARGETS[@]}"; do
    cargo fuzz build --fuzz-dir fuzz --sanitizer "$1" "$t" >&2 || return 1
  done
}
say "toolchain: $(rustc --version) (RUSTC_BOOTSTRAP=1), sanitizer: $SANITIZER"
if ! build_all "$SANITIZER"; then
  if [ "$SANITIZER" = none ]; then
    say "cannot build the fuzz targets"; exit 2
  fi
  say "building with sanitizer '$SANITIZER' failed; retrying without a sanitizer"
  SANITIZER=none
  build_all none || { say "cannot build the fuzz targets"; exit 2; }
fi

# Seed corpora from the project's fixtures (libFuzzer keeps what adds coverage).
seed() {
  local dir=fuzz/corpus/$1; shift
  mkdir -p "$dir"
  "$@"
}
seed_payloads() {
  local request settings=test_data/settings-seed.json
  [ -f "$settings" ] || settings=/dev/null
  for request in test_data/*.json; do
    case $(basename "$request") in settings-*) continue ;; esac
    { printf '{"settings": '; if [ -s "$settings" ]; then cat "$settings"; else printf '{}'; fi
      printf ', "request": '; cat "$request"; printf '}'; } >"fuzz/corpus/validate_payload/seed-$(basename "$request")"
  done
  for request in test_data/fuzz-regressions/payload-*; do
    [ -f "$request" ] && cp "$request" fuzz/corpus/validate_payload/
  done
  return 0
}
seed_settings() {
  local f
  for f in test_data/settings-*.json test_data/fuzz-regressions/settings-*; do
    [ -f "$f" ] && cp "$f" fuzz/corpus/settings/
  done
  return 0
}
seed validate_payload seed_payloads
seed settings seed_settings
seed mutation true

mkdir -p fuzz/artifacts/logs
HOST=$(rustc -vV | sed -n 's/^host: //p')
failed=()
for t in "${TARGETS[@]}"; do
  log=fuzz/artifacts/logs/$t.log
  artifacts=fuzz/artifacts/$t
  mkdir -p "$artifacts"
  before=$(find "$artifacts" -type f | sort)
  # Fork mode with crashes ignored: the target keeps fuzzing for the whole time
  # and every crash is saved, instead of stopping at the first one; crashes are
  # then counted from the artifacts (fork mode's exit code does not tell).
  args=(-fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB")
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="$ROOT/fuzz/dict/$t.dict")
  say "running $t for ${SECONDS_PER_TARGET}s (log: $log)"
  status=0
  RUST_BACKTRACE=0 cargo fuzz run --fuzz-dir fuzz --sanitizer "$SANITIZER" "$t" -- "${args[@]}" >"$log" 2>&1 || status=$?
  stats=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
  if [ -z "$new" ] && [ "$status" -eq 0 ]; then
    say "$t: ok; ${stats:-no stats}"
    continue
  fi
  failed+=("$t")
  say "$t: FAILED (exit $status, $(echo "$new" | sed '/^$/d' | wc -l) new inputs in $artifacts); ${stats:-no stats}"
  # Replay each new input once to name the panic; identical ones are counted.
  while read -r input; do
    [ -n "$input" ] || continue
    case $(basename "$input") in
      timeout-*) echo "timeout (over ${TIMEOUT}s)" ;;
      oom-*) echo "out of memory (over ${RSS_MB} MB)" ;;
      *) panic=$(RUST_BACKTRACE=0 timeout 120 "fuzz/target/$HOST/release/$t" "$input" 2>&1 |
                 grep -m1 -A1 'panicked at' | tr '\n' ' ' | sed 's/^thread [^)]*) //; s/ *$//' || true)
         echo "${panic:-a crash without a Rust panic message (see $log)}" ;;
    esac
  done <<<"$new" | sort | uniq -c | sort -rn | sed 's/^/fuzz:   /' >&2
  [ "$status" -eq 0 ] || tail -5 "$log" >&2
done

if [ "${#failed[@]}" -gt 0 ]; then
  say "crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in fuzz/artifacts/logs/)"
  exit 1
fi
say "no crash in ${TARGETS[*]} (${SECONDS_PER_TARGET}s each)"
