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
    code = "\n".join(p.read_text() for p in (ROOT/"dronemlops").glob("*.py") if p.name != "testing.py")
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
