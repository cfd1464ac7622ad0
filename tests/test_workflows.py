"The main job and workflow notebooks, run for real with papermill in a kernel."
import json, os, sys, subprocess, pytest
from pathlib import Path
import nbformat
from dronemlops.config import load_settings
from dronemlops.storage import open_storage, sha256_file
from dronemlops.workflows import run_workflow, WorkflowError

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent/"dronemlops")

def test_demo_runs_end_to_end_on_the_sample(tmp_path, frames):
    ws = tmp_path/"ws"
    r = subprocess.run([CLI, "demo", "--workspace", str(ws)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    store = open_storage(settings=load_settings(env={}, cwd=tmp_path, workspace=str(ws)))
    assert store.versions("raw") == ["deepforest_sample"]
    man = store.manifest("raw/deepforest_sample")
    assert {n: f["sha256"] for n, f in man["files"].items()} == {n: sha256_file(p) for n, p in frames.items()}
    assert "2019_YELL_2_528000_4978000_image_crop2.png" not in man["files"]  # the reserved frame is never copied
    report = next(l.split(None, 1)[1] for l in r.stdout.splitlines() if l.strip().startswith("report "))
    summary = json.loads((ws/".dronemlops"/"end_to_end_summary.json").read_text())
    from dronemlops.train import starter_card
    card = starter_card()
    assert summary["valid"] is True and summary["val_images"] == card["metrics"]["images"]  # the starter's split, every site in val
    assert summary["champion_version"] == "1"  # the starter, registered and promoted through the gate
    assert abs(summary["champion_val_mAP50"] - card["metrics"]["mAP50"]) <= 0.01  # the card's figure, reproduced by the demo
    assert summary["challenger_version"] == "2"
    assert ("PROMOTE" in summary["gate"]) == summary["promoted"] and summary["champion_now"] == ("2" if summary["promoted"] else "1")
    for key in ("raw_collection", "dataset", "finetune_run", "challenger_val_mAP50", "gate"): assert key in r.stdout
    nb = nbformat.read(report, as_version=4)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outs if o.output_type == "error"]
    assert sum(o.output_type == "display_data" and "image/png" in o.get("data", {}) for o in outs) >= 2  # profile plot + detections on val tiles
    text = "".join("".join(o.get("text", "")) for o in outs)
    assert "starter registered as version 1" in text and "gate: " in text
    preds = [json.loads(l) for l in Path(summary["frame_predictions"]).read_text().splitlines()]  # the champion served on whole frames
    assert summary["frames_predicted"] == len(preds) == 3 and all(p["model_version"] == f"models:/drone-detector/{summary['champion_now']}" for p in preds)
    big = next(p for p in preds if p["source"].endswith("2019_YELL_2_541000_4977000_image_crop.png"))
    assert big["sliced"] is True and len(big["detections"]) > 150  # 279 labelled trees; whole-frame prediction finds under 10%
    # a second run reuses the published sample and the champion, builds a new dataset version and registers version 3
    r2 = subprocess.run([CLI, "demo", "--workspace", str(ws)], capture_output=True, text=True, cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert store.manifest("raw/deepforest_sample")["published_at"] == man["published_at"]
    s2 = json.loads((ws/".dronemlops"/"end_to_end_summary.json").read_text())
    assert s2["challenger_version"] == "3" and s2["champion_version"] == summary["champion_now"]
    assert len(store.versions("datasets")) == 2
    # the ML engineer's verbs on what the demo left behind
    ws_arg = ["--workspace", str(ws)]
    m = subprocess.run([CLI, "models", *ws_arg], capture_output=True, text=True)
    assert m.returncode == 0 and "champion" in m.stdout and len([l for l in m.stdout.splitlines()[1:] if l.strip()]) == 3, m.stdout + m.stderr
    newest = store.versions("datasets")[-1]
    e = subprocess.run([CLI, "evaluate", "@champion", newest, "--imgsz", "416", "--min-train", "10", "--min-val", "5", *ws_arg], capture_output=True, text=True)
    assert e.returncode == 0, e.stderr[-2000:]
    assert "mAP50" in e.stdout and Path(e.stdout.split("evaluation.json:", 1)[1].strip()).is_file()
    bad = subprocess.run([CLI, "train", "no_such_20261125_1200", *ws_arg], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a published version" in bad.stderr and "Traceback" not in bad.stderr

def test_starter_recipe_runs_with_tiny_parameters(tmp_path):
    "The recipe notebook cannot rot: one epoch at a tiny size, packaged with its card into a temporary folder."
    from dronemlops.train import starter_weights, starter_card
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    out = tmp_path/"starter"
    report = run_workflow("train_starter", {"epochs": 1, "imgsz": 128, "workers": 0, "out_dir": str(out)}, settings=s)
    card = starter_card(out)
    assert starter_weights(out).stat().st_size == card["files"]["pt"]["bytes"] <= 6_000_000
    assert card["recipe"]["epochs"] == 1 and card["metrics"]["imgsz"] == 128 and len(card["metrics"]["per_source"]) == 3
    assert card["data"]["reserved_frame"] == "2019_YELL_2_528000_4978000_image_crop2.png"
    assert (out/"trees-yolo11n.onnx").is_file() and card["files"]["onnx"]["sha256"] == sha256_file(out/"trees-yolo11n.onnx")
    from dronemlops.tracking import configure_mlflow
    c = configure_mlflow(s).MlflowClient()
    run = c.get_run(card["training_run"])
    assert run.info.status == "FINISHED" and run.data.tags["starter"] == "true" and run.data.params["flipud"] == "0.5"
    assert report.is_file()

def test_failing_workflow_names_the_cell_and_report(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("workspace = None", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("raise ValueError('bad frame')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path/"broken.ipynb"; nbformat.write(nb, path)
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    with pytest.raises(WorkflowError, match=r"failed in cell .*ValueError: bad frame.*executed notebook is .*broken-"):
        run_workflow(path, settings=s)
    reports = list((tmp_path/"ws"/"reports").glob("broken-*.ipynb"))
    assert len(reports) == 1  # the failed run's report is kept: it holds the traceback

def test_cli_errors_are_one_line(tmp_path):
    (tmp_path/"dronemlops.toml").write_text('workspace = "data\n')
    r = subprocess.run([CLI, "config"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert "Malformed TOML" in r.stderr and str(tmp_path/"dronemlops.toml") in r.stderr and "Traceback" not in r.stderr
    (tmp_path/"dronemlops.toml").unlink()
    r = subprocess.run([CLI, "workflow", "no_such_flow"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "No workflow 'no_such_flow'" in r.stderr

def test_cli_config_json_shows_sources(tmp_path):
    (tmp_path/"dronemlops.yaml").write_text("project: forest-survey\n")
    env = {**os.environ, "DRONEMLOPS_AWS_REGION": "eu-west-1"}
    r = subprocess.run([CLI, "config", "--json-out", "true", "--workspace", "s3://survey-bucket/p"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["project"] == {"value": "forest-survey", "source": f"file {tmp_path.resolve()/'dronemlops.yaml'}"}
    assert got["aws_region"] == {"value": "eu-west-1", "source": "env DRONEMLOPS_AWS_REGION"}
    assert got["workspace"] == {"value": "s3://survey-bucket/p", "source": "argument"}
    assert got["aws_profile"] == {"value": "", "source": "default"}

def test_cli_workflow_failing_on_its_parameters(tmp_path):
    "A workflow whose own check fails on the given parameters exits 2 and names the report (success is shown in 90_cli)."
    ws = ["--workspace", str(tmp_path/"ws")]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("workspace = None\nepochs = 0\nlabel = ''\nflags = []", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("assert (epochs, label, flags) == (7, 'forest run', [1, 2]), (epochs, label, flags)\nassert workspace.endswith('/ws')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path/"params.ipynb")
    r = subprocess.run([CLI, "workflow", str(tmp_path/"params.ipynb"), "--param", "epochs=8", *ws], capture_output=True, text=True)
    assert r.returncode == 2 and "AssertionError" in r.stderr and "executed notebook is" in r.stderr
