#!/usr/bin/env bash
# make dist: what a release publishes that a Linux machine builds, in DIST_DIR
# (default dist/): policy.wasm (reproducible, scripts/build-wasm.sh), the
# runner as a static musl binary (scripts/runner-archive.sh), the rule
# catalogue rules.yml, the policy module's SBOM (CycloneDX, from
# cargo-cyclonedx) and SHA256SUMS over all of them. release.yml adds the
# annotated module and the other runners, and writes SHA256SUMS anew.
#
#   scripts/dist.sh POLICY.wasm
set -euo pipefail

POLICY=${1:?usage: dist.sh POLICY.wasm}
OUT=${DIST_DIR:-dist}
CYCLONEDX=cargo-cyclonedx@0.5.9
TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/secret-mounts-policy/tools

say() { echo "dist: $*" >&2; }

rm -rf "$OUT"
mkdir -p "$OUT"
cp "$POLICY" "$OUT/policy.wasm"
cp docs/rules.yml "$OUT/rules.yml"

# The SBOM: the crates compiled into the module (no build or dev
# dependencies), for the wasm32-wasip1 target.
if ! "$TOOLS/bin/cargo-cyclonedx" cyclonedx --version >/dev/null 2>&1; then
  say "installing $CYCLONEDX into $TOOLS (once; about 5 CPU-minutes)"
  cargo install --quiet --locked --root "$TOOLS" "$CYCLONEDX"
fi
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0) \
  "$TOOLS/bin/cargo-cyclonedx" cyclonedx --quiet --manifest-path Cargo.toml --format json --spec-version 1.5 \
  --target wasm32-wasip1 --no-build-deps --override-filename policy-sbom.cdx
mv policy-sbom.cdx.json "$OUT/policy-sbom.cdx.json"
find benches -name 'policy-sbom.cdx.json' -delete

scripts/runner-archive.sh "$(uname -m)-unknown-linux-musl" "$OUT"

(cd "$OUT" && sha256sum -- * >SHA256SUMS)
say "wrote $OUT/: $(cd "$OUT" && echo *)"
