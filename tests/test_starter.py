"The shipped starter detector: its file matches its card, its metrics are reproduced, and damaged or foreign weights are refused."
import json, os, shutil, subprocess, sys, textwrap, pytest
from pathlib import Path
from dronemlops.config import load_settings
from dronemlops.storage import sha256_file
from dronemlops.train import starter_card, starter_weights, resolve_model, WEIGHTS_DIR, TrainingError, yolo_class
from dronemlops.dataset import build_sample_dataset
from dronemlops.evaluate import evaluate

CLI = str(Path(sys.executable).parent/"dronemlops")

def test_shipped_files_match_the_card():
    card = starter_card()
    assert set(card["files"]) == {"pt", "onnx"}
    for fmt, f in card["files"].items():
        p = WEIGHTS_DIR/f["file"]
        assert sha256_file(p) == f["sha256"] and p.stat().st_size == f["bytes"], fmt
    assert card["files"]["pt"]["bytes"] <= 6_000_000  # optimizer stripped, FP16
    assert card["recipe"]["model"].startswith("yolo11n.yaml") and card["data"]["reserved_frame"] not in card["data"]["dataset"]
    readme = (WEIGHTS_DIR/"README.md").read_text()
    for f in card["files"].values(): assert f["sha256"] in readme  # the readable card says the same
    assert f"{card['metrics']['mAP50']:.3f}" in readme

def test_starter_loads_offline_in_a_fresh_process(tmp_path):
    code = textwrap.dedent("""
        import json, socket
        def no_network(*a, **k): raise OSError("network is off in this test")
        socket.socket.connect = no_network; socket.create_connection = no_network
        from dronemlops.train import resolve_model, yolo_class
        p = resolve_model("starter")
        m = yolo_class()(p)
        print("RESULT", json.dumps({"task": m.task, "names": m.names, "path": p}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "DRONEMLOPS_WORKSPACE": str(tmp_path/"ws")})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    assert out["task"] == "detect" and out["names"] == {"0": "Tree"} and out["path"].endswith("trees-yolo11n.pt")

def test_card_metrics_are_reproduced_on_the_sample_val_split(tmp_path):
    "The card's val metrics come back when the starter is evaluated on the split its card describes."
    card = starter_card()
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    d = card["data"]
    info = build_sample_dataset("starter_check_20261128_1200", block_size=d["block_size"], tile_size=d["tile_size"],
                                val_fraction=d["val_fraction"], seed=d["seed"], settings=s)
    assert info["splits"]["val"]["images"] == card["metrics"]["images"] and info["splits"]["val"]["boxes"] == card["metrics"]["instances"]
    e = evaluate("starter", info["name"], split="val", imgsz=card["metrics"]["imgsz"], device="cpu", settings=s,
                 min_train_images=10, min_val_images=5)
    doc = json.loads(e.json_path.read_text())
    for k in ("mAP50", "mAP50-95", "precision", "recall"):
        assert doc["metrics"][k]["value"] == pytest.approx(card["metrics"][k], abs=0.01), k
    assert card["metrics"]["mAP50"] >= 0.5  # the bar for a starter worth serving
    assert set(doc["per_source"]) == set(card["metrics"]["per_source"]) and len(doc["per_source"]) == 3  # every site measured

def test_missing_or_altered_weights_are_refused_with_the_fix(tmp_path):
    d = tmp_path/"weights"; shutil.copytree(WEIGHTS_DIR, d)
    assert starter_weights(d) == d/"trees-yolo11n.pt"
    data = bytearray((d/"trees-yolo11n.pt").read_bytes()); data[len(data) // 2] ^= 0xFF
    (d/"trees-yolo11n.pt").write_bytes(bytes(data))
    with pytest.raises(TrainingError, match=r"do not match their model card .*git checkout -- dronemlops/weights.*make starter"):
        starter_weights(d)
    (d/"trees-yolo11n.pt").unlink()
    with pytest.raises(TrainingError, match=r"trees-yolo11n.pt are missing: restore it"): starter_weights(d)
    (d/"card.json").unlink()
    with pytest.raises(TrainingError, match=r"card .*card.json is missing"): starter_weights(d)

@pytest.mark.parametrize("task,yaml", [("classify", "yolo11n-cls.yaml"), ("segment", "yolo11n-seg.yaml")])
def test_weights_of_another_task_are_refused_by_name(tmp_path, task, yaml):
    YOLO = yolo_class()
    p = tmp_path/f"{task}.pt"
    YOLO(yaml).save(str(p))
    with pytest.raises(TrainingError, match=rf"holds a {task} model; dronemlops trains and serves detectors"): resolve_model(str(p))
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    build_sample_dataset("task_check_20261128_1200", settings=s)
    r = subprocess.run([CLI, "train", "task_check_20261128_1200", "--model", str(p), "--min-train", "10", "--min-val", "5",
                        "--workspace", str(tmp_path/"ws")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and f"holds a {task} model" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/"ws"/".dronemlops"/"runs").exists() or not any((tmp_path/"ws"/".dronemlops"/"runs").iterdir())  # nothing left behind
