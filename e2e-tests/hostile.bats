#!/usr/bin/env bats
# Hostile inputs through the real wasm module: each is answered by a clean
# response (exit 0, one JSON line, `allowed` true/false and, when rejected, a
# clear `status.message`) — never a trap. An admission policy sits in the write
# path of the whole cluster: a trap would be an error for every request.
#
# Inputs are generated at test time by gen_hostile.py (nothing big is committed).
# Only what a real `kwctl run` shares is used: stdout is the response, errors of
# the host (unparsable request file, invalid settings) are on stderr with a
# non-zero exit. Run against kwctl with
#   KWCTL=kwctl POLICY=annotated-policy.wasm bats e2e-tests/hostile.bats
#
# The host (kwctl, policy-server, this runner) parses the request and
# re-serialises it before the policy sees it: bytes that are not JSON, lone
# surrogates and nesting past serde_json's limit of 128 levels never reach the
# module — the host answers with an error. The module itself is tested with
# those raw bytes natively, by calling `evaluate::validate(b"...")` in
# tests/fuzz_regressions.rs (and by the fuzz targets in fuzz/).
#
# | input                                          | expected answer                                                        |
# |------------------------------------------------|------------------------------------------------------------------------|
# | request file of non-JSON bytes (not UTF-8)     | host error; the runner: "cannot read request file" (guest: native, 400)|
# | request file of non-JSON text                  | host error; the runner: "cannot parse request file" (guest: native)    |
# | `object: {}`                                   | accepted: no pod spec to judge                                         |
# | `object: null` (CREATE)                        | accepted: nothing to judge                                             |
# | `spec: 5`                                      | rejected [malformed-object] "spec must be an object, found a number"   |
# | `containers` an object, not a list             | rejected [malformed-object] "...containers must be a list, ..."        |
# | 10,000 compliant containers                    | accepted, not mutated                                                  |
# | 10,000 containers with env secretKeyRef        | rejected, "(10000 violations)", each one named                         |
# | 10,000 bare containers + a secretMounts entry  | accepted, patched: 1 volume + 10,000 volumeMounts, all `add`           |
# | 100,000 env vars, the last a secretKeyRef      | rejected, names env[99999]                                             |
# | a 20 MB request (1,000 annotations of 20 KiB)  | accepted; with secretMounts: accepted and patched (2 ops)              |
# | exotic floats in an unrelated field, mutated   | accepted, patched with `add` only (kwctl: see the test, host's parse)  |
# | 1,000-level nesting in an unrelated field      | host error "recursion limit exceeded" (guest: native test, 400)        |
# | 127-level nesting (the host's maximum)         | accepted: the module parses the object apart from the envelope         |
# | a lone surrogate `\ud800` in a string          | host error "cannot parse request file" (guest: native test, 400)       |
# | duplicate keys, the clean list last            | accepted: the host keeps the last key, as the API server does          |
# | duplicate keys, the secretKeyRef list last     | rejected [env-secret-ref]                                              |
# | unknown kind example.com/v1 Widget             | accepted: not a kind with a pod spec (nor in podSpecPaths)             |
# | a Deployment of group example.com              | accepted: only apps/Deployment is built in                             |
# | a v1 Secret                                    | accepted: not a workload                                               |
# | DELETE without object                          | accepted: nothing to judge                                             |
# | settings of the wrong types                    | host error "Provided settings are not valid: mutate: invalid type..."  |
# | settings with negative numbers                 | host error "Provided settings are not valid: ...integer `-1`..."       |
# | settings with huge numbers                     | host error "Provided settings are not valid: ...floating point..."     |
# | settings with a number out of range (1e400)    | host error "cannot parse --settings-json: number out of range"         |
# | settings with a 1 MiB volumeName               | host error "Provided settings are not valid: volumeName ..."           |
# | settings with 1,000 secretMounts entries       | accepted and patched (1,000 sources in one projected volume)           |
# | podSpecPaths `[?(@.x == 1e400)]`, `[::0]`      | host error "Provided settings are not valid: podSpecPaths..." (these   |
# |                                                | expressions parse, but jsonpath_lib panics evaluating them)            |

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
  GEN="python3 $BATS_TEST_DIRNAME/gen_hostile.py"
}

# gen CASE [N] — generates an input into the test's temporary directory and
# prints its path.
gen() {
  local out=$BATS_TEST_TMPDIR/$1${2:+-$2}.json
  $GEN "$1" "$out" "${2:-1}"
  echo "$out"
}

DECLARED='{"secretMounts":[{"name":"api-key","secretName":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}]}'

# ---------------------------------------------------------------------------
# Malformed requests and objects
# ---------------------------------------------------------------------------

@test "hostile: a request file of non-JSON bytes is a host error (the module is tested natively)" {
  # How the host words a request file it cannot read is its own: kwctl's words
  # differ from the runner's, so only the runner's wording is checked.
  evaluate "$(gen not-json)"
  HOST_WORDING=runner-only assert_host_error "cannot read request file"
  HOST_WORDING=runner-only assert_host_error "stream did not contain valid UTF-8"
  evaluate "$(gen not-json-text)"
  HOST_WORDING=runner-only assert_host_error "cannot parse request file"
}

@test "hostile: an empty object is accepted" {
  evaluate "$(gen object-empty)"
  assert_allowed
  assert_not_mutated
}

@test "hostile: a null object on CREATE is accepted" {
  evaluate "$(gen object-null)" "$DECLARED"
  assert_allowed
  assert_not_mutated
}

@test "hostile: spec of the wrong type (spec: 5) is rejected as malformed" {
  evaluate "$(gen spec-number)" "$DECLARED"
  assert_rejected
  assert_message_contains "spec must be an object, found a number"
  [ "$(jq -r .auditAnnotations.violations "$RESPONSE")" = malformed-object ]
}

@test "hostile: containers that are not a list are rejected as malformed" {
  evaluate "$(gen containers-not-list)" "$DECLARED"
  assert_rejected
  assert_message_contains "spec.template.spec.containers"
  assert_message_contains "must be a list, found an object"
  assert_not_mutated
}

# ---------------------------------------------------------------------------
# Size
# ---------------------------------------------------------------------------

@test "hostile: 10,000 compliant containers are accepted" {
  evaluate "$(gen containers-compliant 10000)"
  assert_allowed
  assert_not_mutated
}

@test "hostile: 10,000 containers reading a secret from env are rejected in a message that fits a terminal" {
  evaluate "$(gen containers-env-secret 10000)"
  assert_rejected
  assert_message_contains "(10000 violations)"
  assert_message_contains 'spec.template.spec.containers[0].env[0]: container "c0"'
  assert_message_contains ' more of 10000, not listed: env-secret-ref '
  [ "$(jq -r .status.message "$RESPONSE" | wc -c)" -le 4097 ]
}

@test "hostile: 10,000 bare containers get the declared mount, with additions only" {
  evaluate "$(gen containers-bare 10000)" "$DECLARED"
  assert_allowed
  [ "$(jq -r .patchType "$RESPONSE")" = JSONPatch ]
  decoded_patch >"$BATS_TEST_TMPDIR/patch.json"
  [ "$(jq length "$BATS_TEST_TMPDIR/patch.json")" -eq 10001 ]
  [ "$(jq '[.[] | select(.op != "add")] | length' "$BATS_TEST_TMPDIR/patch.json")" -eq 0 ]
  [ "$(jq '[.[] | select(.path | endswith("/volumeMounts"))] | length' "$BATS_TEST_TMPDIR/patch.json")" -eq 10000 ]
}

@test "hostile: 100,000 env vars, the last a secretKeyRef, are rejected naming it" {
  evaluate "$(gen env-many 100000)"
  assert_rejected
  assert_message_contains "(1 violation)"
  assert_message_contains 'spec.template.spec.containers[0].env[99999]: container "app": env "DB_PASSWORD"'
}

@test "hostile: a 20 MB request is accepted" {
  request=$(gen big 20)
  [ "$(stat -c %s "$request")" -ge $((20 * 1024 * 1024)) ]
  evaluate "$request"
  assert_allowed
  assert_not_mutated
}

@test "hostile: a 20 MB request is mutated with additions only" {
  evaluate "$(gen big 20)" "$DECLARED"
  assert_allowed
  decoded_patch >"$BATS_TEST_TMPDIR/patch.json"
  jq -e 'length > 0 and all(.[]; .op == "add")' "$BATS_TEST_TMPDIR/patch.json" >/dev/null
  jq -e 'any(.[]; .path == "/spec/template/spec/containers/2/volumeMounts")' "$BATS_TEST_TMPDIR/patch.json" >/dev/null
}

# ---------------------------------------------------------------------------
# Nesting and encoding
# ---------------------------------------------------------------------------

@test "hostile: floats in an unrelated field survive the mutation bit for bit" {
  evaluate "$(gen floats)" "$DECLARED"
  assert_allowed
  decoded_patch >"$BATS_TEST_TMPDIR/patch.json"
  jq -e 'any(.[]; .op == "add" and (.path | startswith("/spec/template/spec/")))' "$BATS_TEST_TMPDIR/patch.json" >/dev/null
  # The policy returns the request's own bytes for every float (it splices its
  # additions into the object's text). kwctl, though, parses the request file
  # without serde_json's float_roundtrip, so a float can reach the policy one
  # ULP off and come back as a `replace` of /spec/floats/N: a limitation of
  # that host, not of the policy. Under kwctl only those are tolerated.
  local unexpected='[.[] | select(.op != "add")]'
  [ -z "${KWCTL:-}" ] || unexpected='[.[] | select(.op != "add" and (.path | test("^/spec/floats/[0-9]+$") | not))]'
  jq -e "$unexpected | length == 0" "$BATS_TEST_TMPDIR/patch.json" >/dev/null ||
    { echo "the mutation changes values it never meant to: $(jq -c "$unexpected" "$BATS_TEST_TMPDIR/patch.json")"; return 1; }
}

@test "hostile: 1,000-level nesting is refused by the host's parser (the module is tested natively)" {
  evaluate "$(gen deep 1000)"
  assert_host_error "recursion limit exceeded"
}

@test "hostile: the deepest request the host accepts is judged normally" {
  # The host parses at most 127 levels. Where the module's one-pass parse of
  # the payload reaches its own limit of 128, it parses the envelope and the
  # object apart, each within the limit, and judges the request like any other.
  evaluate "$(gen deep 127)"
  assert_allowed
}

@test "hostile: 100-level nesting in an unrelated field is judged normally" {
  evaluate "$(gen deep 100)"
  assert_allowed
}

@test "hostile: a lone surrogate is refused by the host's parser (the module is tested natively)" {
  evaluate "$(gen lone-surrogate)"
  HOST_WORDING=runner-only assert_host_error "cannot parse request file"
}

@test "hostile: duplicate keys, the clean list last: accepted (the last key wins)" {
  evaluate "$(gen duplicate-keys-last-clean)"
  assert_allowed
}

@test "hostile: duplicate keys, the secretKeyRef list last: rejected (the last key wins)" {
  evaluate "$(gen duplicate-keys-last-dirty)"
  assert_rejected
  assert_message_contains "[env-secret-ref]"
}

# ---------------------------------------------------------------------------
# Kinds and operations
# ---------------------------------------------------------------------------

@test "hostile: an unknown kind is accepted untouched" {
  evaluate "$(gen unknown-kind)" "$DECLARED"
  assert_allowed
  assert_not_mutated
}

@test "hostile: a Deployment of another API group is accepted untouched" {
  evaluate "$(gen lookalike-kind)" "$DECLARED"
  assert_allowed
  assert_not_mutated
}

@test "hostile: a Secret is accepted untouched" {
  evaluate "$(gen secret-object)" "$DECLARED"
  assert_allowed
  assert_not_mutated
}

@test "hostile: DELETE without an object is accepted" {
  evaluate "$(gen delete-without-object)" "$DECLARED"
  assert_allowed
  assert_not_mutated
}

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

@test "hostile settings: wrong types are refused, naming the field" {
  request=$(gen object-empty)
  evaluate "$request" '{"mutate": "yes"}'
  assert_host_error 'Provided settings are not valid: mutate: invalid type: string "yes", expected a boolean'
  evaluate "$request" '{"secretMounts": {"name": "a"}}'
  assert_host_error "Provided settings are not valid: secretMounts: invalid type: map, expected a sequence"
  evaluate "$request" '{"exemptContainers": "vault-agent"}'
  assert_host_error "Provided settings are not valid: exemptContainers: invalid type: string"
  evaluate "$request" '{"secretMounts": [{"name": "a", "secretName": "a", "items": [{"key": "K", "path": 5}]}]}'
  assert_host_error "Provided settings are not valid: secretMounts[0].items[0].path: invalid type: integer"
}

@test "hostile settings: negative numbers are refused" {
  request=$(gen object-empty)
  evaluate "$request" '{"mutate": -1}'
  assert_host_error 'Provided settings are not valid: mutate: invalid type: integer `-1`, expected a boolean'
  evaluate "$request" '{"mountPath": -9223372036854775808}'
  assert_host_error 'Provided settings are not valid: mountPath: invalid type: integer `-9223372036854775808`, expected a string'
}

@test "hostile settings: huge numbers are refused" {
  request=$(gen object-empty)
  evaluate "$request" '{"volumeName": 18446744073709551616}'
  assert_host_error "Provided settings are not valid: volumeName: invalid type: floating point"
  evaluate "$request" '{"secretMounts": 1.7976931348623157e308}'
  assert_host_error "Provided settings are not valid: secretMounts: invalid type: floating point"
}

@test "hostile settings: a number out of range is refused by the host's parser" {
  evaluate "$(gen object-empty)" '{"mutate": 1e400}'
  assert_host_error "number out of range"
}

@test "hostile settings: a 1 MiB volumeName is refused" {
  python3 -c 'import json; print(json.dumps({"volumeName": "a" * (1 << 20)}))' >"$BATS_TEST_TMPDIR/settings.json"
  evaluate "$(gen object-empty)" "@$BATS_TEST_TMPDIR/settings.json"
  assert_host_error "Provided settings are not valid: volumeName"
  assert_host_error "must be a DNS-1123 label"
}

@test "hostile settings: 1,000 secretMounts entries are applied" {
  settings=$(gen settings-many-mounts 1000)
  evaluate "$(gen containers-bare 3)" "@$settings"
  assert_allowed
  decoded_patch >"$BATS_TEST_TMPDIR/patch.json"
  jq -e 'all(.[]; .op == "add")' "$BATS_TEST_TMPDIR/patch.json" >/dev/null
  [ "$(jq '[.[] | select(.path == "/spec/template/spec/volumes")][0].value[0].projected.sources | length' "$BATS_TEST_TMPDIR/patch.json")" -eq 1000 ]
}

@test "hostile settings: podSpecPaths expressions jsonpath_lib cannot evaluate are refused, never a trap" {
  # Both parse, but jsonpath_lib 0.3.0 panics evaluating them (a non-finite
  # number literal: select/mod.rs:767 Number::from_f64(..).unwrap(); a zero
  # slice step: Iterator::step_by(0)). Found by fuzz/ (target `settings`).
  cat >"$BATS_TEST_TMPDIR/thing.json" <<'EOF'
{"uid": "t", "kind": {"group": "example.com", "version": "v1", "kind": "Thing"},
 "resource": {"group": "example.com", "version": "v1", "resource": "things"},
 "operation": "CREATE", "userInfo": {"username": "hostile"},
 "object": {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
            "spec": [{"containers": [{"name": "app"}]}, {"x": 1}]}}
EOF
  for expression in '$.spec[?(@.x == 1e400)]' '$.spec[::0]'; do
    evaluate "$BATS_TEST_TMPDIR/thing.json" "{\"podSpecPaths\": {\"example.com/v1/Thing\": [\"$expression\"]}}"
    if [ "$status" -eq 0 ]; then
      assert_clean_answer
    else
      assert_host_error "Provided settings are not valid: podSpecPaths"
    fi
  done
}
