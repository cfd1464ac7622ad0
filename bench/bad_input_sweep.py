"""Bad-input sweep through the real `dronemlops` command: every case must be refused in one line with exit status 2
(or 1 for an invalid dataset), never a traceback, never a silent acceptance. Prints one row per case and a summary:
cases, tracebacks, silent acceptances, slowest refusal.

    python bench/bad_input_sweep.py
"""
import json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

CLI = str(Path(sys.executable).parent/"dronemlops")

def setup(d:Path) -> dict:
    from dronemlops.config import load_settings
    from dronemlops.dataset import build_sample_dataset
    from dronemlops.sample import sample_files
    s = load_settings(env={}, cwd=d, workspace=str(d/"ws"))
    build_sample_dataset("sweep_20261128_1200", settings=s)
    f = sample_files()
    (d/"afile").write_text("not a folder")
    (d/"loop").symlink_to(d/"loop")
    (d/"cfg").mkdir(); (d/"cfg"/"dronemlops.toml").write_bytes(b'project = "caf\xe9"\n')
    (d/"notes.txt").write_text("these are not weights\n")
    (d/"imgs").mkdir(); shutil.copyfile(f["OSBS_029.png"], d/"imgs"/"OSBS_029.png"); shutil.copyfile(f["OSBS_029.png"], d/"imgs"/"copy.png")
    shutil.copyfile(f["OSBS_029.xml"], d/"osbs.xml")
    def coco(doc, n): (d/n).write_text(json.dumps(doc)); return d/n
    img = {"id": 1, "file_name": "a.png", "width": 400, "height": 400}
    cases = {
        "coco_bbox_3": coco({"images": [img], "categories": [{"id": 1, "name": "t"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]}, "c1.json"),
        "coco_no_width": coco({"images": [{"id": 1, "file_name": "a.png", "height": 4}], "categories": [], "annotations": []}, "c2.json"),
        "coco_list": coco([1, 2], "c3.json"),
    }
    def gt(line, n): (d/n).write_text(json.dumps(line) + "\n"); return d/n
    base = {"source-ref": "s3://b/a.png", "lab": {"annotations": [{"class_id": 5, "left": 1, "top": 1, "width": 10, "height": 10}], "image_size": [{"width": 100, "height": 100, "depth": 3}]},
            "lab-metadata": {"class-map": {"0": "tree"}, "type": "groundtruth/object-detection", "objects": [{"confidence": 1}]}}
    cases["gt_class_out_of_map"] = gt(base, "g1.manifest")
    neg = json.loads(json.dumps(base)); neg["lab"]["annotations"][0].update(class_id=0, width=-10)
    cases["gt_negative_width"] = gt(neg, "g2.manifest")
    nomap = json.loads(json.dumps(base)); nomap["lab"]["annotations"][0]["class_id"] = 0; del nomap["lab-metadata"]["class-map"]
    cases["gt_no_class_map"] = gt(nomap, "g3.manifest")
    (d/"g4.manifest").write_text('{"source-ref": "s3://b/a.png", "lab": {"annotations": [1, 2}\n')
    cases["gt_json_error"] = d/"g4.manifest"
    ds = d/"ws"/"datasets"/"sweep_20261128_1200"
    out = d/"outside"; shutil.copytree(ds, out)
    (out/"data.yaml").write_text((out/"data.yaml").read_text() + "path: /etc\n")
    from dronemlops.storage import sha256_file
    info = json.loads((out/"dataset_info.json").read_text()); info["files"]["data.yaml"] = sha256_file(out/"data.yaml")
    (out/"dataset_info.json").write_text(json.dumps(info))  # the checksum matches: only the outside path is wrong
    cases["yaml_outside"] = out
    return cases

def main():
    d = Path(tempfile.mkdtemp(prefix="sweep-"))
    c = setup(d)
    ws = ["--workspace", str(d/"ws")]
    small = ["--min-train", "10", "--min-val", "5"]
    D = "sweep_20261128_1200"
    CASES = [  # (kind, argv, env, expected exit status)
        ("workspace is a file: datasets", ["datasets", "--workspace", str(d/"afile")], {}, 2),
        ("workspace is a file: sample", ["sample", "--workspace", str(d/"afile")], {}, 2),
        ("workspace is a symlink loop", ["datasets", "--workspace", str(d/"loop")], {}, 2),
        ("config file not UTF-8", ["config", "--config-file", str(d/"cfg"/"dronemlops.toml")], {}, 2),
        ("S3 endpoint refuses connections", ["datasets", "--workspace", "s3://bucket/x"], {"DRONEMLOPS_AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"}, 2),
        ("S3 endpoint not a URL", ["datasets", "--workspace", "s3://bucket/x"], {"DRONEMLOPS_AWS_ENDPOINT_URL": "not a url"}, 2),
        ("models on an empty registry", ["models", *ws], {}, 2),
        ("rollback on an empty registry", ["rollback", *ws], {}, 2),
        ("train --resume unknown run", ["train", D, "--resume", "0123456789abcdef", *small, *ws], {}, 2),
        ("train --device 7 (no such GPU)", ["train", D, "--device", "7", *small, *ws], {}, 2),
        ("train --epochs -1", ["train", D, "--epochs", "-1", *ws], {}, 2),
        ("train --batch 0", ["train", D, "--batch", "0", *ws], {}, 2),
        ("train --imgsz 500", ["train", D, "--imgsz", "500", *ws], {}, 2),
        ("evaluate a text file as model", ["evaluate", str(d/"notes.txt"), D, *small, *ws], {}, 2),
        ("evaluate @champion, empty registry", ["evaluate", "@champion", D, *small, *ws], {}, 2),
        ("convert COCO bbox of 3 numbers", ["convert", str(c["coco_bbox_3"]), "--to", "yolo", "--out", str(d/"o1"), "--images", str(d/"imgs")], {}, 2),
        ("convert COCO image without width", ["convert", str(c["coco_no_width"]), "--to", "voc", "--out", str(d/"o2")], {}, 2),
        ("convert COCO top-level list", ["convert", str(c["coco_list"]), "--to", "voc", "--out", str(d/"o3")], {}, 2),
        ("convert GT class id outside map", ["convert", str(c["gt_class_out_of_map"]), "--to", "coco", "--out", str(d/"o4.json")], {}, 2),
        ("convert GT negative width", ["convert", str(c["gt_negative_width"]), "--to", "coco", "--out", str(d/"o5.json")], {}, 2),
        ("convert GT without class map", ["convert", str(c["gt_no_class_map"]), "--to", "coco", "--out", str(d/"o6.json")], {}, 2),
        ("convert GT JSON error", ["convert", str(c["gt_json_error"]), "--to", "coco", "--out", str(d/"o7.json")], {}, 2),
        ("convert unknown format", ["convert", str(d/"osbs.xml"), "--to", "kitti", "--out", str(d/"o8")], {}, 2),
        ("validate negative minimum", ["validate", D, "--min-train", "-1", *ws], {}, 2),
        ("validate a path that does not exist", ["validate", str(d/"nowhere"), *ws], {}, 2),
        ("validate data.yaml path outside", ["validate", str(c["yaml_outside"]), *small, *ws], {}, 1),
        ("sample with an empty name", ["sample", "--name", "", *ws], {}, 2),
        ("workspace empty string", ["datasets", "--workspace", ""], {}, 2),
        ("DRONEMLOPS_WORKSPACE empty", ["datasets"], {"DRONEMLOPS_WORKSPACE": ""}, 2),
        ("workflow name climbing out", ["workflow", "../../etc/passwd"], {}, 2),
        ("build tile size -5", ["build", str(d/"imgs"), "--labels", str(d/"osbs.xml"), "--tile-size", "-5", *ws], {}, 2),
        ("build same content twice", ["build", str(d/"imgs"), "--labels", str(d/"osbs.xml"), "--name", "dups_20261128_1200", *ws], {}, 2),
        ("build existing version name", ["build", str(d/"imgs"), "--labels", str(d/"osbs.xml"), "--name", D, *ws], {}, 2),
        ("import a path that does not exist", ["import", str(d/"nowhere"), *ws], {}, 2),
        ("profile a path that does not exist", ["profile", str(d/"nowhere"), *ws], {}, 2),
        ("unknown verb", ["trian"], {}, 2),
    ]
    rows, tracebacks, silent, slowest = [], 0, 0, (0.0, "")
    for kind, argv, env, want in CASES:
        t0 = time.time()
        r = subprocess.run([CLI, *argv], capture_output=True, text=True, cwd=d, env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true", **env})
        dt = time.time() - t0
        tb = "Traceback" in r.stderr
        msg = next((l for l in r.stderr.splitlines() if "error" in l.lower()), r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "")
        ok = r.returncode == want and not tb
        tracebacks += tb; silent += r.returncode == 0
        if r.returncode == 2: slowest = max(slowest, (dt, kind))
        rows.append((kind, r.returncode, want, round(dt, 2), "ok" if ok else "FAIL", msg[:150]))
    leftovers = [p for p in (d/"ws"/".dronemlops"/"runs").glob("*")] if (d/"ws"/".dronemlops"/"runs").exists() else []
    tmpdirs = [p for p in (d/"ws"/".dronemlops").glob("weights-*")] if (d/"ws"/".dronemlops").exists() else []
    for r in rows: print(f"{r[4]:<4} rc={r[1]} (want {r[2]}) {r[3]:>5}s  {r[0]:<38} {r[5]}")
    print(f"\ncases: {len(rows)}, as expected: {sum(r[4] == 'ok' for r in rows)}, tracebacks: {tracebacks}, silent acceptances: {silent}, "
          f"slowest refusal: {slowest[0]:.2f} s ({slowest[1]}); leftover run folders: {len(leftovers)}, leftover download folders: {len(tmpdirs)}")

if __name__ == "__main__": main()
