"SageMaker training: the entry point run in-process in a simulated /opt/ml tree (killed and resumed), its log parsed by the job's metric definitions."
import contextlib, io, json, re, shutil, pytest
from pathlib import Path
from dronemlops.config import load_settings
from dronemlops.dataset import build_sample_dataset, DatasetError
from dronemlops.tracking import configure_mlflow
from dronemlops.train import TrainingError
from dronemlops.aws.training import (sagemaker_entry, job_hyperparameters, METRIC_DEFINITIONS, LOGGED_METRICS, MODEL_FILES,
                                     CHECKPOINT_STATE, _job_settings)

NAME = "sample_trees_20261128_1200"
HPS = {"model": "starter", "epochs": 2, "imgsz": 128, "batch": 4, "workers": 0}
SMALL = {"DRONEMLOPS_MIN_TRAIN_IMAGES": "10", "DRONEMLOPS_MIN_VAL_IMAGES": "2"}  # the sample has 3 frames: below the guide's minimums

@pytest.fixture(scope="module")
def published(tmp_path_factory):
    "The bundled sample, published as a dataset version in a local workspace: its folder."
    d = tmp_path_factory.mktemp("ws")
    build_sample_dataset(NAME, settings=load_settings(env={}, cwd=d, workspace=str(d/"ws")))
    return d/"ws"/"datasets"/NAME

def new_container(opt_ml:Path, published:Path, hps:dict=HPS, **env) -> dict:
    "What a (re)started SageMaker job sees: the channel downloaded afresh, empty model and output folders, the checkpoint folder as S3 left it."
    for d in opt_ml.iterdir() if opt_ml.exists() else []:
        if d.name != "checkpoints": shutil.rmtree(d)
    shutil.copytree(published, opt_ml/"input"/"data"/"train")
    return {"SM_CHANNEL_TRAIN": str(opt_ml/"input"/"data"/"train"), "SM_MODEL_DIR": str(opt_ml/"model"),
            "SM_OUTPUT_DATA_DIR": str(opt_ml/"output"/"data"), "SM_HPS": json.dumps(hps), "TRAINING_JOB_NAME": "survey-team-train-1", **SMALL, **env}

class SpotInterruption(Exception): "The instance is taken back."

@pytest.fixture(scope="module")
def interrupted_then_resumed(published, tmp_path_factory):
    "A job stopped after epoch 1, then restarted on a new container: (opt_ml, env, first summary-less log, second log, summary)."
    opt_ml = tmp_path_factory.mktemp("job")/"opt"/"ml"
    env = new_container(opt_ml, published)
    def interrupt(trainer):
        if trainer.epoch == 0: raise SpotInterruption("instance reclaimed after epoch 1")
    out1, out2 = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out1), pytest.raises(SpotInterruption):
        sagemaker_entry([], env=env, root=opt_ml, callbacks={"on_fit_epoch_end": interrupt})
    state = json.loads((opt_ml/"checkpoints"/CHECKPOINT_STATE).read_text())
    # the killed container never closed its MLflow run: put it back to RUNNING, as a reclaimed instance leaves it
    client = configure_mlflow(_job_settings(opt_ml, env, opt_ml/"checkpoints", opt_ml/"output"/"data")).MlflowClient()
    run = client.search_runs([client.get_experiment_by_name("drone-detection-training").experiment_id])[0]
    client.update_run(run.info.run_id, status="RUNNING")
    env = new_container(opt_ml, published)
    assert not (opt_ml/"dronemlops").exists() and not (opt_ml/"model").exists()  # nothing but the checkpoints survived
    with contextlib.redirect_stdout(out2):
        summary = sagemaker_entry([], env=env, root=opt_ml)
    return dict(opt_ml=opt_ml, env=env, state=state, log1=out1.getvalue(), log2=out2.getvalue(), summary=summary, client=client, run_id=run.info.run_id)

def test_interrupted_job_resumes_from_its_checkpoint(interrupted_then_resumed):
    r = interrupted_then_resumed
    assert (r["state"]["epoch"], r["state"]["epochs"], r["state"]["dataset"]) == (1, 2, NAME)
    s = r["summary"]
    assert (s["resumed_from_epoch"], s["epochs_done"], s["run_id"], s["dataset"]) == (1, 2, r["run_id"], NAME)
    assert f"resuming MLflow run {r['run_id']} from the checkpoint of epoch 1/2" in r["log2"]
    run = r["client"].get_run(r["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["dronemlops.resumed"] == "true"
    assert run.data.tags["dataset.name"] == NAME
    assert [m.step for m in r["client"].get_metric_history(r["run_id"], "val_mAP50")] == [1, 2]  # one run, epoch 1 then 2
    assert re.findall(r"epoch=(\d+) ", r["log1"]) == ["1"] and re.findall(r"epoch=(\d+) ", r["log2"]) == ["2"]

def test_model_dir_holds_exactly_the_model_files(interrupted_then_resumed):
    r = interrupted_then_resumed
    model = r["opt_ml"]/"model"
    assert sorted(p.name for p in model.iterdir()) == sorted(MODEL_FILES) == r["summary"]["files"]
    card = json.loads((model/"card.json").read_text())
    ev = json.loads((model/"evaluation.json").read_text())
    assert (card["training_run"], card["data"]["dataset"], card["recipe"]["epochs"]) == (r["run_id"], NAME, 2)
    assert card["metrics"]["mAP50"] == ev["metrics"]["mAP50"]["value"] and ev["split"] == "val"
    assert {f["file"] for f in card["files"].values()} == {"model.pt", "model.onnx"}
    assert (model/"README.md").read_text().startswith(f"# Model card: {NAME}-yolo11")
    assert (r["opt_ml"]/"output"/"data"/"evaluation"/"predictions.json").is_file()  # the evaluation's details go to output.tar.gz

def test_real_log_lines_parse_into_the_run_metrics(interrupted_then_resumed):
    "SageMaker applies each metric definition to each log line: the values are those MLflow holds for every epoch."
    r = interrupted_then_resumed
    parsed = {}
    for line in (r["log1"] + r["log2"]).splitlines():
        if (e := re.search(r"epoch=(\d+) ", line)):
            parsed[int(e.group(1))] = {n: float(m.group(1)) for n, rx in METRIC_DEFINITIONS.items() if (m := re.search(rx, line))}
    assert sorted(parsed) == [1, 2]
    for n in LOGGED_METRICS:
        hist = {m.step: m.value for m in r["client"].get_metric_history(r["run_id"], n)}
        assert {e: parsed[e][n] for e in parsed} == hist, n
    assert 0 < parsed[2]["val_mAP50"] <= 1

def test_a_channel_that_is_not_a_published_version_is_refused(published, tmp_path):
    opt_ml = tmp_path/"opt"/"ml"
    env = new_container(opt_ml, published)
    (opt_ml/"input"/"data"/"train"/"_PUBLISHED.json").unlink()
    with pytest.raises(TrainingError, match="SM_CHANNEL_TRAIN\\) is not a published dataset version: it has no _PUBLISHED.json"):
        sagemaker_entry([], env=env, root=opt_ml)
    assert list((opt_ml/"checkpoints").iterdir()) == [] and list((opt_ml/"model").iterdir()) == []
    with pytest.raises(TrainingError, match="SM_CHANNEL_TRAIN is not set"): sagemaker_entry([], env={}, root=opt_ml)

def test_an_invalid_dataset_is_refused_before_training(published, tmp_path):
    opt_ml = tmp_path/"opt"/"ml"
    env = new_container(opt_ml, published, DRONEMLOPS_MIN_TRAIN_IMAGES="100")  # the guide's minimum: the sample is too small
    with pytest.raises(DatasetError, match="below the minimum of 100"): sagemaker_entry([], env=env, root=opt_ml)
    assert not (opt_ml/"checkpoints"/CHECKPOINT_STATE).exists() and list((opt_ml/"model").iterdir()) == []

def test_hyperparameters_are_typed_and_wrong_ones_refused():
    assert job_hyperparameters(["--epochs", "3", "--flipud", "0.5"], env={"SM_HPS": '{"lr0": 1, "model": "starter"}'}) == \
        {"epochs": 3, "flipud": 0.5, "lr0": 1.0, "model": "starter"}
    with pytest.raises(TrainingError, match="Hyperparameter imgsz=True must be int"): job_hyperparameters([], env={"SM_HPS": '{"imgsz": true}'})
    with pytest.raises(TrainingError, match="Unexpected argument .3. without a value"): job_hyperparameters(["3"], env={})
