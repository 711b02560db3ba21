# Shared by the e2e tests. They run the policy through `${KWCTL:-bin/policy-runner} run`
bats_require_minimum_version 1.5.0
# and read only what a real `kwctl run` prints too: one AdmissionResponse JSON
# line on stdout (logs go to stderr). To run them against kwctl:
#   make annotated-policy.wasm && KWCTL=kwctl POLICY=annotated-policy.wasm bats e2e-tests/
RUNNER=${KWCTL:-bin/policy-runner}
POLICY=${POLICY:-policy.wasm}

# evaluate REQUEST_FILE [SETTINGS_JSON] — sets $status, $output, $response.
evaluate() {
  run --separate-stderr "$RUNNER" run --request-path "$1" --settings-json "${2:-{\}}" "$POLICY"
  response=$(printf '%s\n' "$output" | tail -n 1)
}

# request_with FIXTURE JQ_FILTER — writes a modified copy of a test_data fixture
# and prints its path.
request_with() {
  local out
  out=$(mktemp "$BATS_TEST_TMPDIR/request.XXXXXX.json")
  jq "$2" "test_data/$1" >"$out"
  echo "$out"
}

assert_allowed() {
  [ "$status" -eq 0 ] || { echo "exit $status: $stderr"; return 1; }
  [ "$(jq -r .allowed <<<"$response")" = true ] || { echo "not allowed: $response"; return 1; }
}

assert_rejected() {
  [ "$status" -eq 0 ] || { echo "exit $status: $stderr"; return 1; }
  [ "$(jq -r .allowed <<<"$response")" = false ] || { echo "not rejected: $response"; return 1; }
}

# assert_message_contains TEXT — the rejection message contains TEXT.
assert_message_contains() {
  jq -e --arg t "$1" '.status.message | contains($t)' <<<"$response" >/dev/null ||
    { echo "message lacks '$1': $(jq -r .status.message <<<"$response")"; return 1; }
}

assert_not_mutated() {
  [ "$(jq -r '.patch // "none"' <<<"$response")" = none ] || { echo "unexpected patch: $(decoded_patch)"; return 1; }
}

# The response's JSON patch, decoded, keys sorted, one line.
decoded_patch() {
  jq -r .patch <<<"$response" | base64 -d | jq -cS .
}

# assert_patch EXPECTED_JSON — the decoded patch is exactly EXPECTED_JSON.
assert_patch() {
  local expected actual
  expected=$(jq -cS . <<<"$1")
  actual=$(decoded_patch)
  [ "$(jq -r .patchType <<<"$response")" = JSONPatch ] || { echo "patchType: $response"; return 1; }
  [ "$actual" = "$expected" ] || { printf 'patch:    %s\nexpected: %s\n' "$actual" "$expected"; return 1; }
}
