#!/usr/bin/env bats
# The policy through policy.wasm: every rule, the exemptions, warn mode, and the
# exact patches of the mutation. See common.bash for running against kwctl.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

SEED_SETTINGS='{"volumeName":"processor-secrets","secretMounts":[{"name":"api-key","secretName":"api-key","mountPath":"/etc/secrets","readOnly":true,"items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}]}'
SPEC=.object.spec.template.spec

@test "a Helm-rendered compliant Deployment is accepted untouched" {
  evaluate test_data/deployment-helm-compliant.json "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
}

@test "a Pod with the kube-api-access projected volume is accepted" {
  evaluate test_data/pod-kube-api-access.json
  assert_allowed
  assert_not_mutated
}

@test "env-secret-ref: env valueFrom.secretKeyRef is rejected" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.containers[0].env += [{name: \"DB_PASSWORD\", valueFrom: {secretKeyRef: {name: \"db\", key: \"password\"}}}]")
  evaluate "$req"
  assert_rejected
  assert_message_contains '[env-secret-ref] spec.template.spec.containers[0].env[3]: container "processor": env "DB_PASSWORD" reads key "password" of secret "db"'
  assert_message_contains 'mount its secret through a projected volume, read-only at /etc/secrets'
  [ "$(jq -r .auditAnnotations.violations "$RESPONSE")" = env-secret-ref ]
}

@test "envfrom-secret-ref: envFrom secretRef is rejected, in an initContainer of a CronJob" {
  evaluate test_data/cronjob-envfrom-secret.json
  assert_rejected
  assert_message_contains '[envfrom-secret-ref] spec.jobTemplate.spec.template.spec.initContainers[0].envFrom[1]: initContainer "migrate": envFrom imports every key of secret "db-credentials"'
}

@test "plain-secret-volume: a secret volume is rejected" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.volumes += [{name: \"tls\", secret: {secretName: \"tls\"}}] | $SPEC.containers[0].volumeMounts += [{name: \"tls\", mountPath: \"/etc/tls\", readOnly: true}]")
  evaluate "$req"
  assert_rejected
  assert_message_contains '[plain-secret-volume] spec.template.spec.containers[0].volumeMounts[2]: container "processor": volume "tls" mounted at "/etc/tls" is a plain secret volume of secret "tls"'
}

@test "secret-mount-path: a secret-bearing projected volume elsewhere is rejected" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.containers[0].volumeMounts[0].mountPath = \"/var/secrets\"")
  evaluate "$req"
  assert_rejected
  assert_message_contains '[secret-mount-path] spec.template.spec.containers[0].volumeMounts[0].mountPath: container "processor": volumeMount of volume "processor-secrets" (secret "api-key") is at "/var/secrets"'
}

@test "secret-mount-writable: a secret mount without readOnly is rejected" {
  req=$(request_with deployment-helm-compliant.json "del($SPEC.containers[0].volumeMounts[0].readOnly)")
  evaluate "$req"
  assert_rejected
  assert_message_contains '[secret-mount-writable] spec.template.spec.containers[0].volumeMounts[0].readOnly: container "processor": volumeMount of volume "processor-secrets" (secret "api-key") at "/etc/secrets" is not read-only'
}

@test "secret-mount-subpath: a subPath mount of secrets is rejected" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.containers[0].volumeMounts[0].subPath = \"api-key\"")
  evaluate "$req"
  assert_rejected
  assert_message_contains '[secret-mount-subpath] spec.template.spec.containers[0].volumeMounts[0].subPath: container "processor": volumeMount of volume "processor-secrets" (secret "api-key") uses subPath "api-key"'
}

@test "projected-path-conflict: two items projecting one path are rejected" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.volumes[0].projected.sources += [{secret: {name: \"other\", items: [{key: \"K\", path: \"api-key/API_KEY\"}]}}]")
  evaluate "$req"
  assert_rejected
  assert_message_contains '[projected-path-conflict] spec.template.spec.volumes[0].projected.sources: volume "processor-secrets": secret "api-key" key "API_KEY" and secret "other" key "K" both project the file "api-key/API_KEY"'
}

@test "ephemeral containers are judged through the ephemeralcontainers subresource" {
  req=$(request_with pod-kube-api-access.json '.operation = "UPDATE" | .subResource = "ephemeralcontainers" | .object.spec.ephemeralContainers = [{name: "debugger", image: "busybox", envFrom: [{secretRef: {name: "db"}}]}]')
  evaluate "$req"
  assert_rejected
  assert_message_contains 'ephemeralContainer "debugger": envFrom imports every key of secret "db"'
}

@test "every violation is listed, one per line" {
  evaluate test_data/deployment-three-violations.json
  assert_rejected
  [ "$(jq -r .status.message "$RESPONSE" | wc -l)" -eq 5 ]
  [ "$(jq -r .auditAnnotations.violations "$RESPONSE")" = "env-secret-ref,secret-mount-path,secret-mount-subpath,plain-secret-volume" ]
}

@test "exempt containers (a vault-agent sidecar) are not judged" {
  evaluate test_data/deployment-vso-app.json "$(cat test_data/settings-vso.json)"
  assert_allowed
  # The fixture is an UPDATE that changes nothing: judged as a CREATE, the agent's secrets reject.
  evaluate test_data/deployment-vso-app.json '{"allowExistingViolations":false}'
  assert_rejected
  assert_message_contains 'container "vault-agent": env "VAULT_TOKEN"'
}

@test "warn mode accepts and returns the violations as warnings" {
  evaluate test_data/deployment-three-violations.json '{"action":"warn"}'
  assert_allowed
  [ "$(jq '.warnings | length' "$RESPONSE")" -eq 4 ]
  jq -e '.warnings[0] | startswith("[env-secret-ref]")' "$RESPONSE"
}

@test "DELETE without an object is accepted" {
  req=$(request_with deployment-three-violations.json '.operation = "DELETE" | .oldObject = .object | .object = null')
  evaluate "$req"
  assert_allowed
}

@test "kinds the policy does not cover are accepted" {
  req=$(request_with deployment-three-violations.json '.kind = {group: "", version: "v1", kind: "ConfigMap"} | .object = {apiVersion: "v1", kind: "ConfigMap", metadata: {name: "c"}, data: {a: "b"}}')
  evaluate "$req"
  assert_allowed
}

@test "the seed's secretMounts entry is added to a Deployment that lacks it, exactly" {
  evaluate test_data/deployment-missing-mount.json "$SEED_SETTINGS"
  assert_allowed
  assert_patch '[
    {"op":"add","path":"/spec/template/spec/containers/0/volumeMounts/1","value":{"name":"processor-secrets","mountPath":"/etc/secrets","readOnly":true}},
    {"op":"add","path":"/spec/template/spec/volumes/1","value":{"name":"processor-secrets","projected":{"sources":[{"secret":{"name":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}}]}}}
  ]'
}

@test "a second pass over the mutated Deployment is a no-op" {
  evaluate test_data/deployment-missing-mount.json "$SEED_SETTINGS"
  mutated=$(mktemp "$BATS_TEST_TMPDIR/mutated.XXXXXX.json")
  decoded_patch >"$BATS_TEST_TMPDIR/patch.json"
  # Apply the add operations (the only kind present) with jq.
  jq --slurpfile p "$BATS_TEST_TMPDIR/patch.json" '
    reduce $p[0][] as $op (.; ($op.path | split("/")[1:] | map(if test("^[0-9]+$") then tonumber else . end)) as $path
      | .object |= setpath($path; $op.value))' test_data/deployment-missing-mount.json >"$mutated"
  evaluate "$mutated" "$SEED_SETTINGS"
  assert_allowed
  assert_not_mutated
}

@test "a CronJob's existing projected volume gains the missing secret source" {
  req=$(request_with cronjob-envfrom-secret.json 'del(.object.spec.jobTemplate.spec.template.spec.initContainers[0].envFrom[1])')
  evaluate "$req" '{"secretMounts":[{"name":"db","secretName":"db-credentials","items":[{"key":"password","path":"db/password"}]}]}'
  assert_allowed
  assert_patch '[{"op":"add","path":"/spec/jobTemplate/spec/template/spec/volumes/0/projected/sources/1","value":{"secret":{"name":"db-credentials","items":[{"key":"password","path":"db/password"}]}}}]'
}

@test "a Pod is mutated on CREATE" {
  # A bare Pod: one a ReplicaSet controls is its owner's to change (safe-rollout.bats).
  req=$(request_with pod-kube-api-access.json 'del(.object.metadata.ownerReferences) | del(.object.spec.containers[0].volumeMounts[0]) | del(.object.spec.volumes[0])')
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_patch '[
    {"op":"add","path":"/spec/containers/0/volumeMounts/2","value":{"name":"processor-secrets","mountPath":"/etc/secrets","readOnly":true}},
    {"op":"add","path":"/spec/volumes/2","value":{"name":"processor-secrets","projected":{"sources":[{"secret":{"name":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}}]}}}
  ]'
}

@test "a writable mount at the path is made read-only" {
  req=$(request_with deployment-helm-compliant.json "$SPEC.containers[0].volumeMounts[0].readOnly = false")
  evaluate "$req" "$SEED_SETTINGS"
  assert_allowed
  assert_patch '[{"op":"replace","path":"/spec/template/spec/containers/0/volumeMounts/0/readOnly","value":true}]'
}

@test "validate-only mode reports the missing declared mount" {
  evaluate test_data/deployment-missing-mount.json "$(jq -c '.mutate = false' <<<"$SEED_SETTINGS")"
  assert_rejected
  assert_message_contains '[declared-mount-missing] spec.template.spec: container "processor": secretMounts entry "api-key" (secret "api-key") is missing: no volumeMount at /etc/secrets'
}

@test "a conflict is rejected, never guessed around" {
  req=$(request_with deployment-missing-mount.json "$SPEC.containers[0].volumeMounts[0].mountPath = \"/etc/secrets\"")
  evaluate "$req" "$SEED_SETTINGS"
  assert_rejected
  assert_message_contains '[secret-mounts-conflict] spec.template.spec: container "processor": the declared secretMounts cannot be added: /etc/secrets is taken by volume "tmp", which is not a projected volume'
}

@test "an Argo Rollout is mutated like a Deployment through podSpecPaths" {
  evaluate test_data/rollout-missing-mount.json "$(cat test_data/settings-custom-kinds.json)"
  assert_allowed
  assert_patch '[
    {"op":"add","path":"/spec/template/spec/containers/0/volumeMounts","value":[{"name":"secret-mounts","mountPath":"/etc/secrets","readOnly":true}]},
    {"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"secret-mounts","projected":{"sources":[{"secret":{"name":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}}]}}]}
  ]'
}

@test "a Knative Service is mutated like a Deployment through podSpecPaths" {
  evaluate test_data/knative-service-missing-mount.json "$(cat test_data/settings-custom-kinds.json)"
  assert_allowed
  assert_patch '[
    {"op":"add","path":"/spec/template/spec/containers/0/volumeMounts","value":[{"name":"secret-mounts","mountPath":"/etc/secrets","readOnly":true}]},
    {"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"secret-mounts","projected":{"sources":[{"secret":{"name":"api-key","items":[{"key":"API_KEY","path":"api-key/API_KEY"}]}}]}}]}
  ]'
}

@test "an Argo Rollout with an env secret is rejected, naming where its pod spec is" {
  evaluate test_data/rollout-env-secret.json "$(cat test_data/settings-custom-kinds.json)"
  assert_rejected
  assert_message_contains '[env-secret-ref] spec.template.spec.containers[0].env[0]: container "checkout": env "STRIPE_KEY"'
}

@test "invalid settings are refused before evaluation, naming the key" {
  evaluate test_data/deployment-helm-compliant.json '{"mountpath":"/etc/secrets"}'
  [ "$status" -ne 0 ]
  [[ "$(cat "$STDERR" "$RESPONSE")" == *"Provided settings are not valid"*"unknown field \`mountpath\`"* ]]
}

@test "malformed podSpecPaths settings are refused, naming the entry" {
  evaluate test_data/rollout-missing-mount.json '{"podSpecPaths":{"Rollout":["$.spec[?(@.a =="]}}'
  [ "$status" -ne 0 ]
  [[ "$(cat "$STDERR" "$RESPONSE")" == *'podSpecPaths key "Rollout": must be group/version/Kind'* ]]
  [[ "$(cat "$STDERR" "$RESPONSE")" == *'is not a valid JSONPath expression'* ]]
}
