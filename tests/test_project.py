"The project's own contract: the README's two commands, CI calling the test command, notebook hygiene."
import re, json, tomllib
from pathlib import Path
from nbdev.clean import clean_nb

ROOT = Path(__file__).resolve().parents[1]

def readme_commands() -> list[str]:
    "Commands in the README's code blocks, in order."
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", (ROOT/"README.md").read_text(), flags=re.S)
    return [l.split("#")[0].strip() for b in blocks for l in b.splitlines() if l.split("#")[0].strip()]

def test_readme_first_two_commands_are_demo_and_test():
    assert readme_commands()[:2] == ["make demo", "make test"]

def test_ci_runs_the_readme_test_command():
    lines = [l.strip() for l in (ROOT/".ci/run").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert readme_commands()[1] in lines

def test_make_targets_install_what_they_need():
    mk = (ROOT/"Makefile").read_text()
    assert re.search(r"^demo: install\b", mk, re.M) and re.search(r"^test: install-dev\b", mk, re.M)
    assert "tools/bootstrap.sh dev" in mk
    assert "deepforest==2.1.0" in (ROOT/"tools/bootstrap.sh").read_text()

def test_nbdev_config_keeps_papermill_tags():
    cfg = tomllib.loads((ROOT/"pyproject.toml").read_text())
    assert cfg["tool"]["nbdev"]["allowed_cell_metadata_keys"] == ["tags"]
    assert not (ROOT/"settings.ini").exists()
    nb = json.loads((ROOT/"nbs/workflows/end_to_end.ipynb").read_text())
    clean_nb(nb, allowed_cell_metadata_keys=cfg["tool"]["nbdev"]["allowed_cell_metadata_keys"])
    assert [c["metadata"].get("tags") for c in nb["cells"] if c["metadata"].get("tags")] == [["parameters"]]

def test_no_account_bucket_or_region_in_code():
    # testing.py is excluded: it fakes an AWS environment for the moto server, region included
    # AWS's own published accounts (Ground Truth's Lambdas, the public workforce) are data: dronemlops/aws/ground_truth.json
    code = "\n".join(p.read_text() for p in (ROOT/"dronemlops").rglob("*.py") if p.name != "testing.py")
    assert not re.search(r"\b\d{12}\b", code), "an AWS account id in the package"
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b", code), "a region in the package"

def test_lab_serves_the_notebooks(tmp_path):
    "`make lab`'s JupyterLab starts from the venv and serves nbs/ over HTTP on 127.0.0.1."
    import os, sys, subprocess, urllib.request
    from dronemlops.testing import free_port, wait_for_http
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path/"rt")}
    proc = subprocess.Popen([str(Path(sys.executable).parent/"jupyter"), "lab", "--no-browser", "--allow-root", f"--port={port}",
                             "--ip=127.0.0.1", "--IdentityProvider.token=", f"--notebook-dir={ROOT/'nbs'}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api", timeout=60, proc=proc)
        listing = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/").read())
        names = {c["name"] for c in listing["content"]}
        assert {"00_config.ipynb", "01_storage.ipynb", "index.ipynb", "workflows"} <= names
        assert "JupyterLab" in urllib.request.urlopen(f"http://127.0.0.1:{port}/lab").read().decode()
    finally:
        proc.terminate(); proc.wait(20)

def test_bootstrap_gives_each_checkout_its_own_environment(tmp_path):
    """A second checkout bootstrapped from the cached template (here over an old-style .venv link to it) gets its own
    .venv, in seconds, whose python and console scripts run that checkout's code; this checkout's .venv and the
    template (hard-linked into both) are left as they were. The bug: one shared venv ran the other clone's code."""
    import os, hashlib, shutil, subprocess, pytest
    made = ROOT/".venv/.bootstrap"
    if not made.is_file(): pytest.skip(".venv was not made from a cached template by tools/bootstrap.sh")
    key = hashlib.sha256((ROOT/"pyproject.toml").read_bytes() + (ROOT/"tools/bootstrap.sh").read_bytes()).hexdigest()[:16]
    tpl = Path(made.read_text().splitlines()[0])
    if tpl.name != f"venv-{key}" or not (tpl/f".installed-{key}-dev").is_file():
        pytest.skip(f"no cached template for this pyproject.toml and bootstrap.sh next to {tpl} (run `make test`)")
    def files(root):  # every file and link of the template: (inode, size, mtime, mode)
        return {os.path.join(d, f): (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
                for d, ds, fs in os.walk(root) for f in fs + [x for x in ds if os.path.islink(os.path.join(d, x))]
                for st in [os.lstat(os.path.join(d, f))]}
    before = files(tpl)
    other = tmp_path/"other-checkout"
    for name in ["pyproject.toml", "README.md", "tools/bootstrap.sh"]:
        (other/name).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT/name, other/name)
    shutil.copytree(ROOT/"dronemlops", other/"dronemlops", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other/"dronemlops/__init__.py", "a") as f: f.write('\nimport os\nif os.environ.get("WHICH"): print("code of", __file__)\n')
    (other/".venv").symlink_to(tpl)  # what the previous bootstrap.sh left
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"DRONEMLOPS_VENV_CACHE": str(tpl.parent)}
    boot = lambda: subprocess.run([other/"tools/bootstrap.sh", "dev"], env=env, capture_output=True, text=True, timeout=180)
    try:
        r = boot()
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"making .venv from {tpl}" in r.stdout and "installing" not in r.stdout, r.stdout
        venv = other/".venv"
        assert venv.is_dir() and not venv.is_symlink() and tpl.exists()
        run = lambda *a: subprocess.run([*map(str, a)], env=env | {"WHICH": "1"}, cwd=tmp_path, capture_output=True, text=True)
        r = run(venv/"bin/dronemlops", "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"code of {other/'dronemlops/__init__.py'}\n"), r.stdout + r.stderr
        for v, checkout in [(venv, other), (ROOT/".venv", ROOT)]:
            r = run(v/"bin/python", "-I", "-c", "import sys, dronemlops; print(sys.prefix); print(dronemlops.__file__)")
            assert r.stdout.splitlines()[-2:] == [str(v), str(checkout/"dronemlops/__init__.py")], r.stdout + r.stderr
        assert f"#!{venv}/bin/python\n" in (venv/"bin/pytest").read_text() and str(tpl) not in (venv/"bin/activate").read_text()
        r = boot()  # a second call in a ready checkout changes nothing
        assert r.returncode == 0 and "making" not in r.stdout and "installing" not in r.stdout, r.stdout + r.stderr
        assert files(tpl) == before, "the cached template was written to"
    finally: shutil.rmtree(other, ignore_errors=True)

def test_the_wheel_carries_every_module_and_data_file(tmp_path):
    "A built wheel holds every module (the aws subpackage too), the starter weights and the AWS data files the code reads."
    import shutil, subprocess, sys, zipfile
    src = tmp_path/"src"  # a clean copy: building in the checkout would reuse a stale build/ folder
    shutil.copytree(ROOT/"dronemlops", src/"dronemlops", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"): shutil.copy(ROOT/f, src/f)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = tmp_path.glob("dronemlops-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT/"dronemlops").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    data = {"dronemlops/aws/stack.yaml", "dronemlops/aws/ground_truth.json", "dronemlops/weights/card.json"}
    assert data <= names and any(n.startswith("dronemlops/weights/") and n.endswith(".pt") for n in names), sorted(data - names)
