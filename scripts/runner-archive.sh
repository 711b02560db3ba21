#!/usr/bin/env bash
# Builds policy-runner for a release target and packs it as
# OUT_DIR/policy-runner-TARGET.tar.gz (the binary at the archive's root, as
# scripts/install-release.sh expects). make dist and release.yml use it.
#
#   scripts/runner-archive.sh TARGET OUT_DIR
#   e.g. scripts/runner-archive.sh x86_64-unknown-linux-musl dist
#
# The target's std comes from rustup (`rustup target add`, short timeout).
# Without rustup, or offline with the target missing, this refuses: Debian
# ships no musl std for a Rust toolchain, and a binary linked against the
# build machine's glibc is not the static one a release promises.
set -euo pipefail

TARGET=${1:?usage: runner-archive.sh TARGET OUT_DIR}
OUT=${2:?usage: runner-archive.sh TARGET OUT_DIR}
RUSTUP_TIMEOUT=${RUSTUP_TIMEOUT:-60}

say() { echo "runner-archive: $*" >&2; }

has_std() {
  local libdir
  libdir=$(rustc --print target-libdir --target "$TARGET" 2>/dev/null) || return 1
  compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

if ! has_std; then
  command -v rustup >/dev/null ||
    { say "the Rust std for $TARGET is missing and there is no rustup to add it: install rustup's toolchain with that target"; exit 1; }
  say "adding the $TARGET target with rustup (timeout ${RUSTUP_TIMEOUT}s)"
  timeout "$RUSTUP_TIMEOUT" rustup target add "$TARGET" </dev/null >&2 && has_std ||
    { say "rustup cannot add $TARGET (offline?): rerun with network access; Debian has no musl std to fall back on"; exit 1; }
fi

# wasmtime's C helpers are compiled for the target too: on Linux with musl's
# own compiler wrapper (Debian's musl-tools), so that nothing links glibc.
if [[ $TARGET == *-linux-musl ]] && [ "$(uname -m)" = "${TARGET%%-*}" ]; then
  scripts/apt-tools.sh musl-gcc=musl-tools
  export "CC_${TARGET//-/_}=musl-gcc"
fi

cargo build --release --locked --target "$TARGET" --manifest-path runner/Cargo.toml
mkdir -p "$OUT"
archive=$OUT/policy-runner-$TARGET.tar.gz
binary_dir=runner/target/$TARGET/release
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$binary_dir" -cf - policy-runner | gzip -n >"$archive"
else
  tar -C "$binary_dir" -czf "$archive" policy-runner
fi
say "wrote $archive ($(wc -c <"$archive") bytes)"
