#!/usr/bin/env bash
# Create the project's virtual environment when it is missing and install dronemlops into it.
#   tools/bootstrap.sh        the package and everything it needs (make demo, make lab)
#   tools/bootstrap.sh dev    the same plus test-only needs (make test)
# Every dependency is installed once into a cached template environment, keyed on the hash of pyproject.toml and
# this script; dronemlops itself is not in it. Each checkout gets its own real .venv made from the template with
# hard links (seconds, next to no disk), with the paths that name the template rewritten and dronemlops
# installed editable from that checkout: two clones never run each other's code, and a clone keeps working when
# its template is pruned. A stamp is written only after a successful install: an interrupted install is thrown
# away and redone on the next call.
# Files in .venv are shared with the template and with other checkouts: never edit one in place (reinstall the
# package instead). The template's files are read-only to guard against that.
# A .venv that is a real folder made by hand (no .venv/.bootstrap) is used as it is.
set -euo pipefail
cd -P "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
key=$(cat pyproject.toml tools/bootstrap.sh | sha256sum | cut -c1-16)
cache="${DRONEMLOPS_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dronemlops/venvs}"
tag="$key${extras:+-$extras}"
t0=$(date +%s)
pip_() { local py="$1/bin/python"; shift
  "$py" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }

# Everything the project needs, from pyproject.toml, into the environment $1 (with dronemlops editable from here).
install_all() {
  echo "bootstrap: installing dronemlops${extras:+[$extras]} and its dependencies into $1 (a few minutes on a cold machine)"
  pip_ "$1" install -U "pip>=24" "setuptools>=77" wheel
  pip_ "$1" install --no-build-isolation -e ".${extras:+[$extras]}"
  # The bundled real aerial sample is the deepforest wheel's data/ folder. --no-deps: we read its
  # files and never import it (it would pull in a second deep learning stack).
  pip_ "$1" install --no-deps "deepforest==2.1.0"
  "$1/bin/python" -c "import fastcore, nbdev, boto3, yaml, tqdm, matplotlib, papermill, ipykernel, voila, jupyter_bbox_widget, importlib.metadata as m; m.distribution('deepforest')"
  [ "$extras" != dev ] || "$1/bin/python" -c "import pytest, moto.server, playwright.sync_api"
}
# Install dronemlops editable from this checkout into $1 unless it already imports from here (no resolution: seconds).
# -I: the check must not find ./dronemlops through the current folder, only through the environment.
point_here() {
  "$1/bin/python" -I - "$PWD" <<'PY' && return
import sys, pathlib, importlib.util
spec = importlib.util.find_spec("dronemlops")
sys.exit(spec is None or pathlib.Path(spec.origin).resolve().parents[1] != pathlib.Path(sys.argv[1]).resolve())
PY
  pip_ "$1" install --no-deps --no-build-isolation -e .
}

# The dashboard tests drive Debian's Chromium through Playwright (no browser download: the registries are all we reach).
# CHROME_BIN names another Chromium-based browser instead (GitHub's runners have Google Chrome).
if [ "$extras" = dev ] && [ ! -x "${CHROME_BIN:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian's chromium for the dashboard tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "bootstrap: ${CHROME_BIN:-/usr/bin/chromium} is missing: install Debian's chromium (apt-get install chromium), or set CHROME_BIN to a Chromium-based browser, for the dashboard tests" >&2; exit 1
  fi
fi

if [ -d .venv ] && [ ! -L .venv ] && [ ! -f .venv/.bootstrap ]; then
  # Made by hand: install into it as it is.
  venv="$PWD/.venv"
  if [ ! -f "$venv/.installed-$tag" ]; then install_all "$venv"; touch "$venv/.installed-$tag"; fi
  point_here "$venv"
  echo "bootstrap: environment ready in $(( $(date +%s) - t0 )) s at $venv (made by hand)"; exit 0
fi

tpl="$cache/venv-$key"
# Keep this checkout's .venv when it was made here from the template for this hash, with these extras.
if [ -L .venv ]; then echo "bootstrap: replacing the .venv link to a shared environment with this checkout's own"; rm .venv
elif [ -d .venv ] && { [ ! -f ".venv/.installed-$tag" ] || [ "$(sed -n 2p .venv/.bootstrap)" != "$PWD" ]; }; then
  echo "bootstrap: .venv is out of date (pyproject.toml, extras, this script or the checkout's path changed): remaking it"
  rm -rf .venv
fi

if [ ! -d .venv ]; then
  mkdir -p "$cache"
  # One bootstrap at a time builds, copies or prunes templates (another clone's, or this one's, may be running).
  if command -v flock >/dev/null; then
    exec 9>"$cache/.lock"; flock -n 9 || { echo "bootstrap: waiting for another bootstrap using $cache"; flock 9; }
  fi
  if [ -d "$tpl" ] && ! compgen -G "$tpl/.installed-$key*" >/dev/null; then
    echo "bootstrap: removing the incomplete environment $tpl"; rm -rf "$tpl"
  fi
  if [ ! -f "$tpl/.installed-$tag" ]; then
    if [ ! -x "$tpl/bin/python" ]; then echo "bootstrap: creating $tpl with $PY"; "$PY" -m venv "$tpl"; fi
    chmod -R u+w "$tpl"
    install_all "$tpl"
    pip_ "$tpl" uninstall -y dronemlops  # each checkout installs its own
    find "$tpl" -type f -perm /222 -exec chmod a-w {} +
    touch "$tpl/.installed-$tag"; [ -f "$tpl/.installed-$key" ] || touch "$tpl/.installed-$key"
  fi
  touch "$tpl"
  if [ ! -d .venv ]; then  # a bootstrap of this checkout that held the lock before us may have made it
    rm -rf .venv.partial
    echo "bootstrap: making .venv from $tpl"
    if ! cp -al "$tpl" .venv.partial 2>/dev/null; then
      echo "bootstrap: $tpl is on another file system: copying it (slower, and the disk space is not shared)"
      rm -rf .venv.partial; cp -a "$tpl" .venv.partial; chmod -R u+w .venv.partial
    fi
    # Point the copy's scripts and activate files at it. Each rewritten file is a new file (os.replace), so the
    # template's hard-linked original is never written to.
    .venv.partial/bin/python - "$tpl" "$PWD/.venv" .venv.partial/bin .venv.partial/pyvenv.cfg <<'PY'
import os, sys, shutil, tempfile, pathlib
old, new, *paths = sys.argv[1:]
old, new = old.encode(), new.encode()
for f in [f for p in map(pathlib.Path, paths) for f in ([p] if p.is_file() else p.iterdir())]:
    if f.is_symlink() or not f.is_file(): continue
    data = f.read_bytes()
    if old not in data: continue
    first, _, rest = data.partition(b"\n")
    if first.startswith(b"#!" + old) and (len(first.replace(old, new)) > 127 or b" " in new):
        # Past the kernel's shebang limit, or a space in the path: the /bin/sh trampoline pip writes then.
        data = b"#!/bin/sh\n'''exec' \"" + first[2:].replace(old, new) + b"\" \"$0\" \"$@\"\n' '''\n" + rest
    else: data = data.replace(old, new)
    fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=f".{f.name}.")
    with os.fdopen(fd, "wb") as out: out.write(data)
    shutil.copymode(f, tmp); os.chmod(tmp, os.stat(tmp).st_mode | 0o200); os.replace(tmp, f)
PY
    printf '%s\n%s\n' "$tpl" "$PWD" > .venv.partial/.bootstrap
    mv .venv.partial .venv
    point_here "$PWD/.venv"  # under the lock: a bootstrap of this checkout waiting on it must not run pip beside this one
  fi
  # Keep the three most recently used templates (each is several GB; checkouts made from one keep working).
  ls -dt "$cache"/venv-* 2>/dev/null | tail -n +4 | while read -r old; do
    echo "bootstrap: removing old environment $old"; chmod -R u+w "$old"; rm -rf "$old"; done
  [ -z "$(command -v flock)" ] || flock -u 9
fi
point_here "$PWD/.venv"
echo "bootstrap: environment ready in $(( $(date +%s) - t0 )) s at $PWD/.venv"
