"""Property tests: every annotation reader, fed generated and corrupted files, either returns valid `Annotations` or raises
`AnnotationError` naming the file; the validator's data.yaml check never raises and refuses paths that leave the dataset."""
import copy, json, os, shutil, tempfile
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path
import numpy as np
import yaml
from hypothesis import given, settings, strategies as st, HealthCheck
from dronemlops.annotations import (Annotations, AnnotationError, parse_yolo_line, read_yolo, yolo_text, read_gt_manifest,
                                    gt_manifest_to_yolo, gt_line, read_coco, coco_dict, read_voc, write_voc, read_csv_boxes,
                                    write_csv_boxes)
from dronemlops.validate import ValidationReport, _check_yaml

N = int(os.environ.get("PROPERTY_EXAMPLES", "150"))  # examples per reader test; raise it for a deep search (the default runs in ~15 s)
SOME = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(SOME, max_examples=max(1, N // 3))
NAMES = {0: "Tree", 1: "Dead", 2: "Alive"}
FILE = "frame 01 ä"  # a name with a space and a non-ASCII letter, as field data has

# ---- what a reader may do with a file: valid annotations, or our error naming the file

def check_valid(a:Annotations, names=None, inside:bool=False):
    "The invariants every reader guarantees: a positive whole-pixel size, finite boxes with x1 <= x2 and y1 <= y2, known classes."
    assert isinstance(a, Annotations)
    assert type(a.width) is int and type(a.height) is int and a.width > 0 and a.height > 0
    assert a.xyxy.shape == (len(a), 4) and a.xyxy.dtype == np.float64 and np.isfinite(a.xyxy).all()
    x1, y1, x2, y2 = a.xyxy.T
    assert (x1 <= x2).all() and (y1 <= y2).all(), a.xyxy
    assert a.cls.shape == (len(a),) and (a.cls >= 0).all()
    if names is not None: assert set(a.cls.tolist()) <= set(names) and a.names == dict(names)
    elif a.names: assert set(a.cls.tolist()) <= set(a.names)
    if a.score is not None: assert a.score.shape == (len(a),) and np.isfinite(a.score).all()
    if inside:  # YOLO: normalised to the image, within parse_yolo_line's 1e-6 tolerance
        tol = 2e-6 * max(a.width, a.height)
        assert (x1 >= -tol).all() and (y1 >= -tol).all() and (x2 <= a.width + tol).all() and (y2 <= a.height + tol).all(), a.xyxy

def outcome(read, path:Path):
    "`read(path)`, or None when it raised AnnotationError naming the file; any other exception fails the test."
    try: return read(path)
    except AnnotationError as e:
        assert path.name in str(e), f"the message does not name {path.name!r}: {e}"
        return None

@contextmanager
def in_file(data:bytes|str, suffix:str):
    "The path of `data` written to a temporary file named FILE + suffix."
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)/(FILE + suffix)
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
        yield p

# ---- generators: valid annotations, junk values, corruptions

@st.composite
def annotations(draw, max_boxes:int=6):
    "Valid annotations: a random image size and boxes inside it (integer or fractional corners)."
    w, h = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
    n = draw(st.integers(0, max_boxes))
    xs = [sorted(draw(st.lists(st.floats(0, w), min_size=2, max_size=2))) for _ in range(n)]
    ys = [sorted(draw(st.lists(st.floats(0, h), min_size=2, max_size=2))) for _ in range(n)]
    cls = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return Annotations(f"img_{w}x{h}.png", w, h, [[x[0], y[0], x[1], y[1]] for x, y in zip(xs, ys)], cls, names=NAMES)

SPECIAL = st.sampled_from([0, -1, -0.5, 1, 1.5, 2**31, 10**30, 10**400, 1e308, -1e308, float("nan"), float("inf"), -float("inf"),
                           "", "0", "12", "1e3", "nan", "Tree", None, True, False, [], {}, [1, 2, 3], [1, 2, 3, 4, 5]])
JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | SPECIAL,
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6)

def places(doc, at=()):
    "Every (path, container, key) in a JSON document."
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        yield at + (k,), doc, k
        yield from places(v, at + (k,))

def corrupt_json(data, doc):
    "Up to 4 random edits of a JSON document: delete an entry, or replace a value with junk."
    for _ in range(data.draw(st.integers(0, 4))):
        spots = list(places(doc))
        if not spots: break
        _, parent, k = data.draw(st.sampled_from(spots))
        if data.draw(st.booleans()): parent.pop(k) if isinstance(parent, dict) else parent.pop(k)
        else: parent[k] = copy.deepcopy(data.draw(JUNK))  # a fresh value: the samples in SPECIAL are shared
    return doc

def corrupt_text(data, text:str) -> bytes:
    "The text, sometimes cut short, spliced with random characters, or encoded as Latin-1 instead of UTF-8."
    b = text.encode("utf-8")
    how = data.draw(st.sampled_from(["keep", "keep", "cut", "splice", "latin1", "bytes"]))
    if how == "cut": b = b[:data.draw(st.integers(0, len(b)))]
    elif how == "splice":
        i = data.draw(st.integers(0, len(b)))
        b = b[:i] + data.draw(st.text(max_size=8)).encode("utf-8", "surrogatepass") + b[i:]
    elif how == "latin1": b = (text + "äöü").encode("latin-1", "replace")
    elif how == "bytes":
        i = data.draw(st.integers(0, len(b)))
        b = b[:i] + data.draw(st.binary(max_size=8)) + b[i:]
    return b

# ---- YOLO

TOKEN = st.one_of(st.floats().map(repr), st.integers(-3, 5).map(str), st.sampled_from(["nan", "inf", "-0", "1e30", "0.5", "1", "0", "1_0", "0x1", "+.5", "1e-320", "", "a"]),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=4))
YOLO_LINE = st.one_of(st.lists(TOKEN, max_size=7).map(" ".join), st.text(max_size=30),
                      st.tuples(st.integers(0, 3), *[st.floats(0, 1)] * 4).map(lambda t: " ".join(map(str, t))))

@given(st.text())
@SOME
def test_parse_yolo_line_returns_a_reason_or_valid_values(line):
    r = parse_yolo_line(line)
    if isinstance(r, str): return
    c, cx, cy, w, h = r
    assert type(c) is int and 0 <= c < 2**31 and all(0 <= v <= 1 for v in (cx, cy, w, h)) and w > 0 and h > 0

@given(st.data(), st.lists(YOLO_LINE, max_size=6), st.sampled_from([None, NAMES]), st.integers(1, 4000), st.integers(1, 4000))
@SOME
def test_read_yolo(data, lines, names, w, h):
    with in_file(corrupt_text(data, "\n".join(lines)), ".txt") as p:
        a = outcome(lambda p: read_yolo(p, w, h, names), p)
    if a is not None: check_valid(a, names, inside=True)

@given(annotations())
@FEW
def test_yolo_text_reads_back(ann):
    with in_file(yolo_text(ann), ".txt") as p:
        a = outcome(lambda p: read_yolo(p, ann.width, ann.height, NAMES), p)
    if a is not None: check_valid(a, NAMES, inside=True)  # boxes under a millionth of the image round to nothing: refused by line

# ---- SageMaker Ground Truth manifests

@given(st.data(), st.lists(annotations(), min_size=1, max_size=3))
@SOME
def test_read_gt_manifest(data, anns):
    recs = [json.loads(gt_line(a, "trees", "trees", "2026-11-25T12:00:00.000000")) for a in anns]
    recs = [corrupt_json(data, r) for r in recs]
    text = "".join(json.dumps(r) + "\n" for r in recs)
    with in_file(corrupt_text(data, text), ".manifest") as p:
        r = outcome(read_gt_manifest, p)
        y = outcome(gt_manifest_to_yolo, p)
    if r is None: return
    for a in r.annotations: check_valid(a, r.names)
    assert len(r.lines) == len(r.annotations)
    if y is None: return
    labels, _ = y
    for text in labels.values():  # what gt_manifest_to_yolo writes passes the YOLO reader's rules
        for line in text.splitlines():
            v = parse_yolo_line(line)
            assert not isinstance(v, str) and v[0] in r.names, (line, v)

@given(st.lists(st.one_of(JUNK.map(json.dumps), st.text(max_size=40)), max_size=4))
@FEW
def test_read_gt_manifest_any_lines(lines):
    with in_file("\n".join(lines), ".manifest") as p:
        r = outcome(read_gt_manifest, p)
    if r is not None:
        for a in r.annotations: check_valid(a, r.names)

# ---- COCO

@given(st.data(), st.lists(annotations(), max_size=3))
@SOME
def test_read_coco(data, anns):
    doc = corrupt_json(data, coco_dict(anns, NAMES))
    with in_file(corrupt_text(data, json.dumps(doc)), ".json") as p:
        out = outcome(read_coco, p)
    for a in out or []: check_valid(a)

@given(JUNK)
@FEW
def test_read_coco_any_json(doc):
    with in_file(json.dumps(doc), ".json") as p:
        out = outcome(read_coco, p)
    for a in out or []: check_valid(a)

# ---- Pascal VOC

XML_JUNK = st.one_of(st.sampled_from(["", " ", "nan", "inf", "-5", "0", "1e400", "abc", "12.5", "400"]),
                     st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6))

@given(st.data(), annotations())
@SOME
def test_read_voc(data, ann):
    with tempfile.TemporaryDirectory() as d:
        root = ET.parse(write_voc(ann, Path(d)/"x.xml")).getroot()
    for _ in range(data.draw(st.integers(0, 3))):  # remove an element, or replace the text of a leaf (a number, mostly)
        els = [(parent, el) for parent in root.iter() for el in parent]
        leaves = [(parent, el) for parent, el in els if not len(el) and el.tag in ("width", "height", "xmin", "ymin", "xmax", "ymax", "name")]
        if not els: break
        if leaves and data.draw(st.integers(0, 3)): data.draw(st.sampled_from(leaves))[1].text = data.draw(XML_JUNK)
        else: parent, el = data.draw(st.sampled_from(els)); parent.remove(el)
    text = ET.tostring(root, encoding="unicode")
    with in_file(corrupt_text(data, text), ".xml") as p:
        a = outcome(read_voc, p)
    if a is not None: check_valid(a)

# ---- CSV

CELL = st.one_of(XML_JUNK, st.sampled_from(['"', '"a', 'a"b', "\n", "Tree", "img_1x1.png"]), st.floats().map(repr))

@given(st.data(), st.lists(annotations(), min_size=1, max_size=3))
@SOME
def test_read_csv_boxes(data, anns):
    with tempfile.TemporaryDirectory() as d:
        rows = [r.split(",") for r in write_csv_boxes(anns, Path(d)/"x.csv").read_text().splitlines()]
    for _ in range(data.draw(st.integers(0, 3))):  # drop a cell, or replace it
        i = data.draw(st.integers(0, len(rows) - 1))
        if not rows[i]: continue
        j = data.draw(st.integers(0, len(rows[i]) - 1))
        if data.draw(st.booleans()): rows[i].pop(j)
        else: rows[i][j] = data.draw(CELL)
    sizes = {a.image: (a.width, a.height) for a in anns}
    with in_file(corrupt_text(data, "".join(",".join(r) + "\n" for r in rows)), ".csv") as p:
        out = outcome(lambda p: read_csv_boxes(p, sizes), p)
    for a in out or []: check_valid(a)

@FEW
@given(st.one_of(st.text(), st.binary()))
def test_any_file_at_all(data):
    "Arbitrary bytes or text in a file: every reader answers with annotations or our error."
    for suffix, read in [(".txt", lambda p: read_yolo(p, 100, 100)), (".manifest", read_gt_manifest), (".json", read_coco), (".xml", read_voc),
                         (".csv", lambda p: read_csv_boxes(p, {}))]:
        with in_file(data, suffix) as p: outcome(read, p)

# ---- data.yaml through the validator

PATHS = st.sampled_from(["train/images", "val/images", "test/images", ".", "", "./train/images", "../other/images", "../ds/train/images",
                         "train/../../other", "train/../val/images", "/tmp", "/", "~/data", "C:\\data", "nope/images", "a\x00b", "a" * 5000, "/".join(["b" * 200] * 30)])

def leaves(root:Path, v) -> bool:
    "The test's own reading of 'outside the dataset': lexically, after joining to the folder (it holds no links)."
    full = os.path.normpath(os.path.join(root, v))
    return os.path.commonpath([str(root), full]) != str(root)

@st.composite
def data_yamls(draw):
    "data.yaml text: a mapping of the real keys (and some others) to sensible, outside or junk values; sometimes broken YAML."
    keys = draw(st.lists(st.sampled_from(["path", "train", "val", "test", "names", "nc", "download"]), unique=True, max_size=7))
    d = {}
    for k in keys:
        if k == "names": d[k] = draw(st.one_of(st.just(["Tree", "Dead"]), st.just({0: "Tree"}), st.dictionaries(st.one_of(st.integers(-1, 3), st.text(max_size=2)), st.one_of(st.text(max_size=4), st.none()), max_size=3), JUNK))
        elif k in ("path", "train", "val", "test"): d[k] = draw(st.one_of(PATHS, PATHS, JUNK))
        else: d[k] = draw(JUNK)
    text = yaml.safe_dump(d, allow_unicode=True)
    return draw(st.one_of(st.just(text), st.just(text), st.text(max_size=60), st.binary(max_size=40), st.just(text[:draw(st.integers(0, len(text)))])))

@given(data_yamls())
@settings(SOME, max_examples=2 * N)
def test_check_yaml_never_raises_and_refuses_outside_paths(text):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)/"ds"
        for f in ("train/images", "val/images"): (root/f).mkdir(parents=True)
        (root/"data.yaml").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        rep = ValidationReport("x")
        d = _check_yaml(root, rep)  # never raises
        root = root.resolve()
        if d is None:
            assert rep.errors
            return
        names = d["names"]
        assert isinstance(names, dict) and list(names) == list(range(len(names))) and all(isinstance(v, str) for v in names.values())
        errors = [f.message for f in rep.errors]
        for k in ("path", "train", "val", "test"):
            v = d.get(k)
            if not isinstance(v, str) or "\x00" in v: continue
            if v and leaves(root, v):  # Ultralytics would read another folder: an ERROR, so the report is not VALID
                assert any(m.startswith(f"{k}: ") for m in errors), (k, v, errors)
            elif k == "path": assert not any(m.startswith("path: ") for m in errors), (v, errors)
            else: assert not any(m.startswith(f"{k}: ") and "outside" in m for m in errors), (k, v, errors)

def test_validator_refuses_data_yaml_leaving_the_dataset(tmp_path):
    "A built, VALID dataset whose data.yaml is edited to read another folder (a copy, which Ultralytics would happily train on) is INVALID."
    from dronemlops.config import load_settings
    from dronemlops.sample import sample_files
    from dronemlops.dataset import build_dataset
    from dronemlops.validate import validate_dataset
    from dronemlops.storage import sha256_file
    f, s = sample_files(), load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    build_dataset([f["OSBS_029.png"], f["SOAP_061.png"]], [read_voc(f["OSBS_029.xml"]), read_voc(f["SOAP_061.xml"])], "yaml_paths_20261125_1200",
                  rename={"Dead": "Tree", "Alive": "Tree"}, val_fraction=0.5, settings=s, workers=1)
    root = tmp_path/"ws"/"datasets"/"yaml_paths_20261125_1200"
    other = tmp_path/"other"; shutil.copytree(root, other)
    info = json.loads((root/"dataset_info.json").read_text())
    def edit_yaml(text):  # and its checksum, so that only the content is judged
        (root/"data.yaml").write_text(text)
        info["files"]["data.yaml"] = sha256_file(root/"data.yaml"); (root/"dataset_info.json").write_text(json.dumps(info))
    check = lambda: validate_dataset(root, settings=s, min_train_images=1, min_val_images=1, workers=1)
    assert check().ok
    original = (root/"data.yaml").read_text()
    for edit, msg in [(original + "path: ../../../other\n", "path: '../../../other' does not name a folder inside the dataset"),
                      (original + f"path: {other}\n", f"path: '{other}' does not name a folder inside the dataset"),
                      (original.replace("train: train/images", "train: ../../../other/train/images"), "train: '../../../other/train/images' points outside the dataset folder"),
                      (original.replace("val: val/images", f"val: {other/'val/images'}"), "must be a path relative to the dataset folder")]:
        edit_yaml(edit)
        rep = check()
        assert not rep.ok and any(msg in str(e) for e in rep.errors), rep.summary()
    edit_yaml(original + "path: .\n")
    rep = check()
    assert rep.ok and any("has a path: '.' key" in str(w) for w in rep.warnings), rep.summary()  # inside the folder: a warning
