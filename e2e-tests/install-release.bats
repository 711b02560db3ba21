#!/usr/bin/env bats
# The Action's download-and-verify step (scripts/install-release.sh) against a
# release served over HTTP on 127.0.0.1: a release directory shaped as
# `make dist` writes it (a runner archive, policy.wasm, SHA256SUMS), made here
# from the built policy.wasm and bin/policy-runner.

setup_file() {
  cd "$BATS_TEST_DIRNAME/.."
  export RELEASE_ROOT=$BATS_FILE_TMPDIR/releases
  export VERSION=v0.0.1
  local release=$RELEASE_ROOT/$VERSION target
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) target=x86_64-unknown-linux-musl ;;
    Linux/aarch64) target=aarch64-unknown-linux-musl ;;
    *) skip "no release target for this machine" ;;
  esac
  export ARCHIVE=policy-runner-$target.tar.gz
  mkdir -p "$release"
  cp policy.wasm "$release/"
  tar -czf "$release/$ARCHIVE" -C bin policy-runner
  (cd "$release" && sha256sum "$ARCHIVE" policy.wasm >SHA256SUMS)
  # A free port: the server binds 0 and says which port it got.
  python3 -u -m http.server --bind 127.0.0.1 --directory "$RELEASE_ROOT" 0 \
    >"$BATS_FILE_TMPDIR/server.log" 2>&1 3>&- &
  echo $! >"$BATS_FILE_TMPDIR/server.pid"
  local port=''
  for _ in $(seq 50); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$BATS_FILE_TMPDIR/server.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ]
  echo "$port" >"$BATS_FILE_TMPDIR/server.port"
}

teardown_file() {
  kill "$(cat "$BATS_FILE_TMPDIR/server.pid")"
}

setup() {
  load common
  cd "$BATS_TEST_DIRNAME/.."
  export SECRET_MOUNTS_RELEASE_URL=http://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/server.port")
  INSTALL=$BATS_TEST_TMPDIR/install
  # Each test may tamper with its own copy of the release.
  rm -rf "$RELEASE_ROOT/v0.0.2"
  cp -r "$RELEASE_ROOT/$VERSION" "$RELEASE_ROOT/v0.0.2"
}

@test "install-release: a good release is installed and checks the examples with the module's own catalogue" {
  run scripts/install-release.sh "$VERSION" "$INSTALL"
  [ "$status" -eq 0 ]
  cmp policy.wasm "$INSTALL/policy.wasm"
  cmp bin/policy-runner "$INSTALL/bin/policy-runner"
  # Outside the checkout: the installed runner and module need nothing else.
  # This is the Action's check step (scripts/action-check.sh, globs expanded).
  mkdir "$BATS_TEST_TMPDIR/chart"
  cp examples/settings.yml examples/manifests/*.yaml "$BATS_TEST_TMPDIR/chart/"
  local check=$PWD/scripts/action-check.sh
  cd "$BATS_TEST_TMPDIR/chart"
  MANIFESTS='./*.yaml
    absent-*.yml' SETTINGS=settings.yml SARIF=out.sarif run "$check" "$INSTALL"
  [ "$status" -eq 2 ] # the glob without a match is kept, and cannot be read
  [[ $output == *"absent-*.yml"* ]]
  MANIFESTS='./*.yaml' SETTINGS=settings.yml SARIF=out.sarif run "$check" "$INSTALL"
  [ "$status" -eq 1 ] # the examples include rejected objects
  [[ $output == *rejected* ]]
  # Every rule is described, from the module's catalogue (no --rules here).
  jq -e '.runs[0].tool.driver.rules | map(select(.id == "env-secret-ref"))[0]
    | (.name == "EnvSecretRef") and (.help.markdown | length > 0) and (.fullDescription.text | length > 0)' out.sarif
}

@test "install-release: the Action's check step takes the cluster's policy file instead of settings" {
  run scripts/install-release.sh "$VERSION" "$INSTALL"
  [ "$status" -eq 0 ]
  mkdir "$BATS_TEST_TMPDIR/chart"
  cp examples/settings.yml test_data/admission-policies/*.yaml "$BATS_TEST_TMPDIR/chart/"
  local check=$PWD/scripts/action-check.sh
  cd "$BATS_TEST_TMPDIR/chart"
  # protect: the stream's rejections fail the job
  MANIFESTS=manifests.yaml ADMISSION_POLICY=protect.yaml SARIF=out.sarif run "$check" "$INSTALL"
  [ "$status" -eq 1 ] || { echo "$output"; false; }
  [[ $output == *"rejected by ClusterAdmissionPolicy secret-mounts"* ]]
  [[ $output == *"the namespaceSelector of ClusterAdmissionPolicy secret-mounts excludes namespace legacy"* ]]
  jq -e '.runs[0].results | length > 0' out.sarif >/dev/null
  # monitor: reported, the job passes
  rm out.sarif
  MANIFESTS=manifests.yaml ADMISSION_POLICY=monitor.yaml SARIF=out.sarif run "$check" "$INSTALL"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ $output == *"(monitor mode: not enforced)"* ]]
  [ -s out.sarif ]
  # the policy's settings are its own: both inputs are refused
  MANIFESTS=manifests.yaml ADMISSION_POLICY=protect.yaml SETTINGS=settings.yml SARIF=out.sarif run "$check" "$INSTALL"
  [ "$status" -eq 2 ]
  [[ $output == *"give the policy input or the settings input, not both"* ]]
}

@test "install-release: a tampered runner is refused and nothing is installed" {
  printf 'x' >>"$RELEASE_ROOT/v0.0.2/$ARCHIVE"
  run scripts/install-release.sh v0.0.2 "$INSTALL"
  [ "$status" -eq 1 ]
  [[ $output == *"$ARCHIVE does not match SHA256SUMS of v0.0.2"*"tampered"* ]]
  [ ! -e "$INSTALL" ]
}

@test "install-release: a tampered policy is refused and nothing is installed" {
  printf 'x' >>"$RELEASE_ROOT/v0.0.2/policy.wasm"
  run scripts/install-release.sh v0.0.2 "$INSTALL"
  [ "$status" -eq 1 ]
  [[ $output == *"policy.wasm does not match SHA256SUMS of v0.0.2"* ]]
  [ ! -e "$INSTALL" ]
}

@test "install-release: a file without a SHA256SUMS line is refused" {
  sed -i '/ policy.wasm$/d' "$RELEASE_ROOT/v0.0.2/SHA256SUMS"
  run scripts/install-release.sh v0.0.2 "$INSTALL"
  [ "$status" -eq 1 ]
  [[ $output == *"SHA256SUMS of v0.0.2 has no line for policy.wasm"* ]]
  [ ! -e "$INSTALL" ]
}

@test "install-release: a missing release and a malformed version are said as such" {
  run scripts/install-release.sh v9.9.9 "$INSTALL"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot download http://127.0.0.1:"*"/v9.9.9/SHA256SUMS"* ]]
  run scripts/install-release.sh 'latest; rm -rf /' "$INSTALL"
  [ "$status" -eq 1 ]
  [[ $output == *"is not a release tag such as v0.1.0"* ]]
}
