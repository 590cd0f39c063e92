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
# bicep: the templates; json: the ARM parameter file, the certificate policy and the
# workbook; secrets: anything that looks like a key or password committed under infra/.
report="$(mktemp)"
trap 'rm -f "${report}"' EXIT
status=0
"${venv}/bin/checkov" \
  --directory infra \
  --framework bicep json secrets \
  --skip-download \
  --compact \
  --quiet \
  "$@" | tee "${report}" || status=$?
# checkov parses Bicep with its own pinned pycep-parser (0.5.1) and only counts a file it
# cannot parse: such a file would go unchecked, so it fails the scan (multi-line function
# arguments and lambdas are what 0.5.1 cannot read).
if grep -q "Parsing errors: [1-9]" "${report}"; then
  echo "checkov could not parse some files under infra/, so it did not check them." >&2
  status=1
fi
exit "${status}"
