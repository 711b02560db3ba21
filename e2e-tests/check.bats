#!/usr/bin/env bats
# `policy-runner check` as policy CI: manifests read as kubectl reads them,
# every document judged or reported, and the reports CI systems read.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

M=test_data/manifests

@test "check: a byte order mark at the start of a file is skipped" {
  check_manifests -o json "$POLICY" "$M/bom.yaml"
  assert_check_status 1
  [ "$(jq -r '[.kind, .name, .verdict] | join(" ")' "$OUT")" = "Pod bom-pod rejected" ]
}

@test "check: a byte order mark at the start of standard input, and of each file joined into it, is skipped" {
  printf '\357\273\277{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "from-json"}, "spec": {"containers": [{"name": "a", "image": "a"}]}}' \
    >"$BATS_TEST_TMPDIR/stdin.json"
  check_manifests -o json "$POLICY" - <"$BATS_TEST_TMPDIR/stdin.json"
  assert_check_status 0
  [ "$(jq -r '[.name, .verdict] | join(" ")' "$OUT")" = "from-json allowed" ]
  # `cat a.yaml b.yaml | policy-runner check ... -`, both saved with a BOM
  { cat "$M/bom.yaml"; echo ---; cat "$M/bom.yaml"; } >"$BATS_TEST_TMPDIR/joined.yaml"
  check_manifests "$POLICY" - <"$BATS_TEST_TMPDIR/joined.yaml"
  assert_check_status 1
  [ "$(grep -c '^Pod team-d/bom-pod (<stdin>, document [12], line [0-9]*): rejected$' "$OUT")" -eq 2 ] || { cat "$OUT"; false; }
}

@test "check: YAML 1.1 booleans and octal numbers are read as kubectl reads them" {
  check_manifests -o json "$POLICY" "$M/readonly-yes.yaml"
  assert_check_status 0
  [ "$(jq -r .verdict "$OUT")" = allowed ] || { cat "$OUT"; false; }
  # the same manifest with the words quoted is a different object: strings
  sed 's/readOnly: yes/readOnly: "yes"/' "$M/readonly-yes.yaml" >"$BATS_TEST_TMPDIR/quoted.yaml"
  check_manifests -o json "$POLICY" "$BATS_TEST_TMPDIR/quoted.yaml"
  [ "$(jq -r .verdict "$OUT")" = rejected ] || { cat "$OUT"; false; }
}

@test "check: one unreadable document hides no other; each is reported with its place" {
  check_manifests -o json "$POLICY" "$M/mixed-bad-documents.yaml"
  assert_check_status 2
  run jq -c '[.document, .line, .verdict, .name]' "$OUT"
  [ "${lines[0]}" = '[1,2,"allowed","good"]' ]
  [ "${lines[1]}" = '[2,15,"error",null]' ] || { echo "${lines[1]}"; false; }
  [ "${lines[2]}" = '[3,17,"rejected","leaky"]' ]
  [ "${lines[3]}" = '[4,33,"error",null]' ] || { echo "${lines[3]}"; false; }
  [ "${#lines[@]}" -eq 4 ]
  jq -e -s 'map(select(.document == 4) | .message | contains("key \"name\" already set in map")) | length > 0 and all' "$OUT" >/dev/null
  jq -e -s 'map(select(.document == 2) | .message | startswith("invalid YAML")) | length > 0 and all' "$OUT" >/dev/null
  jq -e -s 'map(select(.verdict == "error") | .file | endswith("mixed-bad-documents.yaml")) | length > 0 and all' "$OUT" >/dev/null
}

@test "check: unreadable documents exit 2 in text mode too, named by file, document and line" {
  check_manifests "$POLICY" "$M/mixed-bad-documents.yaml"
  assert_check_status 2
  grep -qF "mixed-bad-documents.yaml, document 2, line 15: error" "$OUT"
  grep -qF "Pod team-e/leaky: rejected" "$OUT"
  [ "$(tail -n 1 "$OUT")" = "4 objects: 1 allowed, 0 mutated, 1 rejected, 0 skipped, 2 errors" ]
}

@test "check: workloads in API versions Kubernetes no longer serves are skipped, saying why" {
  check_manifests "$POLICY" "$M/old-api-versions.yaml"
  assert_check_status 0
  grep -qxF "Deployment team-f/old-deployment: skipped: apps/v1beta1 Deployment is not served by Kubernetes since 1.16; use apps/v1" "$OUT"
  grep -qxF "DaemonSet team-f/old-daemonset: skipped: extensions/v1beta1 DaemonSet is not served by Kubernetes since 1.16; use apps/v1" "$OUT"
  grep -qxF "StatefulSet team-f/old-statefulset: skipped: apps/v1beta2 StatefulSet is not served by Kubernetes since 1.16; use apps/v1" "$OUT"
  grep -qxF "CronJob team-f/old-cronjob: skipped: batch/v1beta1 CronJob is not served by Kubernetes since 1.25; use batch/v1" "$OUT"
  grep -qxF "Deployment team-f/current: allowed" "$OUT"
}

@test "check: JSON output tells same-named objects apart and lists the broken rules" {
  check_manifests -o json "$POLICY" "$M/same-name-twice.yaml"
  assert_check_status 1
  run jq -c '[.name, .document, .line, .verdict, .rules, .code]' "$OUT"
  [ "${lines[0]}" = '["api",1,4,"allowed",[],null]' ] || { echo "${lines[0]}"; false; }
  [ "${lines[1]}" = '["api",2,14,"rejected",["env-secret-ref","plain-secret-volume"],null]' ] || { echo "${lines[1]}"; false; }
  jq -e -s 'map(select(.document == 2) | .file | endswith("same-name-twice.yaml")) | length > 0 and all' "$OUT" >/dev/null
}

@test "check: --junit writes a JUnit report: failures, skips and errors, escaped" {
  junit=$BATS_TEST_TMPDIR/report.xml
  check_manifests --junit "$junit" "$POLICY" "$M/mixed-bad-documents.yaml" "$M/old-api-versions.yaml" "$M/same-name-twice.yaml"
  assert_check_status 2
  python3 - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("11", "2", "2", "4"), root.attrib
cases = root.findall("./testsuite/testcase")
assert len(cases) == 11, len(cases)
names = [c.get("name") for c in cases]
assert "Deployment team-g/api (document 1)" in names and "Deployment team-g/api (document 2)" in names, names
leaky = next(c for c in cases if c.get("name") == "Pod team-e/leaky (document 3)")
failure = leaky.find("failure")
assert "envfrom-secret-ref" in failure.text, failure.text
assert failure.get("message").startswith('Pod "team-e/leaky" breaks'), failure.get("message")
errors = [c.find("error") for c in cases if c.find("error") is not None]
assert any('already set in map' in e.text for e in errors), [e.text for e in errors]
skipped = [c.find("skipped").get("message") for c in cases if c.find("skipped") is not None]
assert any(s.startswith("apps/v1beta1 Deployment is not served") for s in skipped), skipped
# each finding of a failure after its file:line:col
assert "mixed-bad-documents.yaml:27:11: [envfrom-secret-ref] spec.containers[0].envFrom[0]: container" in failure.text, failure.text
PY
}

@test "check: --summary keeps the summary line last on stdout" {
  check_manifests --summary --junit "$BATS_TEST_TMPDIR/r.xml" "$POLICY" "$M/same-name-twice.yaml"
  assert_check_status 1
  [ "$(tail -n 1 "$OUT")" = "2 objects: 1 allowed, 0 mutated, 1 rejected, 0 skipped" ]
  check_manifests --summary -o json "$POLICY" "$M/same-name-twice.yaml"
  assert_check_status 1
  [ "$(tail -n 1 "$OUT")" = '{"summary":{"objects":2,"allowed":1,"mutated":0,"rejected":1,"skipped":0,"errors":0,"exitCode":1}}' ]
  [ "$(wc -l <"$OUT")" -eq 3 ]
}

@test "check: --timeout-ms is accepted and a normal evaluation fits in it" {
  check_manifests --timeout-ms 5000 -o json "$POLICY" "$M/bom.yaml"
  assert_check_status 1
}
