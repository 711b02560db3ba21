#!/usr/bin/env bats
# Safe rollout (README "Safe rollout") through policy.wasm: owned objects,
# UPDATE (template changes, existing violations), ephemeral containers and
# deletions, as the API server sends them. See common.bash for running
# against kwctl.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

SEED_SETTINGS='{"volumeName":"processor-secrets","secretMounts":[{"name":"api-key","secretName":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}]}'
BLOCKING_SETTINGS='{"allowExistingViolations":false,"volumeName":"processor-secrets","secretMounts":[{"name":"api-key","secretName":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}]}'
SPEC=.object.spec.template.spec
AS_REPLICA_SET='.kind.kind = "ReplicaSet" | .resource.resource = "replicasets" | .object.kind = "ReplicaSet" | .object.spec.template.metadata.labels["pod-template-hash"] = "5d8f7c9b6"'
OWNED='.object.metadata.ownerReferences = [{apiVersion: "apps/v1", kind: "Deployment", name: "processor", uid: "d-uid", controller: true, blockOwnerDeletion: true}]'
# An UPDATE whose old object is the fixture's object as it stands.
AS_UPDATE='.operation = "UPDATE" | .options = {kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1"} | .oldObject = .object'
DB_ENV='{name: "DB_PASSWORD", valueFrom: {secretKeyRef: {name: "db", key: "password"}}}'

@test "a ReplicaSet its Deployment controls is not patched, and a missing mount is not its violation" {
  req=$(request_with deployment-missing-mount.json "$AS_REPLICA_SET | $OWNED")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
  [ "$(jq -r '.warnings // [] | length' "$RESPONSE")" = 0 ]
}

@test "a ReplicaSet whose owner is not its controller is patched as any object" {
  req=$(request_with deployment-missing-mount.json "$AS_REPLICA_SET | $OWNED | .object.metadata.ownerReferences[0].controller = false")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  [ "$(jq -r .patchType "$RESPONSE")" = JSONPatch ]
}

@test "a Pod a ReplicaSet controls is not patched, but still judged" {
  # From a template without the declared mount (a Deployment the policy never saw).
  unmounted='del(.object.spec.volumes[] | select(.name == "processor-secrets")) | .object.spec.containers[0].volumeMounts |= map(select(.name != "processor-secrets"))'
  req=$(request_with pod-kube-api-access.json "$unmounted")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
  [ "$(jq -r '.warnings // [] | length' "$RESPONSE")" = 0 ]
  req=$(request_with pod-kube-api-access.json "$unmounted | .object.spec.containers[0].env += [$DB_ENV]")
  evaluate "$req" "$SEED_SETTINGS"
  assert_rejected
  assert_message_contains '[env-secret-ref] spec.containers[0].env['
}

@test "a Job its CronJob controls is not patched" {
  req=$(request_with deployment-missing-mount.json '.kind = {group: "batch", version: "v1", kind: "Job"} | .resource.resource = "jobs" | .object.apiVersion = "batch/v1" | .object.kind = "Job" | .object.metadata.ownerReferences = [{apiVersion: "batch/v1", kind: "CronJob", name: "report", uid: "c-uid", controller: true}]')
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
}

@test "a label and replicas UPDATE is not patched; a template UPDATE is" {
  req=$(request_with deployment-missing-mount.json "$AS_UPDATE | .object.metadata.labels.team = \"a\" | .object.spec.replicas = 5")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
  req=$(request_with deployment-missing-mount.json "$AS_UPDATE | $SPEC.containers[0].image = \"registry.example.com/team-a/processor:1.4.3\"")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  [ "$(jq -r .patchType "$RESPONSE")" = JSONPatch ]
}

@test "an existing violation comes back as a warning on UPDATE; allowExistingViolations: false rejects it" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.containers[0].env += [$DB_ENV] | $AS_UPDATE | .object.metadata.labels.team = \"a\"")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
  jq -e '.warnings | length == 1 and (.[0] | startswith("[env-secret-ref] spec.template.spec.containers[0].env[3]: ") and contains("allowExistingViolations"))' "$RESPONSE" >/dev/null ||
    { echo "warnings: $(jq -c .warnings "$RESPONSE")"; return 1; }
  evaluate "$req" "$BLOCKING_SETTINGS"
  assert_rejected
  assert_message_contains '[env-secret-ref] spec.template.spec.containers[0].env[3]'
}

@test "a violation the UPDATE introduces rejects, whatever allowExistingViolations says" {
  # The old object already reads secret "db" from env; the update adds secret "token" in the same container.
  req=$(request_with deployment-helm-compliant.json "$SPEC.containers[0].env += [$DB_ENV] | $AS_UPDATE | $SPEC.containers[0].env += [{name: \"TOKEN\", valueFrom: {secretKeyRef: {name: \"token\", key: \"t\"}}}]")
  for settings in "$SEED_SETTINGS" "$BLOCKING_SETTINGS"; do
    evaluate "$req" "$settings"
    assert_rejected
    assert_message_contains '[env-secret-ref] spec.template.spec.containers[0].env[4]: container "processor": env "TOKEN" reads key "t" of secret "token"'
  done
  # Only the new one rejects; the old one is a warning unless allowExistingViolations is false.
  evaluate "$req" "$SEED_SETTINGS"
  assert_message_contains '(1 violation)'
  jq -e '.warnings | length == 1' "$RESPONSE" >/dev/null || { echo "warnings: $(jq -c .warnings "$RESPONSE")"; return 1; }
  evaluate "$req" "$BLOCKING_SETTINGS"
  assert_message_contains '(2 violations)'
}

@test "pods/ephemeralcontainers judges only the ephemeral containers it adds" {
  base=".subResource = \"ephemeralcontainers\" | .object.spec.containers[0].env += [$DB_ENV] | $AS_UPDATE"
  req=$(request_with pod-kube-api-access.json "$base | .object.spec.ephemeralContainers = [{name: \"debug\", image: \"busybox\"}]")
  evaluate "$req" "$BLOCKING_SETTINGS"
  assert_allowed
  assert_not_mutated
  [ "$(jq -r '.warnings // [] | length' "$RESPONSE")" = 0 ]
  req=$(request_with pod-kube-api-access.json "$base | .object.spec.ephemeralContainers = [{name: \"debug\", image: \"busybox\", env: [$DB_ENV]}]")
  evaluate "$req" "$SEED_SETTINGS"
  assert_rejected
  assert_message_contains '(1 violation)'
  assert_message_contains '[env-secret-ref] spec.ephemeralContainers[0].env[0]: ephemeralContainer "debug"'
}

@test "a Pod and a Deployment being deleted are accepted untouched, finalizer removal included" {
  deleting='.object.metadata.deletionTimestamp = "2026-12-07T10:00:00Z" | .object.metadata.finalizers = ["example.com/x"]'
  for fixture in pod-kube-api-access.json deployment-missing-mount.json; do
    spec=$([ "$fixture" = pod-kube-api-access.json ] && echo .object.spec || echo "$SPEC")
    req=$(request_with "$fixture" "$spec.containers[0].env += [$DB_ENV] | $deleting | $AS_UPDATE | del(.object.metadata.finalizers)")
    evaluate "$req" "$BLOCKING_SETTINGS"
    assert_allowed
    assert_not_mutated
    [ "$(jq -r '.warnings // [] | length' "$RESPONSE")" = 0 ]
  done
}
