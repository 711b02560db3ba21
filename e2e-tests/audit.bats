#!/usr/bin/env bats
# The audit: Kubewarden's audit scanner asks the policy about every stored
# object with a request of its own shape (test_data/audit/scanner-*.json:
# CREATE, no userInfo, uid = the object's metadata.uid, resource.resource = the
# Kind), and the PolicyReport says `pass` for any answer that accepts. Such a
# request is judged as under `mutate: false`: a missing declared mount is
# `declared-mount-missing`, a rejection, and nothing is mutated. The API
# server's requests and hand-written ones keep their answers. Each runs through
# `${KWCTL:-bin/policy-runner} run` (see common.bash), which re-serialises the
# request as policy-server does before the policy reads it.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

A=test_data/audit
SETTINGS=@$A/settings.json
SCANNER=$A/scanner-deployment-missing-mount.json
MISSING='[declared-mount-missing] spec.template.spec: container "app": secretMounts entry "api-key" (secret "api-key") is missing'
VOLUME='{"name":"secret-mounts","projected":{"sources":[{"secret":{"name":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}}]}}'

violations() {
  jq -r '.auditAnnotations.violations // ""' "$RESPONSE"
}

# assert_adds_the_mount — allowed, and the patch adds the projected volume.
assert_adds_the_mount() {
  assert_allowed
  decoded_patch | jq -e --argjson v "$VOLUME" 'any(.[]; .op == "add" and (.value == $v or .value == [$v]))' >/dev/null ||
    { echo "patch: $(decoded_patch)"; return 1; }
}

@test "audit: the scanner's request for a Deployment lacking its declared mount is declared-mount-missing" {
  evaluate $SCANNER "$SETTINGS"
  assert_rejected
  assert_not_mutated
  assert_message_contains 'Deployment "team-a/processor" breaks the secret mounts rules (1 violation):'
  assert_message_contains "$MISSING"
  assert_message_contains 'add {name: secret-mounts, mountPath: /etc/secrets, readOnly: true}'
  [ "$(violations)" = declared-mount-missing ]
}

@test "audit: the scanner's request is answered exactly as under mutate: false" {
  evaluate $SCANNER "$SETTINGS"
  audit=$(jq -cS 'del(.uid)' "$RESPONSE")
  evaluate $SCANNER "$(jq -c '.mutate = false' $A/settings.json)"
  assert_rejected
  [ "$(jq -cS 'del(.uid)' "$RESPONSE")" = "$audit" ] || { echo "audit:  $audit"; echo "mutate: $(cat "$RESPONSE")"; false; }
}

@test "audit: the API server's CREATE (mutating webhook, no metadata.uid) is still mutated" {
  evaluate $A/apiserver-create.json "$SETTINGS"
  assert_adds_the_mount
}

@test "audit: the API server's CREATE to a validating webhook (metadata.uid set) is still mutated" {
  evaluate $A/apiserver-validating-create.json "$SETTINGS"
  assert_adds_the_mount
}

@test "audit: the API server's UPDATE of the stored object is still mutated" {
  evaluate $A/apiserver-update.json "$SETTINGS"
  assert_adds_the_mount
}

@test "audit: a request written by hand for kwctl run (empty userInfo) is still mutated" {
  evaluate $A/kwctl-hand-written.json "$SETTINGS"
  assert_adds_the_mount
}

@test "audit: without any one of the scanner's signals the request is judged as admission judges it" {
  for change in '.userInfo = {username: "alice"}' '.uid = "a2c4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f"' \
    'del(.object.metadata.uid)' '.resource.resource = "deployments"'; do
    evaluate "$(request_with audit/scanner-deployment-missing-mount.json "$change")" "$SETTINGS"
    assert_adds_the_mount || { echo "after: $change"; false; }
  done
}

@test "audit: a Deployment that has the declared mount passes the audit" {
  mounted=$(request_with audit/scanner-deployment-missing-mount.json "
    .object.spec.template.spec.volumes = [$VOLUME]
    | .object.spec.template.spec.containers[0].volumeMounts = [{name: \"secret-mounts\", mountPath: \"/etc/secrets\", readOnly: true}]")
  evaluate "$mounted" "$SETTINGS"
  assert_allowed
  assert_not_mutated
  [ "$(violations)" = "" ]
}

@test "audit vault-sync: a mount a VaultPKISecret declares is declared-mount-missing in the audit" {
  # deployment-web.json as the audit scanner sends the stored Deployment
  req=$(request_with vault-sync/deployment-web.json \
    '.object.metadata.uid = "9e1f0c2b-3a4d-4e5f-8a6b-7c8d9e0f1a2b" | .uid = .object.metadata.uid | .userInfo = {}
     | .resource.resource = .kind.kind | del(.requestResource)')
  local deadline=()
  [ -n "${KWCTL-}" ] || deadline=(--timeout-ms "${E2E_TIMEOUT_MS:-120000}")
  RESPONSE=$BATS_TEST_TMPDIR/response.json
  STDERR=$BATS_TEST_TMPDIR/stderr.txt
  status=0
  "$RUNNER" run --allow-context-aware --replay-host-capabilities-interactions test_data/vault-sync/discovered.yml \
    --request-path "$req" --settings-json '{"vaultSync":{"require":"reject","discover":true}}' \
    "${deadline[@]}" "$POLICY" >"$RESPONSE" 2>"$STDERR" || status=$?
  assert_rejected
  assert_not_mutated
  assert_message_contains '[declared-mount-missing] spec.template.spec: container "web": the mount of secret "web-tls" declared by VaultPKISecret "web-tls" (its rolloutRestartTargets name this workload) is missing'
  [ "$(violations)" = declared-mount-missing ]
}
