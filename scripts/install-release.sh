#!/usr/bin/env bash
# Downloads a release's policy-runner and policy.wasm and verifies both against
# the release's SHA256SUMS before installing them (the GitHub Action, action.yml,
# runs this; so can any CI).
#
#   scripts/install-release.sh VERSION DIR
#
# DIR receives bin/policy-runner and policy.wasm (which carries its rule catalogue). VERSION is a
# release tag (v1.2.3). The files come from
#   ${SECRET_MOUNTS_RELEASE_URL:-https://github.com/secret-mounts-policy/secret-mounts-policy/releases/download}/VERSION/
# A file whose digest differs from its SHA256SUMS line, or that has no line
# there, is refused and nothing is installed.
set -euo pipefail

VERSION=${1:?usage: install-release.sh VERSION DIR}
DIR=${2:?usage: install-release.sh VERSION DIR}
BASE_URL=${SECRET_MOUNTS_RELEASE_URL:-https://github.com/secret-mounts-policy/secret-mounts-policy/releases/download}

fail() { echo "install-release: $*" >&2; exit 1; }

[[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  fail "version '$VERSION' is not a release tag such as v0.1.0"

# The runner archive built for this machine (release.yml builds these three).
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) TARGET=x86_64-unknown-linux-musl ;;
  Linux/aarch64 | Linux/arm64) TARGET=aarch64-unknown-linux-musl ;;
  Darwin/arm64) TARGET=aarch64-apple-darwin ;;
  *) fail "no policy-runner is released for $(uname -s) $(uname -m): build it from source (make runner)" ;;
esac
ARCHIVE=policy-runner-$TARGET.tar.gz
FILES=("$ARCHIVE" policy.wasm)

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

DOWNLOAD=$(mktemp -d)
trap 'rm -rf "$DOWNLOAD"' EXIT
for name in SHA256SUMS "${FILES[@]}"; do
  curl --fail --silent --show-error --location --retry 3 -o "$DOWNLOAD/$name" "$BASE_URL/$VERSION/$name" ||
    fail "cannot download $BASE_URL/$VERSION/$name"
done

# Lines are "<sha256>  <name>" (sha256sum's format; a leading * marks binary mode).
for name in "${FILES[@]}"; do
  expected=$(awk -v name="$name" '$2 == name || $2 == "*" name { print $1; exit }' "$DOWNLOAD/SHA256SUMS")
  [ -n "$expected" ] ||
    fail "SHA256SUMS of $VERSION has no line for $name: refusing a file that cannot be verified"
  actual=$(sha256 "$DOWNLOAD/$name")
  [ "$actual" = "$expected" ] ||
    fail "$name does not match SHA256SUMS of $VERSION (expected $expected, got $actual): the download is corrupt or was tampered with; refusing it"
done

mkdir -p "$DIR/bin"
tar -xzf "$DOWNLOAD/$ARCHIVE" -C "$DOWNLOAD" policy-runner ||
  fail "$ARCHIVE holds no policy-runner"
install -m 755 "$DOWNLOAD/policy-runner" "$DIR/bin/policy-runner"
install -m 644 "$DOWNLOAD/policy.wasm" "$DIR/"
echo "install-release: policy-runner and policy.wasm of $VERSION (verified against SHA256SUMS) in $DIR" >&2
