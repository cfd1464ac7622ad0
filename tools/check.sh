#!/usr/bin/env bash
# Every check `make test` runs (after tools/bootstrap.sh dev). Each runs even when an earlier one failed;
# the exit status is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
# Jupyter, IPython, boto3 and matplotlib read and write under $HOME: give the checks a clean one, so that
# nothing from the developer's ~/.aws or ~/.jupyter leaks in (and nothing leaks out).
export HOME="$(mktemp -d -t dronemlops-home.XXXXXX)"; trap 'rm -rf "$HOME"' EXIT
export AWS_EC2_METADATA_DISABLED=true PYDEVD_DISABLE_FILE_VALIDATION=1
failed=()

snapshot() { find nbs dronemlops README.md -type f \( -name '*.ipynb' -o -name '*.py' -o -name '*.md' \) -print0 | sort -z | xargs -0 md5sum; }
before=$(snapshot)
nbdev-clean && nbdev-export && python tools/make_readme.py
if [ "$(snapshot)" != "$before" ]; then
  echo "FAIL: notebooks were not clean, or dronemlops/ or README.md was out of sync with nbs/. Changed:"
  diff <(echo "$before") <(snapshot) | grep '^>' | awk '{print "  " $3}'
  echo "(they are fixed now in this working tree: review and commit them)"
  failed+=("clean/export sync")
else echo "ok: notebooks clean; dronemlops/ and README.md in sync with nbs/"; fi

echo "== nbdev-test"
nbdev-test --n-workers 2 --timing || failed+=("nbdev-test")

echo "== pytest"
python -m pytest || failed+=("pytest")

if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "ALL CHECKS PASSED"
