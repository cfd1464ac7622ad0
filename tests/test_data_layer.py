"The data layer against real files, a real Ultralytics, and a real S3 API (moto)."
import sys, json, shutil, subprocess, textwrap, pytest
from pathlib import Path
import numpy as np
from PIL import Image
from dronemlops.config import load_settings
from dronemlops.storage import open_storage, S3Storage
from dronemlops.annotations import (Annotations, read_voc, read_yolo, read_gt_manifest, write_gt_manifest,
                                    AnnotationError)
from dronemlops.testing import exif_with_gps
from dronemlops.dataset import build_dataset, DatasetError, tile_windows
from dronemlops.validate import validate_dataset, find_datasets, load_dataset

CLI = str(Path(sys.executable).parent/"dronemlops")
FRAMES = ("OSBS_029.png", "SOAP_061.png", "2019_YELL_2_541000_4977000_image_crop.png")
XMLS = ("OSBS_029.xml", "SOAP_061.xml", "2019_YELL_2_541000_4977000_image_crop.xml")
SMALL = dict(min_train_images=10, min_val_images=2)

@pytest.fixture
def settings(tmp_path):
    return load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))

def build_sample(frames, settings, name="sample_trees_20261125_1200", store=None, **kw):
    anns = [read_voc(frames[n]) for n in XMLS]
    return build_dataset([frames[n] for n in FRAMES], anns, name, rename={"Dead": "Tree", "Alive": "Tree"}, tile_size=400,
                         val_fraction=0.25, settings=settings, store=store, **kw)

def run_py(code: str, settings, timeout=600) -> subprocess.CompletedProcess:
    "Run Python in a fresh process with the project's offline environment applied before anything imports ultralytics."
    pre = textwrap.dedent(f"""
        from dronemlops.config import load_settings, apply_environment
        apply_environment(load_settings(env={{}}, workspace={settings.workspace!r}))
        from ultralytics import settings as ys; ys.update(sync=False, mlflow=False)
    """)
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)

def test_built_dataset_passes_ultralytics_and_trains_one_epoch(frames, settings, tmp_path):
    info = build_sample(frames, settings)
    ds = load_dataset(info["name"], settings=settings, **SMALL)
    work = tmp_path/"work"; shutil.copytree(ds.path, work)  # Ultralytics writes label caches: never into a published version
    r = run_py(f"""
        import json
        from ultralytics.data.utils import check_det_dataset
        from ultralytics import YOLO
        d = check_det_dataset({str(work/'data.yaml')!r})
        res = YOLO("yolo11n.yaml").train(data={str(work/'data.yaml')!r}, epochs=1, imgsz=256, batch=4, workers=0, device="cpu",
                                         project={str(tmp_path/'runs')!r}, name="e1", plots=False, verbose=False, exist_ok=True)
        print("RESULT", json.dumps({{"nc": d["nc"], "names": d["names"], "train": str(d["train"]), "metrics": list(res.results_dict)}}))
    """, settings)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    assert out["nc"] == 1 and out["names"] == {"0": "Tree"} and out["train"].endswith("train/images")
    assert "metrics/mAP50(B)" in out["metrics"]
    assert (tmp_path/"runs/e1/weights/last.pt").is_file()
    assert not list(ds.path.rglob("*.cache"))  # the published version stayed untouched

def broken_corpus(root: Path, frames) -> dict:
    "A dataset folder whose labels and images are broken in the ways real data is; returns {file: what is wrong}."
    src = frames["OSBS_029.png"].read_bytes()
    for s in ("train", "val"): (root/s/"images").mkdir(parents=True); (root/s/"labels").mkdir(parents=True)
    (root/"data.yaml").write_text("train: train/images\nval: val/images\nnames: {0: Tree, 1: Dead}\n")
    (root/"dataset_info.json").write_text(json.dumps({"schema_version": 1, "name": "x", "created": "", "classes": ["Tree", "Dead"],
                                                      "splits": {}, "split": {}, "files": {}}))
    good = "0 0.5 0.5 0.1 0.1\n"
    cases = {"four_fields": "0 0.5 0.5 0.1\n", "six_fields": "0 0.5 0.5 0.1 0.1 0.3\n", "negative": "0 -0.2 0.5 0.1 0.1\n",
             "over_one": "0 1.3 0.5 0.1 0.1\n", "nan": "0 nan 0.5 0.1 0.1\n", "class_out_of_range": "5 0.5 0.5 0.1 0.1\n",
             "non_integer_class": "0.5 0.5 0.5 0.1 0.1\n", "zero_width": "0 0.5 0.5 0 0.1\n", "duplicate": good + good}
    for n, text in cases.items():
        (root/"train/images"/f"{n}.png").write_bytes(src); (root/"train/labels"/f"{n}.txt").write_text(text)
    imgs = {"zero_bytes.jpg": b"", "fake.jpg": b"just text", "truncated.png": src[:len(src)//3], "tiny.png": None, "png_named.jpg": src}
    for n, data in imgs.items():
        p = root/"train/images"/n
        if data is None: Image.new("RGB", (5, 5)).save(p)
        else: p.write_bytes(data)
        (root/"train/labels"/(p.stem + ".txt")).write_text(good)
    (root/"val/images/ok.png").write_bytes(src); (root/"val/labels/ok.txt").write_text(good)
    return {**cases, **imgs}

def test_everything_ultralytics_rejects_we_report(frames, tmp_path, settings):
    root = tmp_path/"broken"; broken_corpus(root, frames)
    listing = tmp_path/"pairs.json"
    pairs = [(str(p), str(root/"train/labels"/(p.stem + ".txt"))) for p in sorted((root/"train/images").iterdir())]
    listing.write_text(json.dumps(pairs))
    # Ultralytics' own check, on a copy (it rewrites corrupt JPEGs in place)
    shutil.copytree(root, tmp_path/"peer"); peer_pairs = [(a.replace(str(root), str(tmp_path/"peer")), b.replace(str(root), str(tmp_path/"peer"))) for a, b in pairs]
    r = run_py(f"""
        import json
        from ultralytics.data.utils import verify_image_label
        pairs = {peer_pairs!r}
        out = {{}}
        for im, lb in pairs:
            res = verify_image_label((im, lb, "", False, 2, 0, 0, False))
            out[im.rsplit("/", 1)[1]] = {{"corrupt": res[8], "msg": res[9]}}
        print("RESULT", json.dumps(out))
    """, settings)
    assert r.returncode == 0, r.stderr[-3000:]
    peer = json.loads(r.stdout.split("RESULT", 1)[1])
    rejected = {n for n, v in peer.items() if v["corrupt"]}
    assert len(rejected) >= 8, peer  # the peer does reject most of the corpus
    rep = validate_dataset(root, settings=settings, min_train_images=0, min_val_images=0)
    flagged = {Path(f.file).stem for f in rep.errors}
    missed = sorted(n for n in rejected if Path(n).stem not in flagged)
    assert missed == [], f"Ultralytics rejects {missed} but validate_dataset does not report them"
    ours_only = sorted({Path(n).stem for n in peer} - {Path(n).stem for n in rejected} & flagged)
    assert {"duplicate", "png_named"} <= set(ours_only), ours_only  # what we report beyond the peer
    zero = next(f for f in rep.errors if f.file.endswith("zero_bytes.jpg"))
    assert "empty file (0 bytes)" in zero.message and "pi_heif" not in zero.message

def test_bad_images_are_refused_by_the_builder_with_names(frames, tmp_path, settings):
    "One builder case (each kind of bad image is checked in 04_images): the name in the error, nothing published."
    d = tmp_path/"trunc"; d.mkdir(); (d/"trunc.png").write_bytes(frames["OSBS_029.png"].read_bytes()[:1000])
    with pytest.raises(DatasetError, match="trunc.png: "): build_dataset(d, [], "bad_images_20261125_1200", settings=settings)
    assert open_storage(settings=settings).versions("datasets") == []

def test_png_named_jpg_spaces_and_non_ascii_names(frames, tmp_path, settings):
    d = tmp_path/"imgs"; d.mkdir()
    (d/"Flug 1 Wald ä.jpg").write_bytes(frames["OSBS_029.png"].read_bytes())  # a PNG named .jpg, with spaces and umlaut
    (d/"SOAP_061.png").write_bytes(frames["SOAP_061.png"].read_bytes())
    osbs = read_voc(frames["OSBS_029.xml"]).replace(image="Flug 1 Wald ä.jpg")
    info = build_dataset(d, [osbs, read_voc(frames["SOAP_061.xml"])], "odd_names_20261125_1200", rename={"Dead": "Tree", "Alive": "Tree"},
                         val_fraction=0.5, settings=settings)
    renamed = info["renamed"]
    new = next(k for k, v in renamed.items() if v == "Flug 1 Wald ä.jpg")
    assert new.endswith("/images/Flug_1_Wald_a.png")  # safe ASCII name, extension matching the content
    root = open_storage(settings=settings).path("datasets/odd_names_20261125_1200")
    assert (root/new).read_bytes() == frames["OSBS_029.png"].read_bytes()  # still byte for byte
    assert validate_dataset(root, settings=settings, min_train_images=1, min_val_images=1).ok

def test_exif_rotated_photo_boxes_follow_the_displayed_image(frames, tmp_path, settings):
    d = tmp_path/"imgs"; d.mkdir()
    base = Image.open(frames["OSBS_029.png"]).convert("RGB").crop((0, 0, 400, 240))  # stored 400x240
    ex = exif_with_gps(29.68, -82.0, 100.0); ex[0x0112] = 6  # displayed rotated 90 degrees: 240x400
    base.save(d/"rotated.jpg", quality=95, exif=ex)
    (d/"SOAP_061.png").write_bytes(frames["SOAP_061.png"].read_bytes())
    box = Annotations("rotated.jpg", 240, 400, [[20, 300, 80, 380]], [0], names={0: "Tree"})
    build_dataset(d, [box, read_voc(frames["SOAP_061.xml"])], "rotated_20261125_1200", rename={"Dead": "Tree", "Alive": "Tree"},
                         val_fraction=0.5, settings=settings)
    root = open_storage(settings=settings).path("datasets/rotated_20261125_1200")
    split = next(s for s in ("train", "val") if (root/s/"images/rotated.jpg").exists())
    lines = (root/split/"labels/rotated.txt").read_text().split()
    assert [float(v) for v in lines[1:]] == pytest.approx([50/240, 340/400, 60/240, 80/400], abs=1e-6)
    r = run_py(f"""
        from ultralytics.data.utils import verify_image_label
        res = verify_image_label(({str(root/split/'images/rotated.jpg')!r}, {str(root/split/'labels/rotated.txt')!r}, "", False, 1, 0, 0, False))
        print("RESULT", tuple(res[2]), res[8])
    """, settings)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("RESULT", 1)[1].split() == ["(400,", "240)", "0"]  # Ultralytics sees (h, w) = (400, 240): the displayed frame
    # annotations drawn on the stored (unrotated) frame are refused with a hint
    wrong = box.replace(width=400, height=240)
    with pytest.raises(DatasetError, match="drawn on the image before its EXIF rotation"):
        build_dataset(d, [wrong], "rotated_wrong_20261125_1200", settings=settings)

def test_missing_images_and_classes_out_of_range(frames, tmp_path, settings):
    d = tmp_path/"imgs"; d.mkdir(); (d/"OSBS_029.png").write_bytes(frames["OSBS_029.png"].read_bytes())
    with pytest.raises(DatasetError, match=r"missing from the image folder: \['SOAP_061.png'\]"):
        build_dataset(d, [read_voc(frames["OSBS_029.xml"]), read_voc(frames["SOAP_061.xml"])], "missing_20261125_1200", settings=settings)
    with pytest.raises(AnnotationError, match=r"classes \['Tree'\] are not in the class map"):
        build_dataset(d, [read_voc(frames["OSBS_029.xml"])], "missing_20261125_1200", names=["Car"], settings=settings)

def test_validate_cli_exit_codes_and_find_newest_first(frames, tmp_path, settings):
    build_sample(frames, settings, "sample_trees_20261125_1200")
    build_sample(frames, settings, "sample_trees_20261125_1300", seed=1, parent="sample_trees_20261125_1200")
    rows = find_datasets(settings=settings, **SMALL)
    assert [r["name"] for r in rows] == ["sample_trees_20261125_1300", "sample_trees_20261125_1200"]
    assert all(r["valid"] for r in rows)
    ws = ["--workspace", settings.workspace]
    ok = subprocess.run([CLI, "validate", "sample_trees_20261125_1300", "--min-train", "10", "--min-val", "2", *ws], capture_output=True, text=True)
    assert ok.returncode == 0 and "VALID (0 errors" in ok.stdout, ok.stdout + ok.stderr
    strict = subprocess.run([CLI, "validate", "sample_trees_20261125_1300", *ws], capture_output=True, text=True)
    assert strict.returncode == 1 and "below the minimum of 100" in strict.stdout
    lbl = next((Path(settings.workspace)/"datasets/sample_trees_20261125_1200/train/labels").glob("*.txt"))
    lbl.write_text(lbl.read_text() + "9 0.5 0.5 0.1 0.1\n")  # tamper with a published version
    bad = subprocess.run([CLI, "validate", "sample_trees_20261125_1200", "--min-train", "10", "--min-val", "2", *ws], capture_output=True, text=True)
    assert bad.returncode == 1 and "class id 9 is out of range" in bad.stdout and "does not match its checksum" in bad.stdout
    with pytest.raises(DatasetError, match="class id 9 is out of range"): load_dataset("sample_trees_20261125_1200", settings=settings, **SMALL)
    listed = subprocess.run([CLI, "datasets", "--min-train", "10", "--min-val", "2", *ws], capture_output=True, text=True)
    assert listed.stdout.index("sample_trees_20261125_1300") < listed.stdout.index("sample_trees_20261125_1200")
    assert "INVALID" not in listed.stdout  # the verdict cached above: published versions are immutable...
    listed = subprocess.run([CLI, "datasets", "--min-train", "10", "--min-val", "2", "--revalidate", "true", *ws], capture_output=True, text=True)
    assert "INVALID" in listed.stdout.splitlines()[1]  # ...and --revalidate reads every byte again

def test_dataset_on_s3_is_built_validated_and_loaded(frames, s3_settings, tmp_path):
    s3 = S3Storage("s3://drone-datasets/team", s3_settings); s3.client.create_bucket(Bucket="drone-datasets")
    build_sample(frames, s3_settings, store=s3)
    assert s3.versions("datasets") == ["sample_trees_20261125_1200"]
    rep = validate_dataset("s3://drone-datasets/team/datasets/sample_trees_20261125_1200", settings=s3_settings, **SMALL)
    assert rep.ok, rep.summary()
    ds = load_dataset("sample_trees_20261125_1200", settings=s3_settings, store=s3, **SMALL)
    assert ds.path.is_relative_to(s3_settings.local_dir) and ds.info["splits"]["train"]["images"] == 12

def test_profile_an_s3_prefix(frames, s3_settings):
    from dronemlops.images import profile_images
    s3 = S3Storage("s3://drone-raw/survey", s3_settings); s3.client.create_bucket(Bucket="drone-raw")
    for n in ("OSBS_029.png", "SOAP_061.png"): s3.put_file(frames[n], f"flight_1/{n}")
    s3.write_bytes("flight_1/broken.jpg", b"not an image"); s3.write_text("flight_1/notes.txt", "not an image either")
    df = profile_images("flight_1", store=s3, workers=2)
    assert sorted(df["name"]) == ["OSBS_029.png", "SOAP_061.png", "broken.jpg"]
    assert df.set_index("name").loc["OSBS_029.png", "file"] == "s3://drone-raw/survey/flight_1/OSBS_029.png"
    assert df.set_index("name").loc["broken.jpg", "error"].startswith("not an image")
    assert (df.dropna(subset=["width"])["width"] == 400).all()

def test_resize_downscales_frames_and_keeps_boxes_in_place(frames, settings):
    info = build_dataset([frames[n] for n in FRAMES], [read_voc(frames[n]) for n in XMLS], "resized_20261125_1200",
                      rename={"Dead": "Tree", "Alive": "Tree"}, val_fraction=0.34, resize=320, settings=settings)
    root = Path(settings.workspace)/"datasets"/"resized_20261125_1200"
    sizes = {p.name: Image.open(p).size for p in root.glob("*/images/*")}
    assert sizes == {"OSBS_029.png": (320, 320), "SOAP_061.png": (320, 320), "2019_YELL_2_541000_4977000_image_crop.png": (320, 265)}
    assert info["resize"] == 320 and info["image_size"]["width"]["max"] == 320
    yell = next(root.glob("*/labels/2019_YELL_2_541000_4977000_image_crop.txt"))
    back = read_yolo(yell, 320, 265, {0: "Tree"})
    orig = read_voc(frames["2019_YELL_2_541000_4977000_image_crop.xml"], names={0: "Tree"})
    assert len(back) == len(orig) and np.allclose(back.xywhn, orig.xywhn, atol=1e-5)  # normalised boxes unchanged by the resize
    assert validate_dataset(root, settings=settings, min_train_images=1, min_val_images=1).ok

def test_flights_are_grouped_and_a_test_split_is_made(frames, tmp_path, settings):
    from dronemlops.dataset import crop_annotations
    im, ann = Image.open(frames["2019_YELL_2_541000_4977000_image_crop.png"]), read_voc(frames["2019_YELL_2_541000_4977000_image_crop.xml"])
    d = tmp_path/"flights"; d.mkdir(); anns = []
    for f in range(1, 4):
        for j, frame in enumerate("abc"):
            x, y = 300 * j, 300 * (f - 1)
            name = f"flight_{f}_{frame}.png"
            im.crop((x, y, x + 300, y + 300)).save(d/name)
            anns.append(crop_annotations(ann, (x, y, x + 300, y + 300)).replace(image=name))
    info = build_dataset(d, anns, "flights_20261125_1200", val_fraction=0.34, test_fraction=0.33, group_by=r"^(flight_\d+)_", settings=settings)
    groups = {s: st["groups"] for s, st in info["splits"].items()}
    assert sorted(g for gs in groups.values() for g in gs) == ["flight_1", "flight_2", "flight_3"]
    assert all(len(gs) == 1 for gs in groups.values()) and set(groups) == {"train", "val", "test"}  # one whole flight per split
    root = Path(settings.workspace)/"datasets"/"flights_20261125_1200"
    for s, (g,) in groups.items():
        assert sorted(p.name for p in (root/s/"images").iterdir()) == [f"{g}_{x}.png" for x in "abc"]
    assert "test: test/images" in (root/"data.yaml").read_text()
    assert validate_dataset(root, settings=settings, min_train_images=3, min_val_images=3).ok

def test_background_tiles_follow_the_ratio(frames, tmp_path, settings):
    yell = read_voc(frames["2019_YELL_2_541000_4977000_image_crop.xml"])
    corner = yell.select((yell.xyxy[:, 2] < 380) & (yell.xyxy[:, 3] < 380))  # boxes in the top-left tile only
    d = tmp_path/"one"; d.mkdir(); (d/yell.image).write_bytes(frames[yell.image].read_bytes())
    counts = {}
    for ratio in (0.0, 1.0, 3.0):
        name = f"bg_{int(ratio*10):02d}_20261125_1200"
        info = build_dataset(d, [corner], name, tile_size=400, tile_overlap=0.0, background_ratio=ratio, val_fraction=0.0, settings=settings)
        st = info["splits"]["train"]
        counts[ratio] = (st["images"] - st["empty_images"], st["empty_images"])
        wins = tile_windows(yell.width, yell.height, 400, 0.0)
        assert {(t["x"], t["y"]) for t in info["tiles"].values()} <= {(x0, y0) for x0, y0, _, _ in wins}  # origins recorded
    pos, total = counts[0.0][0], len(wins)
    assert total == 12 and pos >= 1 and counts[0.0][1] == 0 and counts[1.0] == (pos, pos) and counts[3.0] == (pos, min(3 * pos, total - pos))

def test_gt_lines_with_different_class_maps_are_merged(tmp_path):
    a = Annotations("s3://b/a.png", 100, 100, [[0, 0, 10, 10]], [0], names={0: "Tree"})
    b = Annotations("s3://b/b.png", 100, 100, [[5, 5, 20, 20], [1, 1, 9, 9]], [0, 1], names={0: "Dead", 1: "Tree"})
    p = write_gt_manifest([a, b], tmp_path/"two_jobs.manifest", "trees")
    r = read_gt_manifest(p)
    assert r.names == {0: "Dead", 1: "Tree"}  # one deterministic map: the sorted union
    assert [x.class_names for x in r.annotations] == [["Tree"], ["Dead", "Tree"]]
    assert r.annotations[0].cls.tolist() == [1] and r.annotations[1].cls.tolist() == [0, 1]

def test_validator_warnings(frames, tmp_path, settings):
    build_sample(frames, settings, "warn_20261125_1200")
    root = tmp_path/"warn"; shutil.copytree(Path(settings.workspace)/"datasets"/"warn_20261125_1200", root)
    (root/"data.yaml").write_text((root/"data.yaml").read_text().replace("nc: 1", "nc: 2").replace("0: Tree", "0: Tree\n  1: Car"))
    for p in sorted((root/"train/labels").glob("*.txt"))[:9]: p.write_text("")  # most train labels emptied
    Image.fromarray(np.zeros((2000, 3000, 3), dtype=np.uint8)).save(root/"train/images/huge.png"); (root/"train/labels/huge.txt").write_text("")
    rep = validate_dataset(root, settings=settings, min_train_images=1, min_val_images=1)
    warnings = "\n".join(map(str, rep.warnings))
    for expect in ["resolutions from", "labels are empty (background)", "class 'Car' has no boxes in train", "classes ['Car'] have no boxes in val"]:
        assert expect in warnings, (expect, warnings)

def test_import_coco_whose_split_files_number_classes_differently(tmp_path, settings):
    "Each split's COCO file numbers its categories its own way: classes are matched by name."
    from dronemlops.dataset import import_dataset
    rng = np.random.default_rng(0)
    cats = {"train": [{"id": 1, "name": "car"}, {"id": 2, "name": "tree"}], "val": [{"id": 1, "name": "tree"}]}
    for split, cs in cats.items():
        d = tmp_path/"export"/split; d.mkdir(parents=True)
        images, anns = [], []
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d/f"{split}{i}.png")
            images.append({"id": i + 1, "file_name": f"{split}{i}.png", "width": 64, "height": 64})
            anns.append({"id": i + 1, "image_id": i + 1, "category_id": cs[-1]["id"], "bbox": [10, 10, 20, 20]})
        anns.append({"id": 9, "image_id": 1, "category_id": 1, "bbox": [40, 40, 30, 30]})  # runs past the 64 px edge: clipped like the builder does
        (d/"_annotations.coco.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cs}))
    info = import_dataset(tmp_path/"export", "coco_classes_20261128_1200", min_train_images=1, min_val_images=1, settings=settings)
    assert info["classes"] == ["car", "tree"]
    assert info["splits"]["train"]["boxes_per_class"] == {"car": 1, "tree": 3} and info["splits"]["val"]["boxes_per_class"] == {"car": 0, "tree": 4}

def test_builder_refuses_what_could_never_validate(frames, tmp_path, settings):
    d = tmp_path/"imgs"; d.mkdir(); shutil.copyfile(frames["OSBS_029.png"], d/"OSBS_029.png")
    osbs = read_voc(frames["OSBS_029.xml"])
    with pytest.raises(DatasetError, match=r"class ids must run 0..0 without gaps, got \[1\]"):
        build_dataset(d, [osbs], "gaps_20261128_1200", names={1: "Tree"}, settings=settings)
    with pytest.raises(DatasetError, match="every tile of 1 frames is background"):
        build_dataset(d, [], "empty_20261128_1200", tile_size=200, background_ratio=0, settings=settings)
    with pytest.raises(DatasetError, match="resize applies to untiled frames"):
        build_dataset(d, [osbs], "both_20261128_1200", block_size=200, resize=300, settings=settings)
    assert open_storage(settings=settings).versions("datasets") == []

def test_convert_refuses_two_images_with_one_stem(frames, tmp_path):
    from dronemlops.annotations import write_annotations
    a = read_voc(frames["OSBS_029.xml"])
    with pytest.raises(AnnotationError, match=r"share the file stem \['IMG_1'\]"):
        write_annotations([a.replace(image="s3://b/f1/IMG_1.JPG"), a.replace(image="s3://b/f2/IMG_1.JPG")], tmp_path/"yolo", "yolo")
    assert not (tmp_path/"yolo").exists()

def test_reader_threads_find_every_planted_fault_exactly_as_one_thread(frames, tmp_path, settings):
    "Hundreds of files (many reader chunks): faults planted early, late and across chunks are all named, in the same order with 1 thread or many."
    from dronemlops.validate import validate_local
    build_dataset([frames[n] for n in FRAMES], [read_voc(frames[n]) for n in XMLS], "many_tiles_20261128_1200", rename={"Dead": "Tree", "Alive": "Tree"},
                  tile_size=120, val_fraction=0.25, settings=settings)
    root = tmp_path/"many"; shutil.copytree(Path(settings.workspace)/"datasets"/"many_tiles_20261128_1200", root)
    labels, images = sorted((root/"train/labels").glob("*.txt")), sorted((root/"train/images").glob("*.png"))
    assert len(labels) + len(images) > 8 * 32  # far more files than one chunk of the reader
    boxed = next(p for p in labels if p.read_text().strip())
    first = boxed.read_text().splitlines()[0]
    planted = {boxed: first + "\n" + first + "\n", labels[40]: "0 0.5 0.5 0.1\n", labels[-1]: "0 nan 0.5 0.1 0.1\n",
               labels[77]: "2 0.5 0.5 0.1 0.1\n"}
    for p, text in planted.items(): p.write_text(text)
    labels[90].write_bytes(b"\xff\xfe0 0.5 0.5 0.1 0.1\n")
    images[5].write_bytes(images[5].read_bytes()[:4000])  # a truncated PNG
    jpg = root/"train/images/cut.jpg"; Image.open(images[6]).convert("RGB").save(jpg, quality=90)
    jpg.write_bytes(jpg.read_bytes()[:-400]); (root/"train/labels/cut.txt").write_text("")  # a truncated JPEG
    val = sorted((root/"val/images").glob("*.png"))[-1]
    shutil.copyfile(val, root/"train/images/copy.png"); (root/"train/labels/copy.txt").write_text("")  # the same content in two splits
    reps = [validate_local(root, min_train_images=0, min_val_images=0, settings=settings, workers=w) for w in (1, 3, 32)]
    assert reps[0].to_dict() == reps[1].to_dict() == reps[2].to_dict()
    import warnings
    limit, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    assert validate_local(root, min_train_images=0, min_val_images=0, settings=settings, workers=4, decode="always").to_dict() == reps[0].to_dict()
    assert (Image.MAX_IMAGE_PIXELS, warnings.filters) == (limit, filters)  # Pillow's bomb limit and the warning filters survive hundreds of decodes in threads
    found = "\n".join(map(str, reps[0].errors))
    rel = lambda p: p.relative_to(root).as_posix()
    for expect in [f"{rel(boxed)}:2: duplicate of line 1", f"{rel(labels[40])}:1: expected 5 values", f"{rel(labels[-1])}:1: NaN",
                   f"{rel(labels[77])}:1: class id 2 is out of range", f"{rel(labels[90])}: is not UTF-8 text",
                   f"{rel(images[5])}: image cannot be decoded", "train/images/cut.jpg: image cannot be decoded",
                   "train/images/copy.png: the same image content is also in", "(leakage between splits)"]:
        assert expect in found, (expect, found)
    boxes = sum(len(p.read_text().splitlines()) for p in sorted(root.glob("*/labels/*.txt")) if p not in planted and p != labels[90])
    assert sum(s["boxes"] for s in reps[0].stats.values()) == boxes + 1  # the duplicated file keeps its first line

def test_checksum_proven_headers_give_what_pillow_gives(frames, tmp_path, settings):
    "Images whose checksum proves them are sized from their header bytes, not Pillow: the report is the one a full decode of every image gives."
    from dronemlops.validate import validate_local, _proven_facts
    d = tmp_path/"imgs"; d.mkdir()
    frame = Image.open(frames["OSBS_029.png"]).convert("RGB")
    ex = exif_with_gps(29.68, -82.0, 100.0); ex[0x0112] = 6  # displayed rotated: 240x400
    frame.crop((0, 0, 400, 240)).save(d/"rotated.jpg", quality=95, exif=ex)
    frame.crop((0, 0, 300, 200)).convert("L").save(d/"grey.jpg", quality=90)
    frame.crop((0, 0, 64, 48)).save(d/"small.jpg", quality=90, progressive=True)
    frame.crop((0, 0, 320, 320)).convert("RGBA").save(d/"alpha.png")
    frame.save(d/"frame.png")
    sizes = {"rotated.jpg": (240, 400), "grey.jpg": (300, 200), "small.jpg": (64, 48), "alpha.png": (320, 320), "frame.png": frame.size}
    anns = [Annotations(n, w, h, [[10, 10, 30, 30]], [0], names={0: "Tree"}) for n, (w, h) in sizes.items()]
    build_dataset(d, anns, "formats_20261128_1200", val_fraction=0.4, settings=settings)
    root = Path(settings.workspace)/"datasets"/"formats_20261128_1200"
    fast, full = (validate_local(root, min_train_images=0, min_val_images=0, settings=settings, decode=m) for m in (True, "always"))
    assert fast.ok and fast.to_dict() == full.to_dict()
    assert any("resolutions from" in str(w) for w in fast.warnings)  # the sizes, as found, feed the resolution warning
    got = {p.name: _proven_facts(p.read_bytes(), p.relative_to(root).as_posix()) for p in root.glob("*/images/*")}
    assert {n for n, f in got.items() if f} == {"grey.jpg", "small.jpg", "alpha.png", "frame.png"}  # EXIF (an orientation) goes to Pillow
    assert all((f["width"], f["height"]) == sizes[n] for n, f in got.items() if f)
