#!/usr/bin/env bats
# vaultSync: the policy as a context-aware policy. `run` answers its three
# list_resources_by_namespace calls from host capabilities session files in
# kwctl's format (test_data/vault-sync/*.yml, replayed strictly in order);
# `check` answers them from the manifests and --cluster-state. Against kwctl
# (see common.bash; the module must be annotated, so that it declares the VSO
# kinds in contextAwareResources) the `run` tests pass too; the parts that
# are the runner's own (exit codes and words of an out-of-step session, `check`)
# are skipped or asserted only for the runner.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

VS=test_data/vault-sync
WEB=$VS/deployment-web.json
SPEC=.object.spec.template.spec
REJECT='{"vaultSync":{"require":"reject"}}'
DISCOVER='{"vaultSync":{"require":"reject","discover":true}}'

# replay SESSION REQUEST SETTINGS [FLAGS...] — `run --allow-context-aware
# --replay-host-capabilities-interactions SESSION`, like `evaluate` (common.bash):
# sets $status, $RESPONSE and $STDERR.
replay() {
  local session=$1 request=$2 settings=$3
  shift 3
  local deadline=()
  [ -n "${KWCTL-}" ] || deadline=(--timeout-ms "${E2E_TIMEOUT_MS:-120000}")
  RESPONSE=$BATS_TEST_TMPDIR/response.json
  STDERR=$BATS_TEST_TMPDIR/stderr.txt
  status=0
  "$RUNNER" run --replay-host-capabilities-interactions "$session" --request-path "$request" \
    --settings-json "$settings" "${deadline[@]}" "$@" "$POLICY" >"$RESPONSE" 2>"$STDERR" || status=$?
}

runner_only() {
  [ -z "${KWCTL-}" ] || skip "policy-runner's own behaviour: $1"
}

violations() {
  jq -r '.auditAnnotations.violations // ""' "$RESPONSE"
}

assert_no_findings() {
  [ "$(violations)" = "" ] || { echo "violations: $(violations)"; return 1; }
  [ "$(jq -r '.warnings // [] | length' "$RESPONSE")" = 0 ] || { echo "warnings: $(jq -c .warnings "$RESPONSE")"; return 1; }
}

# A session replayed in step: no error or warning from the replay on stderr.
assert_session_in_step() {
  if [ -z "${KWCTL-}" ]; then
    ! grep -qE 'out of step|were not replayed' "$STDERR" || { cat "$STDERR"; return 1; }
  fi
}

@test "vault-sync: a Secret synced by a VaultStaticSecret of the namespace is accepted" {
  replay $VS/synced.yml $WEB "$REJECT" --allow-context-aware
  assert_allowed
  assert_not_mutated
  assert_no_findings
  assert_session_in_step
}

@test "vault-sync: a Secret no VSO resource syncs is rejected under require: reject" {
  replay $VS/not-synced.yml $WEB "$REJECT" --allow-context-aware
  assert_rejected
  assert_message_contains '[secret-not-vault-synced] spec.template.spec.containers[0].volumeMounts[0]: container "web": volumeMount of volume "secrets" uses secret "db-creds", which no Vault Secrets Operator resource in namespace "team-a" syncs from Vault'
  [ "$(violations)" = secret-not-vault-synced ]
  assert_session_in_step
}

@test "vault-sync: a Secret no VSO resource syncs is a warning under require: warn" {
  replay $VS/not-synced.yml $WEB '{"vaultSync":{"require":"warn"}}' --allow-context-aware
  assert_allowed
  assert_not_mutated
  jq -e '.warnings | length == 1 and (.[0] | startswith("[secret-not-vault-synced]") and contains("secret \"db-creds\""))' "$RESPONSE" >/dev/null ||
    { jq -c .warnings "$RESPONSE"; false; }
  [ "$(violations)" = secret-not-vault-synced ]
}

@test "vault-sync: an exempt Secret needs no VSO resource" {
  replay $VS/not-synced.yml $WEB '{"exemptSecrets":["db-*"],"vaultSync":{"require":"reject"}}' --allow-context-aware
  assert_allowed
  assert_not_mutated
  assert_no_findings
  assert_session_in_step
}

@test "vault-sync: discover adds the mount a VaultPKISecret declares through rolloutRestartTargets" {
  replay $VS/discovered.yml $WEB "$DISCOVER" --allow-context-aware
  assert_allowed
  assert_patch '[{"op":"add","path":"/spec/template/spec/volumes/0/projected/sources/1","value":{"secret":{"name":"web-tls"}}}]'
  assert_session_in_step
}

@test "vault-sync: with mutate: false the discovered mount is reported missing" {
  replay $VS/discovered.yml $WEB '{"mutate":false,"vaultSync":{"require":"reject","discover":true}}' --allow-context-aware
  assert_rejected
  assert_message_contains '[declared-mount-missing] spec.template.spec: container "web": the mount of secret "web-tls" declared by VaultPKISecret "web-tls" (its rolloutRestartTargets name this workload) is missing'
  [ "$(violations)" = declared-mount-missing ]
}

@test "vault-sync: a discovered mount that is present changes nothing" {
  req=$(request_with vault-sync/deployment-web.json "$SPEC.volumes[0].projected.sources += [{secret: {name: \"web-tls\"}}]")
  replay $VS/discovered.yml "$req" "$DISCOVER" --allow-context-aware
  assert_allowed
  assert_not_mutated
  assert_no_findings
}

@test "vault-sync: an explicit secretMounts entry for the same Secret wins over discovery" {
  replay $VS/discovered.yml $WEB '{"secretMounts":[{"name":"tls","secretName":"web-tls","items":[{"key":"tls.crt","path":"tls/tls.crt"}]}],"vaultSync":{"require":"reject","discover":true}}' --allow-context-aware
  assert_allowed
  assert_patch '[{"op":"add","path":"/spec/template/spec/volumes/0/projected/sources/1","value":{"secret":{"name":"web-tls","items":[{"key":"tls.crt","path":"tls/tls.crt"}]}}}]'
}

@test "vault-sync: a host error recorded in the session is vault-sync-unavailable" {
  replay $VS/host-error.yml $WEB "$REJECT" --allow-context-aware
  assert_rejected
  assert_message_contains '[vault-sync-unavailable] metadata.namespace: could not list VaultDynamicSecret (secrets.hashicorp.com/v1beta1) in namespace "team-a"'
  # the host's error reaches the message as kwctl's host words it
  assert_message_contains 'Callback evaluation failure: error finding resource secrets.hashicorp.com/v1beta1 / VaultDynamicSecret'
  [ "$(violations)" = vault-sync-unavailable ]
  assert_session_in_step
  # only a warning unless require: reject
  replay $VS/host-error.yml $WEB '{"vaultSync":{"require":"warn"}}' --allow-context-aware
  assert_allowed
  jq -e '.warnings | length == 1 and (.[0] | startswith("[vault-sync-unavailable]"))' "$RESPONSE" >/dev/null ||
    { jq -c .warnings "$RESPONSE"; false; }
}

@test "vault-sync: without --allow-context-aware the look-ups are denied as in kwctl" {
  replay $VS/synced.yml $WEB "$REJECT"
  assert_rejected
  assert_message_contains '[vault-sync-unavailable]'
  assert_message_contains 'Policy has not been granted access to Kubernetes secrets.hashicorp.com/v1beta1/VaultStaticSecret resources. The violation has been reported.'
}

@test "vault-sync: with vaultSync off the policy makes no host call" {
  # no-calls.yml has no exchange: any call would fail (and fail the run)
  replay $VS/no-calls.yml $WEB '{}' --allow-context-aware
  assert_allowed
  assert_not_mutated
  assert_no_findings
  replay $VS/no-calls.yml $WEB '{"vaultSync":{"require":"off","discover":false}}' --allow-context-aware
  assert_allowed
  assert_no_findings
  runner_only "the count of host calls"
  "$RUNNER" -v run --allow-context-aware --replay-host-capabilities-interactions $VS/no-calls.yml \
    --request-path $WEB --settings-json '{}' "$POLICY" 2>"$STDERR" >/dev/null
  grep -qF 'replayed 0 of 0 recorded host capability exchanges from test_data/vault-sync/no-calls.yml (0 Kubernetes host calls)' "$STDERR" ||
    { cat "$STDERR"; false; }
}

@test "vault-sync: a call the session does not have fails, and the run with it" {
  replay $VS/no-calls.yml $WEB "$REJECT" --allow-context-aware
  # the policy got kwctl's replay error as a host error
  assert_message_contains '[vault-sync-unavailable]'
  assert_message_contains 'the list of recorded responses is empty'
  runner_only "exit code of a session out of step"
  [ "$status" -eq 1 ]
  grep -qF 'host capabilities session test_data/vault-sync/no-calls.yml is out of step: host call 1 has no recorded exchange (0 recorded' "$STDERR" ||
    { cat "$STDERR"; false; }
}

@test "vault-sync: a session out of step with the policy's calls is a clear error" {
  replay $VS/out-of-step.yml $WEB "$REJECT" --allow-context-aware
  # kwctl and the runner both name the mismatch on stderr...
  grep -qF 'Replay error: unexpected request. Was expecting KubernetesListResourceNamespace { api_version: "secrets.hashicorp.com/v1beta1", kind: "VaultDynamicSecret"' "$STDERR" ||
    { cat "$STDERR"; false; }
  # ...and the policy got it as a host error
  jq -e '.status.message | contains("[vault-sync-unavailable]") and contains("Replay error: unexpected request")' "$RESPONSE" >/dev/null ||
    { head -c 2000 "$RESPONSE"; false; }
  runner_only "exit code of a session out of step"
  # the requests as the current kwctl (1.37) prints them: disable_cache and the masks
  grep -qF 'field_selector: None, disable_cache: false, field_masks: Some({"metadata.name", "spec.destination.name", "spec.rolloutRestartTargets"}) }, got' "$STDERR" ||
    { cat "$STDERR"; false; }
  [ "$status" -eq 1 ]
  [ "$(wc -l <"$RESPONSE")" -eq 1 ]
  grep -qF 'host capabilities session test_data/vault-sync/out-of-step.yml is out of step: host call 1 does not match exchange 1' "$STDERR"
}

@test "vault-sync: a session recorded from --cluster-state has the masks and pruned items, and replays" {
  runner_only "recording from manifests"
  state=$BATS_TEST_TMPDIR/state.yaml
  cat >"$state" <<'YAML'
apiVersion: secrets.hashicorp.com/v1beta1
kind: VaultStaticSecret
metadata: {name: web-db, namespace: team-a}
spec: {vaultAuthRef: team-a-auth, mount: kvv2, path: team-a/web/db, destination: {name: db-creds, create: true}}
---
apiVersion: secrets.hashicorp.com/v1beta1
kind: VaultPKISecret
metadata:
  name: web-tls
  namespace: team-a
  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{}'}
spec:
  vaultAuthRef: team-a-auth
  mount: pki
  destination: {name: web-tls, create: true}
  rolloutRestartTargets: [{kind: Deployment, name: web}]
status: {valid: true}
YAML
  session=$BATS_TEST_TMPDIR/recorded.yml
  "$RUNNER" run --allow-context-aware --cluster-state "$state" --record-host-capabilities-interactions "$session" \
    --request-path $WEB --settings-json "$DISCOVER" "$POLICY" >"$BATS_TEST_TMPDIR/response.json"
  [ "$(grep -c '^    field_masks:$' "$session")" -eq 3 ]
  [ "$(grep -c '^    disable_cache: false$' "$session")" -eq 3 ]
  # the PKI secret as the host lists it for the masks: no status, no vaultAuthRef, no last-applied
  grep -qF '"items":[{"apiVersion":"secrets.hashicorp.com/v1beta1","kind":"VaultPKISecret","metadata":{"annotations":{},"managedFields":[],"name":"web-tls","namespace":"team-a"},"spec":{"destination":{"name":"web-tls"},"rolloutRestartTargets":[{"kind":"Deployment","name":"web"}]}}]' "$session" ||
    { cat "$session"; false; }
  replay "$session" $WEB "$DISCOVER" --allow-context-aware
  assert_allowed
  assert_patch '[{"op":"add","path":"/spec/template/spec/volumes/0/projected/sources/1","value":{"secret":{"name":"web-tls"}}}]'
  assert_session_in_step
}

# check: policy CI renders a chart and checks it, with no cluster.

chart() {
  local out=$BATS_TEST_TMPDIR/chart.yaml
  cat >"$out"
  echo "$out"
}

DEPLOYMENT_DOC='---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/team-a/web:1.8.2
          volumeMounts:
            - {name: secrets, mountPath: /etc/secrets, readOnly: true}
      volumes:
        - name: secrets
          projected:
            sources:
              - secret:
                  name: db-creds
                  items: [{key: password, path: db/password}]'

VSS_DOC='---
# Source: web/templates/vault-static-secret.yaml
apiVersion: secrets.hashicorp.com/v1beta1
kind: VaultStaticSecret
metadata:
  name: web-db
  namespace: team-a
spec:
  vaultAuthRef: team-a-auth
  mount: kvv2
  type: kv-v2
  path: team-a/web/db
  refreshAfter: 1h
  destination:
    name: db-creds
    create: true'

@test "check vault-sync: a chart's VaultStaticSecret syncs its Deployment's Secret" {
  f=$(chart <<<"$VSS_DOC
$DEPLOYMENT_DOC")
  check_manifests -o json --settings-json "$REJECT" "$POLICY" "$f"
  assert_check_status 0
  run jq -r '[.kind, .verdict] | join(" ")' "$OUT"
  [ "${lines[0]}" = "VaultStaticSecret skipped" ]
  [ "${lines[1]}" = "Deployment allowed" ]
}

@test "check vault-sync: without a VSO resource the Deployment is rejected" {
  f=$(chart <<<"$DEPLOYMENT_DOC")
  check_manifests -o json --settings-json "$REJECT" "$POLICY" "$f"
  assert_check_status 1
  [ "$(jq -r '[.verdict, (.rules | join(","))] | join(" ")' "$OUT")" = "rejected secret-not-vault-synced" ]
}

@test "check vault-sync: --cluster-state holds what the chart does not render" {
  f=$(chart <<<"$DEPLOYMENT_DOC")
  state=$(mktemp "$BATS_TEST_TMPDIR/state.XXXXXX.yaml")
  # another namespace's VaultStaticSecret syncs nothing in team-a
  sed -e 's/namespace: team-a/namespace: team-b/' <<<"$VSS_DOC" >"$state"
  check_manifests -o json --settings-json "$REJECT" --cluster-state "$state" "$POLICY" "$f"
  assert_check_status 1
  sed -e 's/namespace: team-b/namespace: team-a/' -i "$state"
  check_manifests -o json --settings-json "$REJECT" --cluster-state "$state" "$POLICY" "$f"
  assert_check_status 0
  [ "$(jq -r .verdict "$OUT")" = allowed ]
}

@test "check vault-sync: objects without a namespace are in --namespace (default: default)" {
  f=$(chart <<<"$VSS_DOC
$DEPLOYMENT_DOC")
  sed -e '/namespace: team-a/d' -i "$f"
  # both in `default`: synced
  check_manifests -o json --settings-json "$REJECT" "$POLICY" "$f"
  assert_check_status 0
  # the VSO resource only in the cluster state of team-a: synced only with --namespace team-a
  state=$(mktemp "$BATS_TEST_TMPDIR/state.XXXXXX.yaml")
  echo "$VSS_DOC" >"$state"
  f=$(chart <<<"$DEPLOYMENT_DOC")
  sed -e '/namespace: team-a/d' -i "$f"
  check_manifests -o json --settings-json "$REJECT" --cluster-state "$state" "$POLICY" "$f"
  assert_check_status 1
  check_manifests -o json --settings-json "$REJECT" --cluster-state "$state" --namespace team-a "$POLICY" "$f"
  assert_check_status 0
}

@test "check vault-sync: a rendered VSO resource naming the Deployment adds its mount" {
  f=$(chart <<<"$VSS_DOC
---
apiVersion: secrets.hashicorp.com/v1beta1
kind: VaultPKISecret
metadata:
  name: web-tls
  namespace: team-a
spec:
  vaultAuthRef: team-a-auth
  mount: pki
  role: team-a-web
  commonName: web.team-a.svc
  destination: {name: web-tls, create: true, type: kubernetes.io/tls}
  rolloutRestartTargets: [{kind: Deployment, name: web}]
$DEPLOYMENT_DOC")
  check_manifests -o json --settings-json "$DISCOVER" "$POLICY" "$f"
  assert_check_status 0
  run jq -c 'select(.kind == "Deployment") | [.verdict, .patch]' "$OUT"
  # web-tls, synced by the VaultPKISecret that restarts the Deployment, is added
  [ "$output" = '["mutated",[{"op":"add","path":"/spec/template/spec/volumes/0/projected/sources/1","value":{"secret":{"name":"web-tls"}}}]]' ] ||
    { echo "$output"; false; }
}

@test "check vault-sync: the worked example of docs/vault-sync.md prints what the page shows" {
  runner_only "check"
  local expected actual
  # The console block after the example's command line, up to its closing fence.
  expected=$(awk '/^\$ bin\/policy-runner check --settings-path examples\/vault-sync\/settings.yml/ {on=1; next}
                  on && /^```/ {exit} on' docs/vault-sync.md)
  [ -n "$expected" ] || { echo "docs/vault-sync.md lacks the worked example"; return 1; }
  status=0
  actual=$("$RUNNER" check --settings-path examples/vault-sync/settings.yml "$POLICY" examples/vault-sync/chart.yaml) || status=$?
  [ "$status" -eq 1 ] || { echo "exit $status (1: something rejected)"; return 1; }
  [ "$actual" = "$expected" ] || { diff <(echo "$expected") <(echo "$actual"); return 1; }
}
