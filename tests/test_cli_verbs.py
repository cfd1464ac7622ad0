"The data-layer verbs through the real `dronemlops` process: bad input gives one line and exit status 2, and conversions round-trip (each verb's example on the sample is in nbs/90_cli.ipynb)."
import json, shutil, subprocess, sys, pytest
from pathlib import Path
from dronemlops.config import load_settings
from dronemlops.storage import open_storage
from dronemlops.annotations import read_annotations

CLI = str(Path(sys.executable).parent/"dronemlops")

def run(*args, cwd=None):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd)

def refused(r, *needles):
    "Exit status 2, one line on stderr holding every needle, no traceback."
    lines = [l for l in r.stderr.splitlines() if l.strip() and "Warning" not in l and not l.startswith("  ")]
    assert r.returncode == 2, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr[-2000:]
    for n in needles: assert n in lines[0], (n, lines[0])

@pytest.fixture
def sample_dir(tmp_path, frames):
    d = tmp_path/"frames"; (d/"labels").mkdir(parents=True)
    for n, p in frames.items(): shutil.copyfile(p, (d/"labels" if p.suffix in (".xml", ".csv") else d)/n)
    return d

def test_profile_refusals(tmp_path):
    ws = tmp_path/"ws"
    refused(run("profile", tmp_path/"nowhere", "--workspace", ws), "nowhere does not exist")
    (tmp_path/"empty").mkdir()
    refused(run("profile", tmp_path/"empty", "--workspace", ws), "holds no images")

def test_convert_any_to_any(tmp_path, sample_dir):
    voc = sample_dir/"labels"
    out = {}
    for fmt, dest in (("coco", tmp_path/"a.json"), ("gt", tmp_path/"a.manifest"), ("csv", tmp_path/"a.csv"), ("yolo", tmp_path/"yolo"), ("voc", tmp_path/"voc")):
        r = run("convert", voc, "--to", fmt, "--out", dest, "--images", sample_dir)
        assert r.returncode == 0 and "3 images, 377 boxes" in r.stdout, (fmt, r.stdout, r.stderr[-2000:])
        out[fmt] = dest
    sizes = {"OSBS_029.png": (400, 400), "SOAP_061.png": (400, 400), "2019_YELL_2_541000_4977000_image_crop.png": (1249, 1035)}
    for fmt, dest in out.items():  # and back from each: the same boxes
        r = run("convert", dest, "--to", "coco", "--out", tmp_path/f"back_{fmt}.json", "--images", sample_dir)
        assert r.returncode == 0, (fmt, r.stderr[-2000:])
        assert sum(len(a) for a in read_annotations(tmp_path/f"back_{fmt}.json")) == 377
    refused(run("convert", tmp_path/"missing.json", "--to", "yolo", "--out", tmp_path/"x"), "missing.json does not exist")
    refused(run("convert", voc, "--to", "parquet", "--out", tmp_path/"x"), "unknown output format 'parquet'")
    refused(run("convert", voc, "--to", "coco", "--out", out["coco"]), "already exists")
    refused(run("convert", out["yolo"], "--to", "coco", "--out", tmp_path/"y.json"), "carry no image size")

def test_build_and_import_refusals(tmp_path, sample_dir):
    ws = tmp_path/"ws"
    r = run("build", sample_dir, "--labels", sample_dir/"labels", "--name", "cli_blocks_20261128_1200", "--block-size", 320,
            "--tile-size", 200, "--val-fraction", 0.25, "--rename", "Dead=Tree,Alive=Tree", "--workspace", ws)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    refused(run("build", sample_dir, "--labels", sample_dir/"labels", "--name", "cli_blocks_20261128_1200", "--workspace", ws), "immutable")
    refused(run("build", tmp_path/"nowhere", "--labels", sample_dir/"labels", "--workspace", ws), "is not a folder of images")
    refused(run("build", sample_dir, "--labels", sample_dir/"labels", "--from-format", "kitti", "--workspace", ws), "unknown format 'kitti'")
    refused(run("build", sample_dir, "--workspace", ws), "--labels")
    refused(run("build", sample_dir, "--labels", sample_dir/"labels", "--rename", "Dead=Tree,Alive", "--workspace", ws), "--rename takes OLD=NEW pairs")
    published = Path(ws)/"datasets"/r.stdout.split(":")[0]
    r = run("import", published, "--name", "reimported_20261128_1200", "--min-train", 10, "--min-val", 5, "--workspace", tmp_path/"ws2")
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    refused(run("import", published, "--name", "reimported_20261128_1200", "--min-train", 10, "--min-val", 5, "--workspace", tmp_path/"ws2"), "immutable")
    refused(run("import", tmp_path/"nowhere", "--workspace", tmp_path/"ws2"), "is not a folder")
    refused(run("import", published, "--workspace", tmp_path/"ws3"), "below the minimum of 100", "nothing was published")
    assert not (tmp_path/"ws3"/"datasets").exists() or not any((tmp_path/"ws3"/"datasets").iterdir())

def test_every_verb_explains_every_option():
    from dronemlops.cli import VERBS, _verb
    import inspect
    for verb in list(VERBS):
        fn = _verb(verb)  # verbs of optional modules are "module:function" until they run
        r = run(verb, "--help")
        assert r.returncode == 0 and "exit status: 0 done" in r.stdout, verb
        for p in inspect.signature(fn).parameters:
            assert fn.__doc__ and (p in r.stdout or p.replace("_", "-") in r.stdout), (verb, p)
        src = inspect.getsource(fn)
        for p in inspect.signature(fn).parameters:  # one parameter per line, each with its docment
            line = next(l for l in src.splitlines() if l.strip().startswith(f"{p}:") or f"({p}:" in l)
            assert "#" in line, (verb, p, line)
