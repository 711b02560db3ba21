#!/usr/bin/env bash
# What release.yml reads from the repository, from the files that hold it.
#
#   scripts/release-version.sh check TAG   fails unless TAG is v<version> of
#                                          Cargo.toml and policy-metadata.yml
#   scripts/release-version.sh oci-url     prints io.kubewarden.policy.ociUrl
set -euo pipefail

annotation() { sed -n "s/^ *$1: *//p" policy-metadata.yml | tr -d "\"'"; }

case ${1-} in
  check)
    tag=${2:?usage: release-version.sh check TAG}
    crate=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    metadata=$(annotation io.kubewarden.policy.version)
    if [ "$tag" != "v$crate" ] || [ "$tag" != "v$metadata" ]; then
      echo "release-version: tag $tag, but Cargo.toml says $crate and policy-metadata.yml $metadata: bump them (CONTRIBUTING.md, Releasing) and tag again" >&2
      exit 1
    fi ;;
  oci-url) annotation io.kubewarden.policy.ociUrl ;;
  *) echo "usage: release-version.sh check TAG | oci-url" >&2; exit 2 ;;
esac
