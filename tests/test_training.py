"Training, tracking, evaluation and the registry, for real: Ultralytics on CPU, an MLflow SQLite store, fresh processes."
import os, sys, json, signal, subprocess, textwrap, pytest
from pathlib import Path
from dronemlops.config import load_settings
from dronemlops.dataset import build_sample_dataset, DatasetError
from dronemlops.tracking import configure_mlflow, TRAINING_EXPERIMENT
from dronemlops.train import train, TrainingError
from dronemlops.evaluate import evaluate, coco_map
from dronemlops.registry import gate
from dronemlops.annotations import read_coco
from dronemlops import registry

SMALL = dict(min_train_images=10, min_val_images=2)
FAST = dict(imgsz=192, batch=4, workers=0, device="cpu", **SMALL)
NAME = "sample_trees_20261125_1200"

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    "A workspace holding the bundled sample as a block-split dataset version: (settings, dataset_info)."
    d = tmp_path_factory.mktemp("train")
    s = load_settings(env={}, cwd=d, workspace=str(d/"ws"))
    return s, build_sample_dataset(NAME, settings=s)

@pytest.fixture(scope="module")
def env(built): return built[0]

@pytest.fixture(scope="module")
def trained(env):
    return train(NAME, epochs=2, settings=env, run_name="two-epochs", **FAST)

def client(s): return configure_mlflow(s).MlflowClient()

def test_training_run_is_fully_tracked(trained, env):
    c = client(env)
    run = c.get_run(trained.run_id)
    assert run.info.status == "FINISHED"
    assert c.get_experiment(run.info.experiment_id).name == TRAINING_EXPERIMENT
    p = run.data.params
    assert (p["epochs"], p["imgsz"], p["batch"], p["lr0"], p["seed"], p["model"]) == ("2", "192", "4", "0.01", "0", "yolo11n.yaml")
    hist = c.get_metric_history(trained.run_id, "val_mAP50")
    assert [m.step for m in hist] == [1, 2]
    for k in ("train_box_loss", "train_cls_loss", "val_precision", "val_recall", "val_mAP50-95", "lr", "training_duration_minutes"):
        assert k in run.data.metrics, k
    assert run.data.tags["dataset.name"] == NAME and len(run.data.tags["dataset.digest"]) == 64
    assert run.data.tags.get("mlflow.source.git.commit")  # the package runs from a git checkout here
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == [NAME]
    arts = {a.path for d in ("training", "weights", "dataset", "model") for a in c.list_artifacts(trained.run_id, d)}
    for a in ("training/results.csv", "weights/best.pt", "weights/last.pt", "weights/best.onnx", "dataset/data.yaml",
              "dataset/dataset_info.json", "model/MLmodel"):
        assert a in arts, (a, sorted(arts))
    assert any(a.startswith("training/confusion_matrix") for a in arts)
    published = Path(env.workspace)/"datasets"/NAME
    assert not list(published.rglob("*.cache"))  # trained on a working copy
    assert trained.epochs_done == 2 and trained.onnx.suffix == ".onnx"

def test_pyfunc_model_loads_in_a_fresh_process(trained, env):
    img = sorted((Path(env.workspace)/"datasets"/NAME/"val"/"images").iterdir())[0]
    code = textwrap.dedent(f"""
        import base64, json, mlflow, pandas as pd
        mlflow.set_tracking_uri({env.mlflow_tracking_uri!r})
        m = mlflow.pyfunc.load_model("runs:/{trained.run_id}/model")
        b64 = base64.b64encode(open({str(img)!r}, "rb").read()).decode()
        out = m.predict(pd.DataFrame({{"image": [{str(img)!r}, b64]}}), params={{"conf": 0.0001}})
        print("RESULT", json.dumps({{"columns": list(out.columns), "images": sorted(set(out.image_index.tolist())), "n": len(out)}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=env.local_dir,
                       env={**os.environ, "DRONEMLOPS_WORKSPACE": env.workspace})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    assert out["columns"] == ["image_index", "class_id", "class_name", "score", "x1", "y1", "x2", "y2"]
    assert out["n"] > 0 and out["images"] == [0, 1]  # the path and the base64 bytes of the same image both detect

def test_evaluation_agrees_with_cocoeval_and_feeds_the_registry(trained, env, built, tmp_path):
    val = built[1]["splits"]["val"]
    e = evaluate(trained.best, NAME, split="val", imgsz=192, device="cpu", settings=env, out_dir=tmp_path/"eval", **SMALL)
    doc = json.loads(e.json_path.read_text())
    assert set(doc["metrics"]) == {"mAP50", "mAP50-95", "precision", "recall"} and all(set(v) == {"value"} for v in doc["metrics"].values())
    assert doc["split"] == "val" and doc["dataset"] == NAME and (doc["images"], doc["instances"]) == (val["images"], val["boxes"])
    assert (tmp_path/"eval"/"confusion_matrix.png").is_file() and any((tmp_path/"eval").glob("*PR_curve.png"))
    gts, preds = read_coco(tmp_path/"eval"/"ground_truth.json"), read_coco(tmp_path/"eval"/"predictions.json")  # the same predictions
    assert preds[0].score is not None and len(gts) == val["images"]
    ref = coco_map(gts, preds, {0: "Tree"})
    assert abs(ref["mAP50"] - doc["metrics"]["mAP50"]["value"]) <= 0.02
    assert abs(ref["mAP50-95"] - doc["metrics"]["mAP50-95"]["value"]) <= 0.02
    v = registry.register(trained.run_id, evaluation=doc, settings=env)
    assert registry.alias_version("challenger", settings=env) == v
    honest = gate(doc)  # two epochs from scratch on a few dozen blocks: far below the 0.3 bar, and the gate says so
    assert not honest.promote and "below the threshold 0.300" in str(honest)
    assert registry.promote(v, honest, settings=env) is False and registry.alias_version("champion", settings=env) is None
    assert registry.promote(v, gate(doc, threshold=0.0), settings=env) is True
    assert registry.alias_version("champion", settings=env) == v
    w = registry.model_weights("champion", settings=env)
    assert w.read_bytes() == trained.best.read_bytes()

def test_invalid_dataset_is_refused_before_any_compute(env, tmp_path):
    c = client(env)
    before = len(c.search_runs([e.experiment_id for e in c.search_experiments()]))
    with pytest.raises(DatasetError, match="below the minimum of 100"): train(NAME, epochs=1, settings=env, imgsz=192)
    with pytest.raises(DatasetError, match="not a published version"): train("no_such_20261125_1200", settings=env, **SMALL)
    assert len(c.search_runs([e.experiment_id for e in c.search_experiments()])) == before
    (Path(env.local_dir)/"runs"/"left-over-data").mkdir(parents=True)  # a working copy left by an earlier run of that name
    with pytest.raises(TrainingError, match=r"or its working copy\) exists"): train(NAME, epochs=1, settings=env, run_name="left-over", **FAST)

def test_crash_and_nan_end_failed_with_the_reason(env):
    def crash(trainer):
        if trainer.epoch == 1: raise RuntimeError("disk full while writing checkpoint")
    with pytest.raises(RuntimeError, match="disk full"):
        train(NAME, epochs=3, settings=env, run_name="crash", callbacks={"on_train_epoch_end": crash}, **FAST)
    def nan_loss(trainer):
        trainer.tloss = {k: v * float("nan") for k, v in trainer.tloss.items()}
    with pytest.raises(TrainingError, match="NaN"):
        train(NAME, epochs=2, settings=env, run_name="nan", callbacks={"on_train_batch_end": nan_loss}, **FAST)
    c = client(env)
    runs = {r.info.run_name: r for r in c.search_runs([c.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id])}
    assert runs["crash"].info.status == "FAILED" and "disk full while writing checkpoint" in runs["crash"].data.tags["dronemlops.end_reason"]
    assert runs["nan"].info.status == "FAILED" and "NaN" in runs["nan"].data.tags["dronemlops.end_reason"]
    assert not [r for r in runs.values() if r.info.status == "RUNNING"]

SIGINT_SCRIPT = textwrap.dedent("""
    import sys
    from dronemlops.config import load_settings
    from dronemlops.train import train
    s = load_settings(env={}, workspace=sys.argv[1], local_dir=sys.argv[2])
    def tell(trainer): print("EPOCH_DONE", trainer.epoch + 1, flush=True)
    train(sys.argv[3], epochs=3, imgsz=192, batch=4, workers=0, device="cpu", min_train_images=10, min_val_images=2,
          settings=s, run_name="interrupted", callbacks={"on_fit_epoch_end": tell}, export_onnx=False)
""")

def test_sigint_ends_killed_and_the_run_resumes(env):
    proc = subprocess.Popen([sys.executable, "-c", SIGINT_SCRIPT, env.workspace, env.local_dir, NAME], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:  # Ultralytics prints too: wait for our marker
        seen.append(line)
        if line.startswith("EPOCH_DONE 1"): break
    assert seen and seen[-1].startswith("EPOCH_DONE 1"), (seen[-5:], proc.stderr.read()[-2000:] if proc.poll() is not None else "")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    c = client(env)
    exp = c.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id
    run = next(r for r in c.search_runs([exp]) if r.info.run_name == "interrupted")
    assert run.info.status == "KILLED" and "resume with train" in run.data.tags["dronemlops.end_reason"]
    assert [m.step for m in c.get_metric_history(run.info.run_id, "val_mAP50")] == [1]  # epoch 1 was logged before the interrupt
    res = train(NAME, resume=run.info.run_id, settings=env, export_onnx=False, **SMALL)
    run = c.get_run(run.info.run_id)
    assert run.info.status == "FINISHED" and res.run_id == run.info.run_id and res.epochs_done == 3
    assert [m.step for m in c.get_metric_history(run.info.run_id, "val_mAP50")] == [1, 2, 3]  # one history across the interruption

def test_runs_go_to_a_real_mlflow_server(tmp_path, frames):
    "A configured MLflow server receives the runs (started here on 127.0.0.1, SQLite behind it, one worker)."
    from dronemlops.testing import free_port, wait_for_http
    from dronemlops.images import profile_images, recommendations
    from dronemlops.tracking import log_profile, PROFILE_EXPERIMENT
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "HOME": str(tmp_path)}
    srv = subprocess.Popen([str(Path(sys.executable).parent/"mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                            "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--artifacts-destination", str(tmp_path/"server-artifacts")],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=90, proc=srv)
        s = load_settings(env={}, cwd=tmp_path, mlflow_tracking_uri=f"http://127.0.0.1:{port}")
        df = profile_images([frames["OSBS_029.png"], frames["SOAP_061.png"]])
        run_id = log_profile(df, recommendations(df), source="two frames", settings=s)
        import mlflow
        c = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        run = c.get_run(run_id)
        assert run.data.metrics["images"] == 2.0 and c.get_experiment(run.info.experiment_id).name == PROFILE_EXPERIMENT
        assert "profile.csv" in {a.path for a in c.list_artifacts(run_id)}
        assert not (tmp_path/".dronemlops"/"mlflow.db").exists()  # nothing fell back to the local store
    finally:
        srv.terminate(); srv.wait(30)

def test_sagemaker_mlflow_arn_without_plugin_falls_back_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sagemaker_mlflow", None)  # as on a machine without the aws extra: importing it fails
    arn = "arn:aws:sagemaker:eu-west-1:000000000000:mlflow-tracking-server/team"
    s = load_settings(env={}, cwd=tmp_path, mlflow_tracking_uri=arn)
    with pytest.warns(UserWarning, match=r"sagemaker-mlflow plugin is not installed.*logged to the local store sqlite:///"):
        m = configure_mlflow(s)
    assert m.get_tracking_uri().startswith("sqlite:///") and str(tmp_path) in m.get_tracking_uri()

def test_sagemaker_mlflow_arn_with_the_plugin_is_used_as_it_is(tmp_path):
    "With the aws extra (sagemaker-mlflow) installed, the managed-MLflow ARN is the tracking URI: no fallback, no warning."
    import warnings
    arn = "arn:aws:sagemaker:eu-west-1:000000000000:mlflow-tracking-server/team2"
    s = load_settings(env={}, cwd=tmp_path, mlflow_tracking_uri=arn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        m = configure_mlflow(s)
    assert m.get_tracking_uri() == arn

def test_weights_from_s3(trained, s3_settings):
    from dronemlops.storage import S3Storage
    from dronemlops.train import resolve_model
    st = S3Storage("s3://model-drop/team", s3_settings); st.client.create_bucket(Bucket="model-drop")
    st.put_file(trained.best, "weights/best.pt")
    local = Path(resolve_model("s3://model-drop/team/weights/best.pt", s3_settings))
    assert local.is_file() and local.read_bytes() == trained.best.read_bytes() and local.is_relative_to(s3_settings.local_dir)
    with pytest.raises(TrainingError, match="Cannot fetch weights"): resolve_model("s3://model-drop/team/weights/none.pt", s3_settings)
