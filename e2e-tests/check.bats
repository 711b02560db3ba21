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

# findings FILE [check args...] — `check -o json`, then sets $output to one
# line per finding: `name rule line:column`. Called as it is, not through bats'
# `run`: a `skip` (check_manifests' under KWCTL) only skips in the test's shell.
findings() {
  local file=$1
  shift
  check_manifests -o json "$@" "$POLICY" "$file"
  output=$(jq -r '.name as $n | .findings[] | "\($n) \(.rule) \(.line):\(.column)"' "$OUT")
}

@test "check: every rule's finding is placed at its field, in block and in flow style" {
  findings "$M/findings-block.yaml"
  [ "$output" = "env env-secret-ref 19:15
envfrom envfrom-secret-ref 38:15
plain plain-secret-volume 54:15
path secret-mount-path 76:15
writable secret-mount-writable 98:15
subpath secret-mount-subpath 123:15
conflict projected-path-conflict 152:13
malformed malformed-object 176:11" ] || { echo "$output"; false; }
  findings "$M/findings-flow.yaml"
  [ "$output" = "env env-secret-ref 4:37
envfrom envfrom-secret-ref 7:78
plain plain-secret-volume 11:60
path secret-mount-path 16:74
writable secret-mount-writable 21:60
subpath secret-mount-subpath 27:76
conflict projected-path-conflict 33:71
malformed malformed-object 38:68" ] || { echo "$output"; false; }
}

@test "check: the declared-mount and vaultSync rules' findings are placed too, in block and in flow style" {
  findings "$M/findings-declared.yaml" \
    --settings-json '{"mutate": false, "secretMounts": [{"name": "api-key", "secretName": "api-key"}]}'
  [ "$output" = "missing declared-mount-missing 12:5
taken secret-mounts-conflict 25:5
missing-flow declared-mount-missing 37:20
taken-flow secret-mounts-conflict 40:20" ] || { echo "$output"; false; }
  findings "$M/findings-vault.yaml" --settings-json '{"vaultSync": {"require": "reject"}}'
  [ "$output" = "block secret-not-vault-synced 27:15
flow secret-not-vault-synced 39:60" ] || { echo "$output"; false; }
  # not granted the VSO resources: the read fails, told at metadata.namespace
  grep -v '^contextAwareResources\|^  - apiVersion: secrets\|^    kind: Vault' policy-metadata.yml >"$BATS_TEST_TMPDIR/metadata.yml"
  findings "$M/findings-vault.yaml" --metadata "$BATS_TEST_TMPDIR/metadata.yml" \
    --settings-json '{"vaultSync": {"require": "reject"}}'
  [ "$output" = "block vault-sync-unavailable 19:3
flow vault-sync-unavailable 37:64" ] || { echo "$output"; false; }
}

@test "check: findings in a List item, after a byte order mark (columns after it), in JSON" {
  findings "$M/findings-list.yaml"
  [ "$output" = "second envfrom-secret-ref 25:15" ] || { echo "$output"; false; }
  [ "$(jq -r 'select(.name == "second") | "\(.document) \(.item) \(.line)"' "$BATS_TEST_TMPDIR/check.out")" = "1 2 3" ]
  findings "$M/findings-bom.yaml"
  [ "$output" = "bom-flow envfrom-secret-ref 1:134" ] || { echo "$output"; false; }
  findings "$M/findings.json"
  [ "$output" = "json env-secret-ref 11:11" ] || { echo "$output"; false; }
}

@test "check: the text report puts file:line:col before each finding" {
  check_manifests "$POLICY" "$M/findings-list.yaml"
  assert_check_status 1
  grep -qxF "    $M/findings-list.yaml:25:15: [envfrom-secret-ref] spec.containers[0].envFrom[0]: container \"app\": envFrom imports every key of secret \"db\" as environment variables. Remove the envFrom entry, mount its secret through a projected volume, read-only at /etc/secrets, and read the keys as files." "$OUT" || { cat "$OUT"; false; }
}

@test "check: SARIF output: a rejected, a warned and a mutated object, each finding at its line" {
  settings='{"action": "warn", "vaultSync": {"require": "reject"}, "secretMounts": [{"name": "api-key", "secretName": "api-key", "selector": {"matchLabels": {"app": "mutate-me"}}}]}'
  sarif=$BATS_TEST_TMPDIR/results.sarif
  check_manifests --rules docs/rules.yml --sarif "$sarif" --settings-json "$settings" "$POLICY" "$M/findings-sarif.yaml"
  assert_check_status 1
  # the same log on stdout with -o sarif
  check_manifests --rules docs/rules.yml -o sarif --settings-json "$settings" "$POLICY" "$M/findings-sarif.yaml"
  assert_check_status 1
  cmp "$OUT" "$sarif"
  jq -e '.version == "2.1.0" and (.["$schema"] | test("sarif-schema-2.1.0")) and (.runs | length == 1)' "$sarif" >/dev/null
  jq -e '.runs[0].tool.driver.name == "policy-runner" and .runs[0].columnKind == "unicodeCodePoints"' "$sarif" >/dev/null
  run jq -r '.runs[0].results[] | [.ruleId, .level, .locations[0].physicalLocation.artifactLocation.uri,
      (.locations[0].physicalLocation.region | "\(.startLine):\(.startColumn)")] | join(" ")' "$sarif"
  [ "$output" = "secret-not-vault-synced error test_data/manifests/findings-sarif.yaml 26:15
env-secret-ref warning test_data/manifests/findings-sarif.yaml 48:15
policy-runner/mutation note test_data/manifests/findings-sarif.yaml 64:11
policy-runner/mutation note test_data/manifests/findings-sarif.yaml 62:5" ] || { echo "$output"; false; }
  # every ruleIndex names its ruleId; the catalogue describes the policy's rules
  jq -e '.runs[0] as $r | all($r.results[]; $r.tool.driver.rules[.ruleIndex].id == .ruleId)' "$sarif" >/dev/null
  jq -e '.runs[0].tool.driver.rules[] | select(.id == "env-secret-ref")
         | .shortDescription.text == "an environment variable read from a Secret key" and (.help.markdown | length > 0)' "$sarif" >/dev/null
  jq -e '.runs[0].results[0].message.text | startswith("Deployment team-h/rejected: spec.template.spec.containers[0].volumeMounts[0]: container")' "$sarif" >/dev/null
}

@test "check: SARIF results for unreadable documents; without --rules the module's catalogue describes a rule" {
  check_manifests -o sarif "$POLICY" "$M/mixed-bad-documents.yaml"
  assert_check_status 2
  run jq -r '.runs[0].results[] | "\(.ruleId) \(.level) \(.locations[0].physicalLocation.region.startLine)"' "$OUT"
  [ "$output" = "policy-runner/unreadable error 15
envfrom-secret-ref error 27
policy-runner/unreadable error 33" ] || { echo "$output"; false; }
  jq -e '.runs[0].tool.driver.rules[] | select(.id == "envfrom-secret-ref") | .shortDescription.text == "a whole Secret imported as environment variables"' "$OUT" >/dev/null
  # standard input is the uri `stdin`
  check_manifests -o sarif "$POLICY" - <"$M/findings-list.yaml"
  [ "$(jq -r '.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri' "$OUT")" = stdin ]
}

@test "check: findings of podSpecPaths kinds: a pod spec under a key with a dot and a slash, and at the object's root" {
  printf 'rules:\n- apiGroups: [example.com]\n  apiVersions: [v1]\n  resources: [fleets, barepods]\n  operations: [CREATE]\nmutating: true\n' \
    >"$BATS_TEST_TMPDIR/metadata.yml"
  settings='{"podSpecPaths": {"example.com/v1/Fleet": ["$.spec[\"pod.templates/main\"].spec"], "example.com/v1/BarePod": ["$"]}}'
  findings "$M/findings-custom-kinds.yaml" --metadata "$BATS_TEST_TMPDIR/metadata.yml" --settings-json "$settings"
  [ "$output" = "dotted envfrom-secret-ref 16:15
bare envfrom-secret-ref 28:9" ] || { echo "$output"; false; }
  # the paths as the policy writes them: the key unquoted, a root pod spec's fields from the root
  run jq -r '.findings[].path' "$BATS_TEST_TMPDIR/check.out"
  [ "$output" = "spec.pod.templates/main.spec.containers[0].envFrom[0]
containers[0].envFrom[0]" ] || { echo "$output"; false; }
}

@test "run and check: a module compiled once is loaded from wasmtime's cache and answers the same; a damaged cache entry is compiled anew" {
  export XDG_CACHE_HOME=$BATS_TEST_TMPDIR/xdg
  local out=$BATS_TEST_TMPDIR
  local args=(run --request-path test_data/deployment-missing-mount.json --settings-path test_data/settings-seed.json)
  bin/policy-runner -v "${args[@]}" policy.wasm >"$out/compiled.json" 2>"$out/compiled.err"
  # wasmtime's default cache, as kwctl's (the directory as wasmtime resolves it)
  local dir
  dir=$(realpath "$XDG_CACHE_HOME/wasmtime")
  grep -qx "policy-runner: compiled module stored in wasmtime's cache in $dir" "$out/compiled.err"
  # wasmtime names its entries by a hash, without an extension (its .stats files beside them)
  local files
  mapfile -t files < <(find "$dir/modules" -type f ! -name '*.*')
  [ "${#files[@]}" -eq 1 ] || { printf '%s\n' "${files[@]}"; false; }
  bin/policy-runner -v "${args[@]}" policy.wasm >"$out/loaded.json" 2>"$out/loaded.err"
  grep -qx "policy-runner: compiled module loaded from wasmtime's cache in $dir" "$out/loaded.err"
  cmp "$out/compiled.json" "$out/loaded.json"
  jq -e '.patchType == "JSONPatch"' "$out/loaded.json" >/dev/null

  bin/policy-runner -v "${args[@]}" --disable-wasmtime-cache policy.wasm >"$out/uncached.json" 2>"$out/uncached.err"
  # (`! grep` would not fail a bats test: set -e ignores a negated command.)
  [ "$(grep -c "compiled module" "$out/uncached.err")" -eq 0 ] || { cat "$out/uncached.err"; false; }
  cmp "$out/compiled.json" "$out/uncached.json"

  head -c 4096 "${files[0]}" >"$out/truncated" && mv "$out/truncated" "${files[0]}"
  bin/policy-runner -v "${args[@]}" policy.wasm >"$out/repaired.json" 2>"$out/repaired.err"
  grep -qx "policy-runner: compiled module stored in wasmtime's cache in $dir" "$out/repaired.err"
  cmp "$out/compiled.json" "$out/repaired.json"
  # replaced in its place by the whole entry
  [ "$(stat -c %s "${files[0]}")" -gt 4096 ]

  run bin/policy-runner -v check --settings-path examples/settings.yml policy.wasm examples/manifests/01-payments-compliant.yaml
  [ "$status" -eq 0 ]
  [[ "$output" == *"compiled module loaded from wasmtime's cache in $dir"* ]]
}

@test "check: 5,000 findings: the default message counts what does not fit; a raised maxMessageBytes gives SARIF every one" {
  many=$BATS_TEST_TMPDIR/many.yaml
  python3 - "$many" <<'PY'
import sys
env = "".join(f"        - {{name: S{i}, valueFrom: {{secretKeyRef: {{name: s{i}, key: k}}}}}}\n" for i in range(5000))
open(sys.argv[1], "w").write(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: many, namespace: team-a}}
spec:
  template:
    spec:
      containers:
      - name: app
        env:
{env}""")
PY
  sarif=$BATS_TEST_TMPDIR/many.sarif
  check_manifests --sarif "$sarif" "$POLICY" "$many"
  assert_check_status 1
  # Within 4 KiB: some findings in full, then one line counting the rest.
  [ "$(jq '.runs[0].results | length' "$sarif")" -lt 100 ]
  grep -q 'and [0-9]* more of 5000, not listed: env-secret-ref [0-9]*' "$OUT" || { cat "$OUT"; false; }
  check_manifests --sarif "$sarif" --settings-json '{"maxMessageBytes": 16777216}' "$POLICY" "$many"
  assert_check_status 1
  [ "$(jq '[.runs[0].results[] | select(.ruleId == "env-secret-ref")] | length' "$sarif")" -eq 5000 ]
  run grep -c 'not listed' "$OUT"
  [ "$output" = 0 ]
}

# tree DIR — a manifest tree: files in name order, a subdirectory between
# them (`a` sorts before `a-c.yml`, as kubectl walks it), files that are not
# manifests by their names.
tree() {
  local pod='apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: team-a}\nspec: {containers: [{name: app, image: app}]}\n'
  mkdir -p "$1/a/deeper" "$1/.hidden"
  printf "$pod" b >"$1/b.yaml"
  printf "$pod" c >"$1/a-c.yml"
  printf "$pod" z >"$1/a/z.yaml"
  printf '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d", "namespace": "team-a"}, "spec": {"containers": [{"name": "app", "image": "app"}]}}\n' >"$1/a/deeper/d.json"
  printf "$pod" h >"$1/.hidden/h.yaml"
  printf 'not: [a manifest\n' >"$1/notes.txt"
  printf 'not: [a manifest\n' >"$1/upper.YAML"
  printf '# A chart\n' >"$1/a/README.md"
}

@test "check: a directory gives its .yaml, .yml and .json files in kubectl's order; -R its subdirectories' too" {
  tree "$BATS_TEST_TMPDIR/tree"
  check_manifests -o json "$POLICY" "$BATS_TEST_TMPDIR/tree"
  assert_check_status 0
  [ "$(jq -r .name "$OUT" | paste -sd ' ')" = "c b" ] || { cat "$OUT" "$ERR"; false; }
  check_manifests -o json -R "$POLICY" "$BATS_TEST_TMPDIR/tree"
  assert_check_status 0
  [ "$(jq -r .name "$OUT" | paste -sd ' ')" = "h d z c b" ] || { cat "$OUT" "$ERR"; false; }
  [ "$(jq -r 'select(.name == "d") | .file' "$OUT")" = "$BATS_TEST_TMPDIR/tree/a/deeper/d.json" ]
  # a file named on the command line is read whatever its name
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: named, namespace: team-a}\nspec: {containers: [{name: app, image: app}]}\n' \
    >"$BATS_TEST_TMPDIR/pod.txt"
  check_manifests -o json --recursive "$POLICY" "$BATS_TEST_TMPDIR/pod.txt" "$BATS_TEST_TMPDIR/tree/a"
  assert_check_status 0
  [ "$(jq -r .name "$OUT" | paste -sd ' ')" = "named d z" ] || { cat "$OUT" "$ERR"; false; }
}

@test "check: no object at all is an error (exit 2) that says so, unless --allow-empty" {
  # `helm template … | policy-runner check … -` with helm failing: empty stdin
  check_manifests "$POLICY" - </dev/null
  assert_check_status 2
  grep -qxF 'policy-runner: error: no object was read from <stdin> (empty input: did the command writing it fail?); pass --allow-empty to accept empty input' "$ERR" || { cat "$ERR"; false; }
  [ ! -s "$OUT" ]
  # comments and separators only, a directory without manifest files: the same
  printf -- '---\n# nothing here\n---\n' >"$BATS_TEST_TMPDIR/comments.yaml"
  mkdir "$BATS_TEST_TMPDIR/no-manifests"
  printf 'a: 1\n' >"$BATS_TEST_TMPDIR/no-manifests/values.txt"
  check_manifests "$POLICY" "$BATS_TEST_TMPDIR/comments.yaml" "$BATS_TEST_TMPDIR/no-manifests"
  assert_check_status 2
  grep -qF "no object was read from $BATS_TEST_TMPDIR/comments.yaml, $BATS_TEST_TMPDIR/no-manifests (" "$ERR" || { cat "$ERR"; false; }
  check_manifests --allow-empty "$POLICY" - </dev/null
  assert_check_status 0
  [ "$(cat "$OUT")" = "0 objects: 0 allowed, 0 mutated, 0 rejected, 0 skipped" ] || { cat "$OUT" "$ERR"; false; }
}

# The severities GitLab's Code Quality report allows (docs.gitlab.com,
# "Code Quality report format").
CODEQUALITY_FIELDS='
import json, sys
issues = json.load(open(sys.argv[1]))
assert isinstance(issues, list) and issues, "a non-empty JSON array"
prints = set()
for i in issues:
    assert isinstance(i["description"], str) and i["description"], i
    assert isinstance(i["check_name"], str) and i["check_name"], i
    assert isinstance(i["fingerprint"], str) and i["fingerprint"], i
    assert i["fingerprint"] not in prints, "fingerprints are unique: %s" % i
    prints.add(i["fingerprint"])
    assert i["severity"] in ("info", "minor", "major", "critical", "blocker"), i
    path = i["location"]["path"]
    assert isinstance(path, str) and path and not path.startswith(("./", "/")), i
    begin = i["location"]["lines"]["begin"]
    assert isinstance(begin, int) and not isinstance(begin, bool) and begin >= 1, i
'

@test "check: Code Quality output: GitLab's fields, one issue per SARIF result, fingerprints that survive moved lines" {
  settings='{"action": "warn", "vaultSync": {"require": "reject"}, "secretMounts": [{"name": "api-key", "secretName": "api-key", "selector": {"matchLabels": {"app": "mutate-me"}}}]}'
  cq=$BATS_TEST_TMPDIR/gl-code-quality-report.json
  check_manifests --codequality "$cq" --settings-json "$settings" "$POLICY" "$M/findings-sarif.yaml"
  assert_check_status 1
  check_manifests -o codequality --settings-json "$settings" "$POLICY" "$M/findings-sarif.yaml"
  assert_check_status 1
  cmp "$OUT" "$cq"
  python3 -c "$CODEQUALITY_FIELDS" "$cq"
  # the same issues as SARIF's results: rule, file and line, in order
  check_manifests -o sarif --settings-json "$settings" "$POLICY" "$M/findings-sarif.yaml"
  [ "$(jq -r '.[] | "\(.check_name) \(.location.path) \(.location.lines.begin)"' "$cq")" = \
    "$(jq -r '.runs[0].results[] | "\(.ruleId) \(.locations[0].physicalLocation | "\(.artifactLocation.uri) \(.region.startLine)")"' "$OUT")" ]
  run jq -r '.[] | "\(.check_name) \(.severity)"' "$cq"
  [ "$output" = "secret-not-vault-synced blocker
env-secret-ref minor
policy-runner/mutation info
policy-runner/mutation info" ] || { echo "$output"; false; }
  # three lines added above every object: same fingerprints, lines moved by 3
  mkdir -p "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
  cp "$M/findings-sarif.yaml" "$BATS_TEST_TMPDIR/before/m.yaml"
  { printf '# a comment\n# another\n\n'; cat "$M/findings-sarif.yaml"; } >"$BATS_TEST_TMPDIR/after/m.yaml"
  for side in before after; do
    (cd "$BATS_TEST_TMPDIR/$side" && "$OLDPWD/bin/policy-runner" check -o codequality --settings-json "$settings" \
      "$OLDPWD/$POLICY" m.yaml >cq.json) || true
  done
  [ "$(jq -r '.[].fingerprint' "$BATS_TEST_TMPDIR/before/cq.json")" = "$(jq -r '.[].fingerprint' "$BATS_TEST_TMPDIR/after/cq.json")" ]
  [ "$(jq '[.[].location.lines.begin + 3]' "$BATS_TEST_TMPDIR/before/cq.json")" = "$(jq '[.[].location.lines.begin]' "$BATS_TEST_TMPDIR/after/cq.json")" ]
  # documents that cannot be read are critical issues of the runner's own rule
  check_manifests -o codequality "$POLICY" "$M/mixed-bad-documents.yaml"
  assert_check_status 2
  python3 -c "$CODEQUALITY_FIELDS" "$OUT"
  run jq -r '.[] | "\(.check_name) \(.severity) \(.location.lines.begin)"' "$OUT"
  [ "$output" = "policy-runner/unreadable critical 15
envfrom-secret-ref blocker 27
policy-runner/unreadable critical 33" ] || { echo "$output"; false; }
}

# Validates a `check -o policyreport` List against the v1alpha2 CRDs' OpenAPI
# schemas (e2e-tests/data, from kubewarden-controller). A field the schema
# does not list would be pruned by the API server: it is refused here.
POLICYREPORT_SCHEMA='
import json, sys, jsonschema
schemas = json.load(open(sys.argv[2]))
def closed(node):
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for value in node.values():
            closed(value)
    elif isinstance(node, list):
        for value in node:
            closed(value)
closed(schemas)
listed = json.load(open(sys.argv[1]))
assert listed["apiVersion"] == "v1" and listed["kind"] == "List", listed.keys()
for item in listed["items"]:
    assert item["apiVersion"] == "wgpolicyk8s.io/v1alpha2", item
    jsonschema.validate(item, schemas[item["kind"]])
print(len(listed["items"]))
'

require_jsonschema() {
  python3 -c 'import jsonschema' 2>/dev/null && return 0
  python3 -m pip install --quiet --user jsonschema >/dev/null 2>&1 ||
    python3 -m pip install --quiet --user --break-system-packages jsonschema >/dev/null 2>&1 || true
  python3 -c 'import jsonschema' 2>/dev/null ||
    skip "python3's jsonschema is not installed and cannot be (pip install jsonschema): the PolicyReport schema check needs it"
}

@test "check: PolicyReport output: one report per judged object as the audit scanner writes it, valid against the CRD" {
  require_jsonschema
  settings='{"action": "warn", "vaultSync": {"require": "reject"}, "secretMounts": [{"name": "api-key", "secretName": "api-key", "selector": {"matchLabels": {"app": "mutate-me"}}}]}'
  check_manifests -o policyreport --policy-name secret-mounts --settings-json "$settings" "$POLICY" \
    "$M/findings-sarif.yaml" "$M/same-name-twice.yaml" "$M/mixed-bad-documents.yaml" "$M/old-api-versions.yaml"
  assert_check_status 2
  python3 -c "$POLICYREPORT_SCHEMA" "$OUT" e2e-tests/data/wgpolicyk8s-v1alpha2.schema.json
  # each report: the scanner's labels, the object as scope, one result of the policy, its summary
  jq -e 'all(.items[];
      .metadata.labels == {"app.kubernetes.io/managed-by": "kubewarden", "kubewarden.io/policyreport-version": "v2"}
      and .metadata.namespace == .scope.namespace
      and (.results | length == 1)
      and .results[0].source == "kubewarden" and .results[0].policy == "clusterwide-secret-mounts"
      and .results[0].scored == true and .results[0].properties["policy-name"] == "secret-mounts"
      and .summary[.results[0].result] == 1 and ([.summary[]] | add) == 1)' "$OUT" >/dev/null
  # judged objects only (not the skipped, not unreadable documents), each with its verdict
  run jq -r '.items[] | "\(.kind) \(.scope.namespace)/\(.scope.kind)/\(.scope.name) \(.results[0].result)"' "$OUT"
  expected=$(jq -r 'select(.verdict != "skipped" and .kind != null)
      | "PolicyReport \(.namespace // "default")/\(.kind)/\(.name) \({"allowed": "pass", "mutated": "pass", "rejected": "fail", "error": "error"}[.verdict])"' \
      < <(bin/policy-runner check -o json --settings-json "$settings" "$POLICY" "$M/findings-sarif.yaml" "$M/same-name-twice.yaml" \
          "$M/mixed-bad-documents.yaml" "$M/old-api-versions.yaml" 2>/dev/null))
  [ -n "$expected" ] && [ "$output" = "$expected" ] || { echo "$output"; echo "expected: $expected"; false; }
  # a rejection carries the policy's message
  jq -e '[.items[] | select(.results[0].result == "fail")][0].results[0].message | contains("breaks the secret mounts rules")' "$OUT" >/dev/null
  # the names are stable across runs
  names=$(jq -r '[.items[].metadata.name] | sort | join(" ")' "$OUT")
  check_manifests -o policyreport --policy-name secret-mounts --settings-json "$settings" "$POLICY" \
    "$M/findings-sarif.yaml" "$M/same-name-twice.yaml" "$M/mixed-bad-documents.yaml" "$M/old-api-versions.yaml"
  [ "$(jq -r '[.items[].metadata.name] | sort | join(" ")' "$OUT")" = "$names" ]
}
