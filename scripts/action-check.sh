#!/usr/bin/env bash
# The check step of action.yml: runs the installed policy-runner over the
# manifests named in $MANIFESTS (words, globs expanded) with the cluster's
# ClusterAdmissionPolicy file $ADMISSION_POLICY (`check --policy`: its settings, rules,
# selectors and mode) or the settings file $SETTINGS (not both; either may be
# empty) and the --source-root pairs in $SOURCE_ROOTS (words, if any), writing
# SARIF to $SARIF. The exit status is the check's: 1 when an object is
# rejected (by a policy not in monitor mode), so that the workflow's job fails.
#
#   MANIFESTS='rendered/*.yaml' ADMISSION_POLICY=policy.yaml SARIF=out.sarif scripts/action-check.sh DIR
#   MANIFESTS='rendered/*.yaml' SETTINGS=settings.yml SARIF=out.sarif scripts/action-check.sh DIR
set -euo pipefail

DIR=${1:?usage: action-check.sh DIR (where install-release.sh installed the release)}
: "${MANIFESTS:?MANIFESTS names the manifest files to check}"
: "${SARIF:?SARIF names the report to write}"

# Globs expand, a glob without a match stays as written (and the runner says
# it cannot read it); no other expansion happens.
read -r -d '' -a patterns <<<"$MANIFESTS" || true
files=()
for pattern in "${patterns[@]}"; do
  matched=()
  while IFS= read -r -d '' file; do matched+=("$file"); done < <(compgen -G "$pattern" | tr '\n' '\0')
  if [ ${#matched[@]} -eq 0 ]; then files+=("$pattern"); else files+=("${matched[@]}"); fi
done
[ ${#files[@]} -gt 0 ] || { echo "action-check: the manifests input names no file" >&2; exit 2; }

if [ -n "${ADMISSION_POLICY:-}" ] && [ -n "${SETTINGS:-}" ]; then
  echo "action-check: give the policy input or the settings input, not both (the policy's settings are its own)" >&2
  exit 2
fi
settings=()
[ -z "${SETTINGS:-}" ] || settings=(--settings-path "$SETTINGS")
[ -z "${ADMISSION_POLICY:-}" ] || settings=(--policy "$ADMISSION_POLICY")
read -r -d '' -a pairs <<<"${SOURCE_ROOTS:-}" || true
roots=()
for pair in ${pairs[@]+"${pairs[@]}"}; do roots+=(--source-root "$pair"); done
# ${a[@]+...}: an empty array under set -u, in the bash 3 of macOS too.
exec "$DIR/bin/policy-runner" check --summary --sarif "$SARIF" ${settings[@]+"${settings[@]}"} \
  ${roots[@]+"${roots[@]}"} "$DIR/policy.wasm" "${files[@]}"
