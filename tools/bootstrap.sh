#!/usr/bin/env bash
# Create the project's virtual environment when it is missing and install dronemlops into it.
#   tools/bootstrap.sh        the package and everything it needs (make demo, make lab)
#   tools/bootstrap.sh dev    the same plus test-only needs (make test)
# The venv lives in a cache folder keyed on the hash of pyproject.toml and this script, and .venv links
# to it, so a fresh clone reuses an environment that is already built. A stamp is written only after a
# successful install: an interrupted install is thrown away and redone on the next call.
# A .venv that is a real folder (made by hand) is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
key=$(cat pyproject.toml tools/bootstrap.sh | sha256sum | cut -c1-16)
cache="${DRONEMLOPS_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dronemlops/venvs}"
t0=$(date +%s)

if [ -d .venv ] && [ ! -L .venv ]; then venv="$PWD/.venv"
else
  venv="$cache/venv-$key"
  if [ -d "$venv" ] && ! compgen -G "$venv/.installed-$key*" >/dev/null; then
    echo "bootstrap: removing the incomplete environment $venv"; rm -rf "$venv"
  fi
fi
stamp="$venv/.installed-$key${extras:+-$extras}"
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv with $PY"
  mkdir -p "$(dirname "$venv")"
  "$PY" -m venv "$venv"
fi
[ "$venv" = "$PWD/.venv" ] || ln -sfn "$venv" .venv
pip_() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }

if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing dronemlops${extras:+[$extras]} and its dependencies (a few minutes on a cold machine)"
  pip_ install -U "pip>=24" "setuptools>=77" wheel
  pip_ install --no-build-isolation -e ".${extras:+[$extras]}"
  # The bundled real aerial sample is the deepforest wheel's data/ folder. --no-deps: we read its
  # files and never import it (it would pull in a second deep learning stack).
  pip_ install --no-deps "deepforest==2.1.0"
  "$venv/bin/python" -c "import fastcore, nbdev, boto3, yaml, tqdm, matplotlib, papermill, ipykernel, importlib.metadata as m; m.distribution('deepforest')"
  [ "$extras" != dev ] || "$venv/bin/python" -c "import pytest, moto.server"
  touch "$stamp" "$venv/.installed-$key"
fi
# Point the environment at this checkout when it points elsewhere (editable, no resolution: seconds).
if ! "$venv/bin/python" - "$PWD" <<'PY'
import sys, pathlib, dronemlops
sys.exit(pathlib.Path(dronemlops.__file__).resolve().parents[1] != pathlib.Path(sys.argv[1]).resolve())
PY
then pip_ install --no-deps --no-build-isolation -e .; fi
# Keep the three most recently used cached environments (each is several hundred MB).
if [ "$venv" != "$PWD/.venv" ]; then
  touch "$venv"
  ls -dt "$cache"/venv-* 2>/dev/null | tail -n +4 | while read -r old; do echo "bootstrap: removing old environment $old"; rm -rf "$old"; done
fi
echo "bootstrap: environment ready in $(( $(date +%s) - t0 )) s at $venv"
