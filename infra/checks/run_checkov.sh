#!/usr/bin/env bash
# Static security scan of infra/ with checkov, offline.
#
# checkov pins many packages, so it lives in its own virtual environment
# (.venv-checkov, git-ignored) and never touches the project's .venv. The scan fails on
# any failed check; an accepted risk is skipped in the Bicep file itself with a
# `// checkov:skip=CKV_...:reason` comment inside the resource it applies to.
#
# Usage: bash infra/checks/run_checkov.sh   (from anywhere; extra arguments go to checkov)
set -euo pipefail

CHECKOV_VERSION="3.3.30"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${repo_root}/.venv-checkov"

if [[ ! -x "${venv}/bin/checkov" ]] || ! "${venv}/bin/checkov" --version 2>/dev/null | grep -qx "${CHECKOV_VERSION}"; then
  python3 -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==${CHECKOV_VERSION}"
fi

cd "${repo_root}"
# bicep: the templates; json: the ARM parameter file and the certificate policy;
# secrets: anything that looks like a key or password committed under infra/.
exec "${venv}/bin/checkov" \
  --directory infra \
  --framework bicep json secrets \
  --skip-download \
  --compact \
  --quiet \
  "$@"
