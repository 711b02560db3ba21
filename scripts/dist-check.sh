#!/usr/bin/env bash
# make dist-check: the release rehearsed from clean clones of HEAD (committed
# work only), at two paths of different lengths. The first runs `make dist`
# and checks its SHA256SUMS, then runs its static runner, unpacked alone
# outside any checkout, over the examples: the module must describe every
# rule by itself. The second builds policy.wasm with the same recipe and its
# own target directory: the two modules must be byte-identical. Both share
# the cargo home and the toolchain, as two checkouts on one machine do;
# build-wasm.sh remaps those paths out of the module, so that another machine
# with the same rustc and wasm-opt builds the same bytes too.
#
#   scripts/dist-check.sh [WORK_DIR]
set -euo pipefail

WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/secret-mounts-dist-check.XXXXXX")}
scripts/apt-tools.sh file jq
REPO=$(git rev-parse --show-toplevel)
HEAD=$(git -C "$REPO" rev-parse HEAD)
A=$WORK/a
B=$WORK/another/clone-b

say() { echo "dist-check: $*" >&2; }

clone() {
  rm -rf "$1"
  git clone --quiet --no-hardlinks "$REPO" "$1"
  git -C "$1" checkout --quiet "$HEAD"
}

# What each build costs, when GNU time is there to say it.
timed() {
  if [ -x /usr/bin/time ]; then /usr/bin/time -f "dist-check: $* took %e s wall, %U+%S CPU-s" "$@"; else "$@"; fi
}

clone "$A"
timed make -C "$A" dist >&2
(cd "$A/dist" && sha256sum --check --strict SHA256SUMS >&2)

# The runner and the module alone, in a directory that is no checkout.
alone=$WORK/alone
rm -rf "$alone" && mkdir -p "$alone"
tar -xzf "$A/dist/policy-runner-$(uname -m)-unknown-linux-musl.tar.gz" -C "$alone"
cp "$A/dist/policy.wasm" "$A/examples/settings.yml" "$A"/examples/manifests/*.yaml "$alone/"
file "$alone/policy-runner" | grep -Eq 'statically linked|static-pie linked' || { say "the runner is not static: $(file "$alone/policy-runner")"; exit 1; }
status=0
(cd "$alone" && ./policy-runner check -o sarif --settings-path settings.yml policy.wasm ./*.yaml >report.sarif) || status=$?
[ "$status" -eq 1 ] || { say "check of the examples exited $status, not 1 (some are rejected)"; exit 1; }
for id in $(sed -n 's/^- id: //p' "$A/docs/rules.yml"); do
  jq -e --arg id "$id" '.runs[0].tool.driver.rules | any(.id == $id and (.help.markdown | length > 0))' \
    "$alone/report.sarif" >/dev/null || { say "the SARIF report does not describe rule $id"; exit 1; }
done
say "the static runner checked the examples from dist/ alone, every rule described"

clone "$B"
timed make -C "$B" policy.wasm >&2
first=$(sha256sum "$A/dist/policy.wasm" | cut -d' ' -f1)
second=$(sha256sum "$B/policy.wasm" | cut -d' ' -f1)
say "$first  $A/dist/policy.wasm"
say "$second  $B/policy.wasm"
if [ "$first" != "$second" ]; then
  say "the two clones built different modules (compare with cmp -l)"
  exit 1
fi
say "reproducible: both clones built policy.wasm $first"
rm -rf "$WORK"
