#!/usr/bin/env bats
# What a released module must be on its own: reproducible (it carries no path
# of the machine that built it; make dist-check builds two clones and compares
# them) and self-describing (its rule catalogue travels inside it).

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
}

@test "release: the module carries no path of the machine, the checkout or the toolchain" {
  local path paths=("$PWD" "${CARGO_HOME:-$HOME/.cargo}" "$HOME")
  if command -v rustc >/dev/null; then paths+=("$(rustc --print sysroot)"); fi
  for path in "${paths[@]}"; do
    if grep -q -a -F -- "$path" "$POLICY"; then
      echo "$POLICY contains $path: scripts/build-wasm.sh must remap it (--remap-path-prefix)"
      return 1
    fi
  done
}

@test "release: check describes every rule of docs/rules.yml from the module alone, and --rules overrides it" {
  [ -n "${KWCTL-}" ] && skip "policy-runner's own behaviour"
  run --separate-stderr "$RUNNER" check -o sarif --settings-path examples/settings.yml "$POLICY" examples/manifests/*.yaml
  [ "$status" -eq 1 ] # the examples include rejected objects
  local sarif=$output id
  local ids
  ids=$(sed -n 's/^- id: //p' docs/rules.yml)
  [ -n "$ids" ]
  for id in $ids; do
    jq -e --arg id "$id" '.runs[0].tool.driver.rules | map(select(.id == $id)) | length == 1 and
      (.[0] | (.name | length > 0) and (.shortDescription.text | length > 0)
        and (.fullDescription.text | length > 0) and (.help.markdown | length > 0))' <<<"$sarif" ||
      { echo "rule $id is not described"; return 1; }
  done
  printf -- '- {id: env-secret-ref, shortDescription: from the file}\n' >"$BATS_TEST_TMPDIR/rules.yml"
  run --separate-stderr "$RUNNER" check -o sarif --rules "$BATS_TEST_TMPDIR/rules.yml" --settings-path examples/settings.yml "$POLICY" examples/manifests/*.yaml
  [ "$status" -eq 1 ]
  jq -e '.runs[0].tool.driver.rules | map(select(.id == "env-secret-ref"))[0].shortDescription.text == "from the file"' <<<"$output"
}
