#!/usr/bin/env bats
# `policy-runner check --policy`: the cluster's own ClusterAdmissionPolicy /
# AdmissionPolicy manifest decides the settings, which objects are judged
# (rules, namespace, selectors) and whether a rejection fails the run (mode).

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

P=test_data/admission-policies
STREAM=$P/manifests.yaml

# verdicts — `name verdict` for each object of the JSON report, in order.
verdicts() {
  jq -r '[.namespace // "-", .name, .verdict] | join(" ")' "$OUT"
}

@test "check --policy: a protect policy judges what its rules and selectors select, and fails the run" {
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$STREAM"
  assert_check_status 1
  [ "$(verdicts)" = "- team-a skipped
- legacy skipped
team-a web rejected
legacy old skipped
team-a exempt skipped
team-b api rejected
team-a checkout rejected
team-a web skipped" ] || { verdicts; cat "$ERR"; false; }
  jq -e -s 'map(select(.verdict == "rejected")) | all(.policy == "ClusterAdmissionPolicy secret-mounts" and .mode == "protect")' "$OUT" >/dev/null
  # each skip says which part of the policy left the object out
  jq -e -s 'map(select(.name == "old"))[0].message | contains("namespaceSelector of ClusterAdmissionPolicy secret-mounts excludes namespace legacy")' "$OUT" >/dev/null
  jq -e -s 'map(select(.name == "exempt"))[0].message | contains("objectSelector")' "$OUT" >/dev/null
  jq -e -s 'map(select(.kind == "ServiceAccount"))[0].message | contains("no rule of ClusterAdmissionPolicy secret-mounts selects serviceaccounts/v1 on CREATE")' "$OUT" >/dev/null
  grep -qxF "policy-runner: coverage: the rules and selectors of ClusterAdmissionPolicy secret-mounts (--policy $P/protect.yaml)" "$ERR" || { cat "$ERR"; false; }
  # team-b has no Namespace document: judged with its name label alone, said once
  [ "$(grep -c 'namespace team-b has no Namespace object' "$ERR")" -eq 1 ] || { cat "$ERR"; false; }
}

@test "check --policy: the same manifests under a monitor policy are reported, and the run passes" {
  check_manifests "$POLICY" --policy "$P/monitor.yaml" "$STREAM"
  assert_check_status 0
  grep -qxF "Deployment team-a/web: rejected by ClusterAdmissionPolicy secret-mounts (monitor mode: not enforced)" "$OUT" || { cat "$OUT"; false; }
  grep -qxF "Rollout team-a/checkout: rejected by ClusterAdmissionPolicy secret-mounts (monitor mode: not enforced)" "$OUT"
  [ "$(tail -n 1 "$OUT")" = "8 objects: 0 allowed, 0 mutated, 3 rejected (3 in monitor mode, not enforced), 5 skipped" ] || { tail -n 1 "$OUT"; false; }
  check_manifests -o json --summary "$POLICY" --policy "$P/monitor.yaml" "$STREAM"
  assert_check_status 0
  jq -e -s 'map(select(.verdict == "rejected")) | length == 3 and all(.mode == "monitor")' "$OUT" >/dev/null
  [ "$(tail -n 1 "$OUT" | jq -c '[.summary.rejected, .summary.exitCode]')" = "[3,0]" ]
}

@test "check --policy: a monitor and a protect policy together: each object is judged by each that selects it" {
  # the protect policy as an AdmissionPolicy of team-b, the monitor one cluster-wide
  check_manifests -o json "$POLICY" --policy "$P/monitor.yaml" --policy "$P/team-b.yaml" "$STREAM"
  assert_check_status 1
  [ "$(jq -r 'select(.name == "api") | [.policy, .mode, .verdict] | join(",")' "$OUT")" = "ClusterAdmissionPolicy secret-mounts,monitor,rejected
AdmissionPolicy team-b/secret-mounts,protect,rejected" ] || { cat "$OUT"; false; }
}

@test "check --policy: an AdmissionPolicy judges the objects of its own namespace alone" {
  check_manifests -o json "$POLICY" --policy "$P/team-b.yaml" "$STREAM"
  assert_check_status 1
  [ "$(jq -r 'select(.verdict != "skipped") | [.namespace, .name, .verdict] | join(" ")' "$OUT")" = "team-b api rejected" ] ||
    { cat "$OUT"; false; }
  jq -e -s 'map(select(.name == "web" and .kind == "Deployment"))[0].message | contains("AdmissionPolicy team-b/secret-mounts judges objects of namespace team-b only")' "$OUT" >/dev/null
  # the same policy in team-a (kubectl's default namespace when it has none) judges team-a's
  sed 's/^  namespace: team-b$/  namespace: team-a/' "$P/team-b.yaml" >"$BATS_TEST_TMPDIR/team-a.yaml"
  check_manifests -o json "$POLICY" --policy "$BATS_TEST_TMPDIR/team-a.yaml" "$STREAM"
  # every object of team-a its rules (all resources) select, and the
  # Namespace team-a itself (a namespace selector matches a Namespace on its
  # own labels); no settings here: the Rollout's pod spec is not located
  [ "$(jq -r 'select(.verdict != "skipped") | [.kind, .name, .verdict] | join(" ")' "$OUT")" = "Namespace team-a allowed
Deployment web rejected
Deployment exempt rejected
Rollout checkout allowed
ServiceAccount web allowed" ] || { cat "$OUT"; false; }
}

@test "check --policy: a namespaceSelector reads the labels of the Namespace document in the stream" {
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$STREAM"
  [ "$(jq -r 'select(.name == "old") | .verdict' "$OUT")" = skipped ]
  # without its Namespace document, legacy's labels are unknown: judged, with a note
  python3 -c 'import sys; docs = open(sys.argv[1]).read().split("\n---\n")
print("\n---\n".join(d for d in docs if "name: legacy\n  labels" not in d))' "$STREAM" >"$BATS_TEST_TMPDIR/no-ns.yaml"
  ! grep -q "^  name: legacy" "$BATS_TEST_TMPDIR/no-ns.yaml"
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$BATS_TEST_TMPDIR/no-ns.yaml"
  [ "$(jq -r 'select(.name == "old") | .verdict' "$OUT")" = rejected ] || { cat "$OUT"; false; }
  grep -qF "namespace legacy has no Namespace object in the manifests or --cluster-state: its labels are unknown, and a namespaceSelector sees only kubernetes.io/metadata.name=legacy" "$ERR" ||
    { cat "$ERR"; false; }
  # the Namespace given as cluster state counts as well
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n  labels: {secret-mounts.example.com/policy: skip}\n' >"$BATS_TEST_TMPDIR/ns.yaml"
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" --cluster-state "$BATS_TEST_TMPDIR/ns.yaml" "$BATS_TEST_TMPDIR/no-ns.yaml"
  [ "$(jq -r 'select(.name == "old") | .verdict' "$OUT")" = skipped ] || { cat "$OUT"; false; }
}

@test "check --policy: an objectSelector leaves out the objects whose labels it does not select" {
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$STREAM"
  [ "$(jq -r 'select(.name == "exempt") | .verdict' "$OUT")" = skipped ]
  sed 's/secret-mounts.example.com\/exempt: "true"/other: "true"/' "$STREAM" >"$BATS_TEST_TMPDIR/not-exempt.yaml"
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$BATS_TEST_TMPDIR/not-exempt.yaml"
  [ "$(jq -r 'select(.name == "exempt") | .verdict' "$OUT")" = rejected ] || { cat "$OUT"; false; }
}

@test "check --policy: a Rollout its rules select is judged; one they leave out is a warning, not a silent skip" {
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$STREAM"
  [ "$(jq -r 'select(.kind == "Rollout") | .verdict' "$OUT")" = rejected ]
  ! grep -q warning "$ERR" || { cat "$ERR"; false; }
  check_manifests "$POLICY" --policy "$P/rollout-outside-rules.yaml" "$STREAM"
  assert_check_status 1
  warning="podSpecPaths names argoproj.io/v1alpha1/Rollout, but no rule of ClusterAdmissionPolicy secret-mounts selects rollouts.argoproj.io/v1alpha1 on CREATE"
  grep -qF "policy-runner: warning: $warning" "$ERR" || { cat "$ERR"; false; }
  # in the report too, just before the summary line
  [ "$(tail -n 2 "$OUT" | head -n 1)" = "warning: $warning: the cluster never sends one to the policy, and check skips them; add it to the rules" ] ||
    { tail -n 2 "$OUT"; false; }
  grep -qxF "Rollout team-a/checkout: skipped: not selected: no rule of ClusterAdmissionPolicy secret-mounts selects rollouts.argoproj.io/v1alpha1 on CREATE" "$OUT"
  check_manifests -o json --summary "$POLICY" --policy "$P/rollout-outside-rules.yaml" "$STREAM"
  tail -n 1 "$OUT" | jq -e --arg w "$warning" '.summary.warnings | length == 1 and (.[0] | startswith($w))' >/dev/null
}

@test "check --policy: settings come from the manifest alone" {
  check_manifests "$POLICY" --policy "$P/protect.yaml" --settings-path examples/settings.yml "$STREAM"
  assert_check_status 2
  grep -qF "the argument '--policy <FILE>' cannot be used with '--settings-path <FILE>'" "$ERR" || { cat "$ERR"; false; }
  check_manifests "$POLICY" --settings-json '{}' --policy "$P/protect.yaml" "$STREAM"
  assert_check_status 2
  grep -qF "cannot be used with" "$ERR"
  [ ! -s "$OUT" ]
}

@test "check --policy: a manifest the API server would refuse is refused, naming the field" {
  sed 's/^  mode: protect$/  mode: on/' "$P/protect.yaml" >"$BATS_TEST_TMPDIR/mode-on.yaml"
  check_manifests "$POLICY" --policy "$BATS_TEST_TMPDIR/mode-on.yaml" "$STREAM"
  assert_check_status 2
  grep -qF "policy manifest $BATS_TEST_TMPDIR/mode-on.yaml, document 1, line 5: ClusterAdmissionPolicy secret-mounts: spec: invalid type: boolean \`true\`" "$ERR" ||
    { cat "$ERR"; false; }
  sed 's/^  objectSelector:$/  objectSelectors:/' "$P/protect.yaml" >"$BATS_TEST_TMPDIR/typo.yaml"
  check_manifests "$POLICY" --policy "$BATS_TEST_TMPDIR/typo.yaml" "$STREAM"
  assert_check_status 2
  grep -qF 'unknown field `objectSelectors`' "$ERR" || { cat "$ERR"; false; }
}

@test "check --policy: a local module in the manifest must be the module judged" {
  cp "$POLICY" "$BATS_TEST_TMPDIR/same.wasm"
  sed "s|registry://.*|file://$BATS_TEST_TMPDIR/same.wasm|" "$P/protect.yaml" >"$BATS_TEST_TMPDIR/local.yaml"
  check_manifests -o json "$POLICY" --policy "$BATS_TEST_TMPDIR/local.yaml" "$STREAM"
  assert_check_status 1
  ! grep -q "spec.module" "$ERR" || { cat "$ERR"; false; }
  printf 'other' >"$BATS_TEST_TMPDIR/same.wasm"
  check_manifests -o json "$POLICY" --policy "$BATS_TEST_TMPDIR/local.yaml" "$STREAM"
  assert_check_status 2
  grep -qF "is not the module given ($POLICY): their contents differ" "$ERR" || { cat "$ERR"; false; }
  # a registry module is not fetched: a note says which module is judged
  check_manifests -o json "$POLICY" --policy "$P/protect.yaml" "$STREAM"
  grep -qF "spec.module registry://ghcr.io/secret-mounts-policy/policies/secret-mounts:v0.1.0 is not fetched; $(basename "$POLICY") is judged in its place" "$ERR" ||
    grep -qF "is not fetched; $POLICY is judged in its place" "$ERR" || { cat "$ERR"; false; }
}

@test "check --policy: the README's ClusterAdmissionPolicy works as the policy file" {
  awk '/^## Deploying/ {on=1} on && /^```yaml/ {body=1; next} body && /^```/ {exit} body' README.md >"$BATS_TEST_TMPDIR/readme-policy.yaml"
  grep -qx "kind: ClusterAdmissionPolicy" "$BATS_TEST_TMPDIR/readme-policy.yaml"
  check_manifests -o json "$POLICY" --policy "$BATS_TEST_TMPDIR/readme-policy.yaml" examples/manifests/*.yaml
  # monitor mode: the legacy worker's rejection is reported and does not fail the run
  assert_check_status 0
  jq -e -s 'map(select(.verdict == "rejected")) | length > 0 and all(.mode == "monitor")' "$OUT" >/dev/null || { cat "$OUT" "$ERR"; false; }
  jq -e -s 'map(select(.verdict != "skipped")) | all(.policy == "ClusterAdmissionPolicy secret-mounts")' "$OUT" >/dev/null
  grep -qF "coverage: the rules and selectors of ClusterAdmissionPolicy secret-mounts" "$ERR"
}

# with_metadata_section MODULE JSON OUT — MODULE with an io.kubewarden.metadata
# custom section holding JSON appended, as `kwctl annotate` embeds metadata.
with_metadata_section() {
  python3 - "$@" <<'EOF'
import sys
def leb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7f, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
module, data, out = open(sys.argv[1], 'rb').read(), sys.argv[2].encode(), sys.argv[3]
name = b'io.kubewarden.metadata'
content = leb(len(name)) + name + data
open(out, 'wb').write(module + b'\x00' + leb(len(content)) + content)
EOF
}

@test "check: without --policy, coverage comes from the module's embedded metadata, and the run says where" {
  [ -z "${KWCTL-}" ] || skip "policy-runner check has no kwctl counterpart"
  mkdir "$BATS_TEST_TMPDIR/alone"
  with_metadata_section "$POLICY" \
    '{"rules":[{"apiGroups":["apps"],"apiVersions":["v1"],"resources":["deployments"],"operations":["CREATE"]}],"mutating":false}' \
    "$BATS_TEST_TMPDIR/alone/annotated.wasm"
  check_manifests -o json "$BATS_TEST_TMPDIR/alone/annotated.wasm" "$STREAM"
  grep -qxF "policy-runner: coverage: the rules of the policy metadata in the io.kubewarden.metadata section of $BATS_TEST_TMPDIR/alone/annotated.wasm" "$ERR" ||
    { cat "$ERR"; false; }
  # Deployments alone are judged, in every namespace (no selectors without --policy)
  [ "$(jq -r 'select(.verdict != "skipped") | .name' "$OUT" | tr '\n' ' ')" = "web old exempt api " ] || { cat "$OUT"; false; }
  # a module with no metadata at all judges everything, and says so
  cp "$POLICY" "$BATS_TEST_TMPDIR/alone/plain.wasm"
  check_manifests -o json "$BATS_TEST_TMPDIR/alone/plain.wasm" "$STREAM"
  grep -qF "policy-runner: coverage: no policy metadata (none in $BATS_TEST_TMPDIR/alone/plain.wasm, no policy-metadata.yml beside it, no --metadata): every object is judged" "$ERR" ||
    { cat "$ERR"; false; }
  [ "$(jq -r 'select(.verdict == "skipped")' "$OUT")" = "" ]
  # the metadata beside the module, when nothing is embedded
  cp policy-metadata.yml "$BATS_TEST_TMPDIR/alone/"
  check_manifests -o json --settings-path test_data/settings-custom-kinds.json "$BATS_TEST_TMPDIR/alone/plain.wasm" "$STREAM"
  grep -qxF "policy-runner: coverage: the rules of the policy metadata in $BATS_TEST_TMPDIR/alone/policy-metadata.yml" "$ERR" || { cat "$ERR"; false; }
  # where podSpecPaths names a kind those rules leave out
  grep -qF "policy-runner: warning: podSpecPaths names argoproj.io/v1alpha1/Rollout, but no rule of the policy metadata in $BATS_TEST_TMPDIR/alone/policy-metadata.yml selects rollouts.argoproj.io/v1alpha1 on CREATE" "$ERR" ||
    { cat "$ERR"; false; }
}
