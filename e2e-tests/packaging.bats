#!/usr/bin/env bats
# What `kwctl annotate` (1.35 and later) finds in the built module agrees with
# policy-metadata.yml's hostCapabilities, so it warns of nothing. kwctl's
# scanner (adm-controller crates/kwctl/src/wasm_scanner.rs) counts a host
# capability as used when the module holds both its namespace and its
# operation as strings; the capabilities are those policy-evaluator knows.
# Read from those sources; kwctl is not needed here (with KWCTL set, the
# annotation itself is checked too).

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

@test "packaging: the host capabilities found in policy.wasm are the ones policy-metadata.yml declares" {
  run python3 - "$POLICY" policy-metadata.yml <<'PY'
import sys
module = open(sys.argv[1], "rb").read()
known = {
    "oci": ["v1/verify", "v1/manifest_digest", "v1/oci_manifest", "v1/oci_manifest_config", "v2/verify"],
    "net": ["v1/dns_lookup_host"],
    "crypto": ["v1/is_certificate_trusted"],
    "kubernetes": ["list_resources_by_namespace", "list_resources_all", "get_resource", "can_i"],
}
found = {f"{ns}/{op}" for ns, ops in known.items() for op in ops
         if ns.encode() in module and op.encode() in module}
declared, inside = set(), False
for line in open(sys.argv[2]):
    if line.startswith("hostCapabilities:"):
        inside = True
    elif inside and line.startswith("  - "):
        declared.add(line[4:].split("#")[0].strip())
    elif inside and not line.startswith("#"):
        inside = False
print("found:", sorted(found), "declared:", sorted(declared))
sys.exit(0 if found == declared and declared else 1)
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "found: ['kubernetes/list_resources_by_namespace'] declared: ['kubernetes/list_resources_by_namespace']" ]
}

@test "packaging: kwctl annotate writes the metadata without a host-capabilities warning" {
  [ -n "${KWCTL-}" ] || skip "needs kwctl (KWCTL=kwctl)"
  # the module as built, not the annotated one POLICY may name
  run "$KWCTL" annotate -m policy-metadata.yml -u README.md -o "$BATS_TEST_TMPDIR/annotated.wasm" policy.wasm
  echo "$output"
  [ "$status" -eq 0 ]
  ! grep -qi "host capabilities" <<<"$output"
}
