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
# Then, when binaryen is on PATH (WASM_OPT=0 skips both): `wasm-metadce`
# keeps only the exports a waPC host uses, and `wasm-opt -O3`.
#
# The module is reproducible: the same sources, rustc and wasm-opt give the
# same bytes wherever the checkout, the cargo home and the toolchain are
# (their paths, which panic locations would carry, are remapped; cargo names
# the checkout's own files relative to it). make dist-check tests two clones.
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

# --remap-path-prefix flags for the machine-specific paths a build reads from.
remap_flags() {
  echo "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$("${RUSTC:-rustc}" --print sysroot)=/rustc"
}

build_rustup() {
  say "toolchain: rustup ($(rustc --version))"
  CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="$(remap_flags)" cargo build --target "$TARGET" --release "$@"
}

build_debian() {
  install_debian
  say "toolchain: debian ($(/usr/bin/rustc --version), std built from rust-web-src)"
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_WASIP1_LINKER=/usr/lib/llvm-19/bin/wasm-ld \
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-L/usr/lib/wasm32-wasi -Clink-self-contained=no $(RUSTC=/usr/bin/rustc remap_flags)" \
    /usr/bin/cargo build -Zbuild-std=std,panic_abort --target "$TARGET" --release "$@"
}

case "$MODE" in
  auto) if try_rustup; then build_rustup "$@"; else say "no usable rustup target; falling back to Debian's toolchain"; build_debian "$@"; fi ;;
  rustup) try_rustup || { say "rustup cannot provide $TARGET"; exit 1; }; build_rustup "$@" ;;
  debian) build_debian "$@" ;;
  *) say "WASM_TOOLCHAIN must be auto, rustup or debian (got '$MODE')"; exit 2 ;;
esac

cp "${CARGO_TARGET_DIR:-target}/$TARGET/release/$LIB_NAME.wasm" "$OUT"

# The features binaryen's tools accept: those rustc's wasm32-wasip1 output uses.
FEATURES=(--enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int)

# The exports a waPC host uses: the memory, `wapc_init` (called once, after
# instantiation) and `__guest_call`. rustc exports every `#[no_mangle]`
# function of every dependency from a cdylib: jsonpath_lib's C interface
# (ffi_select, ffi_select_with_compiled_path, ffi_path_compile), which no
# host calls, and with it 18 KB of code that only it reaches (mostly
# serde_json instances of its own). wasm-metadce (binaryen, beside wasm-opt)
# drops every other export, and what only they reached, before wasm-opt -O3
# optimises the rest.
WAPC_EXPORTS=(memory wapc_init __guest_call)
keep_wapc_exports() {
  local graph="$OUT.graph.json" export sep=""
  {
    echo "["
    for export in "${WAPC_EXPORTS[@]}"; do
      printf '%s{ "name": "%s", "root": true, "export": "%s" }\n' "$sep" "$export" "$export"
      sep=","
    done
    echo "]"
  } >"$graph"
  if wasm-metadce "${FEATURES[@]}" -f "$graph" "$OUT" -o "$OUT.dce" >"$OUT.dce.log" 2>&1; then
    mv "$OUT.dce" "$OUT"
    say "wasm-metadce: kept the exports ${WAPC_EXPORTS[*]} ($(grep -c '^unused: export' "$OUT.dce.log") others dropped)"
  else
    say "wasm-metadce failed (kept every export): $(head -c 300 "$OUT.dce.log")"
    rm -f "$OUT.dce"
  fi
  rm -f "$graph" "$OUT.dce.log"
}

# Binaryen's optimizer after rustc's: measured 13% smaller and a few percent
# faster for the policy and for the floor policy alike (docs/performance.md).
# Optional: without wasm-opt (Debian package binaryen) the module is only
# rustc's, every export kept.
if [ "${WASM_OPT:-1}" != 0 ] && command -v wasm-opt >/dev/null; then
  if command -v wasm-metadce >/dev/null; then
    keep_wapc_exports
  fi
  before=$(stat -c %s "$OUT")
  if wasm-opt -O3 "${FEATURES[@]}" "$OUT" -o "$OUT.opt" 2>"$OUT.opt.log"; then
    mv "$OUT.opt" "$OUT"
    rm -f "$OUT.opt.log"
    say "wasm-opt -O3: $before -> $(stat -c %s "$OUT") bytes"
  else
    say "wasm-opt failed (kept rustc's module): $(head -c 300 "$OUT.opt.log")"
    rm -f "$OUT.opt" "$OUT.opt.log"
  fi
elif [ "${WASM_OPT:-1}" != 0 ]; then
  say "wasm-opt not found (Debian package binaryen): $OUT is rustc's output, about 13% larger"
fi
say "wrote $OUT ($(stat -c %s "$OUT") bytes)"
