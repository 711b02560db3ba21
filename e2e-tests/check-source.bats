#!/usr/bin/env bats
# `policy-runner check` over `helm template` output: findings name the chart
# template of their document (`# Source:`), and SARIF places them in the
# template mapped into the repository with --source-root; settings errors and
# mount findings are placed where the user wrote them.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

H=test_data/helm
CHART=mychart=test_data/helm/charts/mychart

@test "check source: text and JSON name each document's template; a document without # Source: is as before" {
  check_manifests "$POLICY" "$H/rendered.yaml"
  assert_check_status 1
  grep -qF "    $H/rendered.yaml:13:7 (from mychart/charts/sub/templates/pod.yaml): [env-secret-ref] spec.containers[0].env[0]: " "$OUT" || { cat "$OUT"; false; }
  grep -qF "    $H/rendered.yaml:33:11 (from mychart/templates/deployment.yaml): [secret-mount-path] " "$OUT" || { cat "$OUT"; false; }
  grep -qF "    $H/rendered.yaml:52:7: [envfrom-secret-ref] spec.containers[0].envFrom[0]: " "$OUT" || { cat "$OUT"; false; }
  check_manifests -o json "$POLICY" "$H/rendered.yaml"
  assert_check_status 1
  run jq -c '[.name, .source, has("source")]' "$OUT"
  [ "${lines[0]}" = '["sub-pod","mychart/charts/sub/templates/pod.yaml",true]' ] || { echo "$output"; false; }
  [ "${lines[1]}" = '["rel-web","mychart/templates/deployment.yaml",true]' ] || { echo "$output"; false; }
  [ "${lines[2]}" = '["hand-written",null,false]' ] || { echo "$output"; false; }
  check_manifests --junit "$BATS_TEST_TMPDIR/junit.xml" "$POLICY" "$H/rendered.yaml"
  grep -qF '<testcase name="Deployment team-s/rel-web (document 2)" classname="test_data/helm/rendered.yaml" source="mychart/templates/deployment.yaml">' "$BATS_TEST_TMPDIR/junit.xml" ||
    { cat "$BATS_TEST_TMPDIR/junit.xml"; false; }
  grep -qF '<testcase name="Pod team-s/hand-written (document 3)" classname="test_data/helm/rendered.yaml">' "$BATS_TEST_TMPDIR/junit.xml"
}

@test "check source: SARIF places findings in the template under --source-root, subcharts too, the rendered place related" {
  check_manifests -o sarif --source-root "$CHART" "$POLICY" "$H/rendered.yaml"
  assert_check_status 1
  run jq -r '.runs[0].results[] | [.ruleId, .locations[0].physicalLocation.artifactLocation.uri,
      (.locations[0].physicalLocation.region | "\(.startLine):\(.startColumn)"),
      (.relatedLocations[0].physicalLocation // {} | "\(.artifactLocation.uri) \(.region.startLine):\(.region.startColumn)"),
      .properties.source] | join(" ")' "$OUT"
  # the subchart's `env:` is written twice in its template: the file, line 1, no column
  [ "$output" = "env-secret-ref $H/charts/mychart/charts/sub/templates/pod.yaml 1:null $H/rendered.yaml 13:7 mychart/charts/sub/templates/pod.yaml
secret-mount-path $H/charts/mychart/templates/deployment.yaml 16:11 $H/rendered.yaml 33:11 mychart/templates/deployment.yaml
secret-mount-subpath $H/charts/mychart/templates/deployment.yaml 17:11 $H/rendered.yaml 34:11 mychart/templates/deployment.yaml
envfrom-secret-ref $H/rendered.yaml 52:7 null null:null " ] || { echo "$output"; false; }
}

@test "check source: without a root for the chart, or when the mapped template is not there, SARIF keeps the rendered file" {
  for roots in "" "--source-root other=charts/other" "--source-root mychart=test_data/helm/no-such-dir"; do
    # shellcheck disable=SC2086 # the flag and its value, or nothing
    check_manifests -o sarif $roots "$POLICY" "$H/rendered.yaml"
    assert_check_status 1
    run jq -r '.runs[0].results[] | [.locations[0].physicalLocation.artifactLocation.uri,
        (.relatedLocations | length), .properties.source] | join(" ")' "$OUT"
    [ "$output" = "$H/rendered.yaml 0 mychart/charts/sub/templates/pod.yaml
$H/rendered.yaml 0 mychart/templates/deployment.yaml
$H/rendered.yaml 0 mychart/templates/deployment.yaml
$H/rendered.yaml 0 " ] || { echo "$roots: $output"; false; }
  done
  check_manifests -o sarif --source-root not-a-mapping "$POLICY" "$H/rendered.yaml"
  assert_check_status 2
  grep -qF "is not CHART=DIR" "$ERR"
}

@test "check source: a settings typo is reported at its line and column in the settings file, YAML or JSON" {
  printf 'mountPath: /etc/secrets\nsecretMounts:\n  - name: db\n    secretName: db\n    raedOnly: true\n' >"$BATS_TEST_TMPDIR/settings.yaml"
  check_manifests --settings-path "$BATS_TEST_TMPDIR/settings.yaml" "$POLICY" "$H/rendered.yaml"
  assert_check_status 2
  grep -qF "secretMounts[0]: unknown field \`raedOnly\`" "$ERR" || { cat "$ERR"; false; }
  grep -qE " at $BATS_TEST_TMPDIR/settings.yaml:5:5\$" "$ERR" || { cat "$ERR"; false; }
  printf '{\n  "mountPath": "/etc/secrets",\n  "action": "rejekt"\n}\n' >"$BATS_TEST_TMPDIR/settings.json"
  check_manifests --settings-path "$BATS_TEST_TMPDIR/settings.json" "$POLICY" "$H/rendered.yaml"
  assert_check_status 2
  grep -qE "action: unknown variant \`rejekt\`.* at $BATS_TEST_TMPDIR/settings.json:3:3\$" "$ERR" || { cat "$ERR"; false; }
}

@test "check source: mountPath, subPath and readOnly findings are placed at their keys" {
  cat >"$BATS_TEST_TMPDIR/mounts.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: mounts, namespace: team-s}
spec:
  containers:
  - name: app
    image: busybox
    volumeMounts:
    - name: creds
      mountPath: /var/run/creds
      readOnly: false
      subPathExpr: $(POD)
  volumes:
  - name: creds
    projected: {sources: [{secret: {name: api-key}}]}
EOF
  check_manifests -o json "$POLICY" "$BATS_TEST_TMPDIR/mounts.yaml"
  assert_check_status 1
  run jq -r '.findings[] | "\(.rule) \(.path) \(.line):\(.column)"' "$OUT"
  [ "$output" = "secret-mount-path spec.containers[0].volumeMounts[0].mountPath 10:7
secret-mount-writable spec.containers[0].volumeMounts[0].readOnly 11:7
secret-mount-subpath spec.containers[0].volumeMounts[0].subPathExpr 12:7" ] || { echo "$output"; false; }
  # readOnly left out: the finding is at the volumeMount, the nearest field written
  sed -i '/readOnly: false/d' "$BATS_TEST_TMPDIR/mounts.yaml"
  check_manifests -o json "$POLICY" "$BATS_TEST_TMPDIR/mounts.yaml"
  run jq -r '.findings[] | select(.rule == "secret-mount-writable") | "\(.line):\(.column)"' "$OUT"
  [ "$output" = "9:7" ] || { echo "$output"; false; }
}
