#!/usr/bin/env bash
# Builds a release wasm32-wasip1 module and copies it to OUT.
#
#   scripts/build-wasm.sh LIB_NAME OUT [cargo build args...]
#   e.g. scripts/build-wasm.sh secret_mounts_policy policy.wasm -p secret-mounts-policy
#
# The one place that chooses the toolchain, in this order (WASM_TOOLCHAIN=auto):
#   1. rustup  - the Rust toolchain on PATH already has the wasm32-wasip1 std;
#                else `rustup target add wasm32-wasip1` under a short timeout;
#   2. debian  - Debian's rustc-web/cargo-web with the std built from rust-web-src
#                (-Zbuild-std), installed with apt when missing: works offline.
# Force one with WASM_TOOLCHAIN=rustup or WASM_TOOLCHAIN=debian.
set -euo pipefail

TARGET=wasm32-wasip1
LIB_NAME=${1:?usage: build-wasm.sh LIB_NAME OUT [cargo build args...]}
OUT=${2:?usage: build-wasm.sh LIB_NAME OUT [cargo build args...]}
shift 2
MODE=${WASM_TOOLCHAIN:-auto}
RUSTUP_TIMEOUT=${RUSTUP_TIMEOUT:-20}
DEBIAN_PACKAGES=(rustc-web cargo-web rust-web-src lld-19 wasi-libc)

say() { echo "build-wasm: $*" >&2; }

has_wasm_std() {
  local libdir
  libdir=$(rustc --print target-libdir --target "$TARGET" 2>/dev/null) || return 1
  compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

try_rustup() {
  command -v cargo >/dev/null && command -v rustc >/dev/null || return 1
  if has_wasm_std; then return 0; fi
  command -v rustup >/dev/null || return 1
  say "adding the $TARGET target with rustup (timeout ${RUSTUP_TIMEOUT}s)"
  timeout "$RUSTUP_TIMEOUT" rustup target add "$TARGET" </dev/null >&2 || return 1
  has_wasm_std
}

debian_ready() {
  local p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

install_debian() {
  debian_ready && return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages (${DEBIAN_PACKAGES[*]}) and not root: install them with apt-get"
    return 1
  fi
  say "installing ${DEBIAN_PACKAGES[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq "${DEBIAN_PACKAGES[@]}" >&2
}

build_rustup() {
  say "toolchain: rustup ($(rustc --version))"
  cargo build --target "$TARGET" --release "$@"
}

build_debian() {
  install_debian
  say "toolchain: debian ($(/usr/bin/rustc --version), std built from rust-web-src)"
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_WASIP1_LINKER=/usr/lib/llvm-19/bin/wasm-ld \
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-L/usr/lib/wasm32-wasi -Clink-self-contained=no" \
    /usr/bin/cargo build -Zbuild-std=std,panic_abort --target "$TARGET" --release "$@"
}

case "$MODE" in
  auto) if try_rustup; then build_rustup "$@"; else say "no usable rustup target; falling back to Debian's toolchain"; build_debian "$@"; fi ;;
  rustup) try_rustup || { say "rustup cannot provide $TARGET"; exit 1; }; build_rustup "$@" ;;
  debian) build_debian "$@" ;;
  *) say "WASM_TOOLCHAIN must be auto, rustup or debian (got '$MODE')"; exit 2 ;;
esac

cp "${CARGO_TARGET_DIR:-target}/$TARGET/release/$LIB_NAME.wasm" "$OUT"
say "wrote $OUT ($(stat -c %s "$OUT") bytes)"
