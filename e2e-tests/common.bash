# Shared by the e2e tests. They run the policy through `${KWCTL:-bin/policy-runner} run`
# and read only what a real `kwctl run` prints too: one AdmissionResponse JSON
# line on stdout (logs go to stderr); errors of the host (unparsable request
# file, invalid settings) on stderr with a non-zero exit. To run them against kwctl:
#   make annotated-policy.wasm && KWCTL=kwctl POLICY=annotated-policy.wasm bats e2e-tests/
bats_require_minimum_version 1.5.0
RUNNER=${KWCTL:-bin/policy-runner}
POLICY=${POLICY:-policy.wasm}

# evaluate REQUEST_FILE [SETTINGS] — runs the policy. SETTINGS is JSON text, or
# @FILE for a settings file; without it the host's default (no settings) is
# used. Sets $status; stdout goes to the file $RESPONSE, stderr to the file
# $STDERR (files: the answers to the hostile inputs can be large).
evaluate() {
  local settings=()
  case ${2-} in
    '') ;;
    @*) settings=(--settings-path "${2#@}") ;;
    *) settings=(--settings-json "$2") ;;
  esac
  # These tests judge what the policy answers, not how fast (`make bench`
  # does that): the hostile inputs take seconds on a loaded machine, so the
  # runner's per-call deadline (2000 ms by default) is raised here.
  local deadline=()
  [ -n "${KWCTL-}" ] || deadline=(--timeout-ms "${E2E_TIMEOUT_MS:-120000}")
  RESPONSE=$BATS_TEST_TMPDIR/response.json
  STDERR=$BATS_TEST_TMPDIR/stderr.txt
  status=0
  "$RUNNER" run --request-path "$1" "${settings[@]}" "${deadline[@]}" "$POLICY" >"$RESPONSE" 2>"$STDERR" || status=$?
}

# request_with FIXTURE JQ_FILTER — writes a modified copy of a test_data fixture
# and prints its path.
request_with() {
  local out
  out=$(mktemp "$BATS_TEST_TMPDIR/request.XXXXXX.json")
  jq "$2" "test_data/$1" >"$out"
  echo "$out"
}

# A clean answer: exit 0, exactly one JSON line, `allowed` a boolean, and a
# non-empty status.message when rejected.
assert_clean_answer() {
  [ "$status" -eq 0 ] || { echo "exit $status, not an answer: $(head -c 2000 "$STDERR")"; return 1; }
  [ "$(wc -l <"$RESPONSE")" -eq 1 ] || { echo "not one line: $(head -c 2000 "$RESPONSE")"; return 1; }
  jq -e '.allowed | type == "boolean"' "$RESPONSE" >/dev/null || { echo "no allowed: $(head -c 2000 "$RESPONSE")"; return 1; }
  if [ "$(jq -r .allowed "$RESPONSE")" = false ]; then
    jq -e '.status.message | type == "string" and test("\\S")' "$RESPONSE" >/dev/null ||
      { echo "a rejection without a message: $(head -c 2000 "$RESPONSE")"; return 1; }
  fi
}

# assert_allowed / assert_rejected — a clean answer (above) with that verdict.
assert_allowed() {
  assert_clean_answer
  [ "$(jq -r .allowed "$RESPONSE")" = true ] || { echo "not allowed: $(head -c 2000 "$RESPONSE")"; return 1; }
}

assert_rejected() {
  assert_clean_answer
  [ "$(jq -r .allowed "$RESPONSE")" = false ] || { echo "not rejected: $(head -c 2000 "$RESPONSE")"; return 1; }
}

# assert_message_contains TEXT — the rejection message contains TEXT.
assert_message_contains() {
  jq -e --arg t "$1" '.status.message | contains($t)' "$RESPONSE" >/dev/null ||
    { echo "message lacks '$1': $(jq -r .status.message "$RESPONSE" | head -c 2000)"; return 1; }
}

assert_not_mutated() {
  [ "$(jq -r '.patch // "none"' "$RESPONSE")" = none ] || { echo "unexpected patch: $(decoded_patch | head -c 2000)"; return 1; }
}

# The response's JSON patch, decoded, keys sorted, one line.
decoded_patch() {
  jq -r .patch "$RESPONSE" | base64 -d | jq -cS .
}

# assert_patch EXPECTED_JSON — the decoded patch is exactly EXPECTED_JSON.
assert_patch() {
  local expected actual
  expected=$(jq -cS . <<<"$1")
  actual=$(decoded_patch)
  [ "$(jq -r .patchType "$RESPONSE")" = JSONPatch ] || { echo "patchType: $(head -c 2000 "$RESPONSE")"; return 1; }
  [ "$actual" = "$expected" ] || { printf 'patch:    %s\nexpected: %s\n' "$actual" "$expected"; return 1; }
}

# assert_host_error TEXT — the host refused the input before or instead of
# asking the policy: non-zero exit, nothing on stdout, TEXT on stderr, and no
# sign of a trap or a crash.
# A host error: non-zero exit, no response, no trap; stderr says "$1". With
# HOST_WORDING=runner-only, the wording is this runner's own (kwctl words the
# same failure its own way), so under kwctl only the failure itself is asserted.
assert_host_error() {
  [ "$status" -ne 0 ] || { echo "expected a host error, got: $(head -c 2000 "$RESPONSE")"; return 1; }
  [ ! -s "$RESPONSE" ] || { echo "stdout not empty: $(head -c 2000 "$RESPONSE")"; return 1; }
  if [ -z "${KWCTL:-}" ] || [ "${HOST_WORDING:-}" != runner-only ]; then
    grep -qF -- "$1" "$STDERR" || { echo "stderr lacks '$1': $(head -c 2000 "$STDERR")"; return 1; }
  fi
  ! grep -qiE 'trap|unreachable|panicked|internal error|stack overflow' "$STDERR" ||
    { echo "a trap: $(head -c 2000 "$STDERR")"; return 1; }
}

# check_manifests ARGS... — runs `policy-runner check ARGS...` (a command of
# the runner alone: kwctl has none, so these tests skip when KWCTL is set).
# Sets $status; stdout goes to the file $OUT, stderr to the file $ERR.
check_manifests() {
  [ -z "${KWCTL-}" ] || skip "policy-runner check has no kwctl counterpart"
  OUT=$BATS_TEST_TMPDIR/check.out
  ERR=$BATS_TEST_TMPDIR/check.err
  status=0
  bin/policy-runner check "$@" >"$OUT" 2>"$ERR" || status=$?
}

# assert_check_status N — `check` exited with N.
assert_check_status() {
  [ "$status" -eq "$1" ] || { echo "exit $status, expected $1"; cat "$OUT" "$ERR" | head -c 3000; return 1; }
}
