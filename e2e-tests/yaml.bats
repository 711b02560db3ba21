#!/usr/bin/env bats
# The runner's YAML reader against libyaml, the parser go-yaml (and so
# kubectl) was ported from.

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

@test "yaml: every document of the generated corpus is read as libyaml reads it (go-yaml's rules after)" {
  # Builds the runner's unit tests when `make unit-tests` has not.
  run python3 e2e-tests/yaml_corpus.py --write "$BATS_TEST_TMPDIR/corpus.json"
  echo "$output" | grep -v '^ *Compiling' | tail -40
  [ "$status" -eq 0 ]
  [[ "$output" == *"libyaml corpus: "*" 0 differ"* ]]
}

@test "yaml: check reads quoted scalars and flow sequences continued or closed at their key's indentation" {
  cat >"$BATS_TEST_TMPDIR/shapes.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: quoted
  annotations:
    x: '[
        1
    ]'
spec:
  containers:
  - name: a
    image: a
    args: [
      "-a",
    ]
---
apiVersion: v1
kind: Pod
metadata:
  name: continued
spec:
  containers:
  - name: a
    image: a
    args: ["a",
    "b"]
YAML
  check_manifests -o json "$POLICY" "$BATS_TEST_TMPDIR/shapes.yaml"
  assert_check_status 0
  [ "$(jq -r '[.name, .verdict] | join(" ")' "$OUT")" = "$(printf 'quoted allowed\ncontinued allowed')" ] || { cat "$OUT"; false; }
}

@test "yaml: a syntax error is reported with its file, document, line and column" {
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n labels: {}\n' \
    >"$BATS_TEST_TMPDIR/bad.yaml"
  check_manifests "$POLICY" "$BATS_TEST_TMPDIR/bad.yaml"
  assert_check_status 2
  grep -q "bad.yaml, document 2, line 10: error" "$OUT" || { cat "$OUT"; false; }
  grep -q "invalid YAML: line 10, column 2: did not find expected key (while parsing a block mapping that starts at line 6, column 1)" "$OUT" || { cat "$OUT"; false; }
}

@test "yaml: a settings file is YAML 1.1, as under settings: in a policy applied with kubectl" {
  [ -z "${KWCTL-}" ] || skip "kwctl reads settings as YAML 1.2"
  # the policy wants a list: `on` reaches it as the boolean true, "on" as a string
  printf 'exemptContainers: on\n' >"$BATS_TEST_TMPDIR/settings.yml"
  evaluate test_data/pod-kube-api-access.json "@$BATS_TEST_TMPDIR/settings.yml"
  [ "$status" -eq 1 ] || { cat "$RESPONSE" "$STDERR"; false; }
  grep -q 'Provided settings are not valid: exemptContainers: invalid type: boolean `true`' "$STDERR" || { cat "$STDERR"; false; }
  printf 'exemptContainers: "on"\n' >"$BATS_TEST_TMPDIR/settings.yml"
  evaluate test_data/pod-kube-api-access.json "@$BATS_TEST_TMPDIR/settings.yml"
  grep -q 'invalid type: string "on"' "$STDERR" || { cat "$STDERR"; false; }
}
