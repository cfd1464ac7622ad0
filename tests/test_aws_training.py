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
    # servable as it is: SageMaker's inference container runs code/inference.py, whose model_fn takes the job's own model.pt
    from dronemlops.serve import INFERENCE_PY, model_fn
    assert (model/"code"/"inference.py").read_text() == INFERENCE_PY and (model/"code"/"dronemlops"/"serve.py").is_file()
    assert not (model/"code"/"dronemlops"/"weights").exists()
    assert model_fn(model).path == model/"model.pt"

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

def test_a_job_stopped_after_training_only_packages_on_restart(published, tmp_path):
    "Interrupted while evaluating/packaging: the restarted job does not train again; it packages the checkpointed best weights."
    opt_ml = tmp_path/"opt"/"ml"
    env = new_container(opt_ml, published, hps={**HPS, "epochs": 1})
    def interrupt(trainer): raise SpotInterruption("instance reclaimed while packaging")
    with pytest.raises(SpotInterruption): sagemaker_entry([], env=env, root=opt_ml, echo=lambda *_: None, callbacks={"on_train_end": interrupt})
    assert json.loads((opt_ml/"checkpoints"/CHECKPOINT_STATE).read_text())["finished"] is True
    client = configure_mlflow(_job_settings(opt_ml, env, opt_ml/"checkpoints", opt_ml/"output"/"data")).MlflowClient()
    run_id = client.search_runs([client.get_experiment_by_name("drone-detection-training").experiment_id])[0].info.run_id
    client.update_run(run_id, status="RUNNING")  # the reclaimed instance left it open
    env, log = new_container(opt_ml, published, hps={**HPS, "epochs": 1}), []
    s = sagemaker_entry([], env=env, root=opt_ml, echo=log.append)
    assert log == [f"MLflow run {run_id} had finished training (1 epochs): packaging its model"]  # no epoch line: nothing trained again
    assert (s["run_id"], s["epochs_done"], s["resumed_from_epoch"], s["files"]) == (run_id, 1, 1, sorted(MODEL_FILES))
    assert client.get_run(run_id).info.status == "FINISHED"

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

# --- submitting on the moto server ---------------------------------------------------------------------------------
import time, uuid, boto3
from dronemlops.aws.core import AWSError, AWSRequests
from dronemlops.aws.training import submit_training, follow_training, job_log_lines, LOG_GROUP

ROLE = "arn:aws:iam::123456789012:role/survey-team-sagemaker-execution"

@pytest.fixture
def sm_settings(aws_env, tmp_path, monkeypatch):
    "An s3:// workspace on the moto server, with a SageMaker role, and the sample published in it."
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    bucket = f"survey-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    s = load_settings(env={}, cwd=tmp_path, aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], workspace=f"s3://{bucket}/team",
                      project="survey-team", sagemaker_role_arn=ROLE, local_dir=str(tmp_path/"local"))
    build_sample_dataset(NAME, settings=s)
    return s

def jobs(s): return {j["TrainingJobName"] for j in AWSRequests(s)("sagemaker", "ListTrainingJobs", MaxResults=100)["TrainingJobSummaries"]}

def test_submitted_job_has_the_expected_fields(sm_settings):
    s, printed, req = sm_settings, [], AWSRequests(sm_settings)
    before = jobs(s)
    out = submit_training(NAME, settings=s, epochs=30, imgsz=416, batch=8, lr0=0.002, model="starter", instance_type="ml.g5.xlarge",
                          use_spot=True, wait=True, poll_s=0, echo=printed.append, requests=req)
    name = out["job_name"]
    assert jobs(s) - before == {name} and name.startswith("survey-team-train-")
    d = req("sagemaker", "DescribeTrainingJob", TrainingJobName=name)
    assert d["AlgorithmSpecification"]["TrainingImage"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8-gpu-py312"
    assert (d["ResourceConfig"]["InstanceType"], d["ResourceConfig"]["InstanceCount"], d["EnableManagedSpotTraining"]) == ("ml.g5.xlarge", 1, True)
    assert d["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800}
    bucket = s.workspace[5:].split("/")[0]
    assert d["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert d["CheckpointConfig"]["S3Uri"].startswith(f"s3://{bucket}/survey-team/sagemaker/checkpoints/survey-team-train/")
    assert d["HyperParameters"] == {"model": "starter", "epochs": "30", "imgsz": "416", "batch": "8", "lr0": "0.002"}
    assert d["RoleArn"] == ROLE and d["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/survey-team/sagemaker/training"
    train_ch = [c for c in d["InputDataConfig"] if c["ChannelName"] == "train"][0]
    assert train_ch["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{bucket}/team/datasets/{NAME}/"
    assert req("sagemaker", "ListTags", ResourceArn=d["TrainingJobArn"])["Tags"] == [{"Key": "dronemlops:project", "Value": "survey-team"}]
    sent = [p for _, op, p in req.sent if op == "CreateTrainingJob"][0]  # moto answers these two with canned values: check what was sent
    assert {m["Name"]: m["Regex"] for m in sent["AlgorithmSpecification"]["MetricDefinitions"]} == METRIC_DEFINITIONS
    assert sent["Environment"]["DRONEMLOPS_PROJECT"] == "survey-team"
    assert (out["status"], out["model_artifacts"]) == ("Completed", d["ModelArtifacts"]["S3ModelArtifacts"])
    assert printed[0] == f"submitted training job {name} on s3://{bucket}/team/datasets/{NAME} (ml.g5.xlarge, spot)"
    assert printed[-1] == f"{name}: Completed (Completed)"

def test_no_wait_returns_after_submitting_on_demand(sm_settings):
    out = submit_training(f"{sm_settings.workspace}/datasets/{NAME}", settings=sm_settings, use_spot=False, instance_type="ml.c5.2xlarge",
                          wait=False, echo=lambda *_: None)
    d = AWSRequests(sm_settings)("sagemaker", "DescribeTrainingJob", TrainingJobName=out["job_name"])
    assert d["EnableManagedSpotTraining"] is False and "MaxWaitTimeInSeconds" not in d["StoppingCondition"]
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("pytorch-training:2.8-cpu-py312")

def test_what_is_not_a_published_version_is_refused_before_any_job(sm_settings, tmp_path):
    s = sm_settings
    st = boto3.client("s3")
    bucket = s.workspace[5:].split("/")[0]
    st.put_object(Bucket=bucket, Key="team/datasets/half_20261128_1200/data.yaml", Body=b"names: [Tree]\n")  # an upload that never finished: no manifest
    before = jobs(s)
    for dataset, msg in [("no_such_20261128_1200", f"s3://{bucket}/team/datasets/no_such_20261128_1200 is not a published dataset version"),
                         ("half_20261128_1200", "half_20261128_1200 is not a published dataset version (no _PUBLISHED.json)"),
                         (f"s3://{bucket}/team/datasets/half_20261128_1200", "is not a published dataset version"),
                         ("datasets/a/b", "SageMaker trains on a dataset version in S3")]:
        with pytest.raises(AWSError, match=re.escape(msg)): submit_training(dataset, settings=s, echo=lambda *_: None)
    local = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"), sagemaker_role_arn=ROLE, sagemaker_bucket=bucket)
    with pytest.raises(AWSError, match="SageMaker trains on a dataset version in S3: 'x' is not one"): submit_training("x", settings=local)
    with pytest.raises(TrainingError, match="imgsz must be a multiple of 32"): submit_training(NAME, settings=s, imgsz=100)
    with pytest.raises(TrainingError, match="epochs must be a whole number of at least 1"): submit_training(NAME, settings=s, epochs=0)
    with pytest.raises(TrainingError, match="is a file on this machine"): submit_training(NAME, settings=s, model="best.pt")
    with pytest.raises(TrainingError, match="patience must be a whole number"): submit_training(NAME, settings=s, hyperparameters={"patience": "x"})
    no_role = load_settings(env={}, cwd=tmp_path, workspace=s.workspace, aws_endpoint_url=s.aws_endpoint_url)
    with pytest.raises(AWSError, match="No SageMaker execution role: set sagemaker_role_arn"): submit_training(NAME, settings=no_role)
    assert jobs(s) == before

def test_following_prints_new_log_lines_once(sm_settings):
    s = sm_settings
    out = submit_training(NAME, settings=s, wait=False, echo=lambda *_: None)
    req, stream = AWSRequests(s), f"{out['job_name']}/algo-1-1764300000"
    assert job_log_lines(req, out["job_name"], {}) == []  # no log group at all: nothing, not an error
    req("logs", "CreateLogGroup", logGroupName=LOG_GROUP)
    req("logs", "CreateLogStream", logGroupName=LOG_GROUP, logStreamName=stream)
    line = "epoch=1 train_box_loss=3.2 val_mAP50=0.25 val_mAP50-95=0.08 val_precision=0.3 val_recall=0.29"
    req("logs", "PutLogEvents", logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[{"timestamp": int(time.time() * 1000), "message": line}])
    tokens, printed = {}, []
    assert job_log_lines(req, out["job_name"], tokens) == [line] and job_log_lines(req, out["job_name"], tokens) == []
    assert follow_training(out["job_name"], s, poll_s=0, echo=printed.append)["status"] == "Completed"
    assert printed == [line, f"{out['job_name']}: Completed (Completed)"]
    with pytest.raises(AWSError, match="DescribeTrainingJob \\(TrainingJobName 'nope'\\): ValidationException"): follow_training("nope", s, poll_s=0)

# --- the script itself, as SageMaker runs it --------------------------------------------------------------------------
import os, signal, subprocess, sys
from dronemlops.aws.training import training_source_dir, ENTRY_SCRIPT

def test_the_script_killed_by_the_system_resumes(published, tmp_path):
    "sagemaker_train.py from the staged source_dir, run as SageMaker runs it (`python <script> --name value ...`), SIGKILLed after its epoch-1 checkpoint, run again."
    code = training_source_dir(tmp_path/"code")
    opt_ml = tmp_path/"opt"/"ml"
    args = ["--model", "starter", "--epochs", "2", "--imgsz", "64", "--batch", "8", "--workers", "0"]
    def run_script(env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DRONEMLOPS_", "SM_", "PYTHONPATH"))}
        return subprocess.Popen([sys.executable, ENTRY_SCRIPT, *args], cwd=code, env={**clean, **{k: v for k, v in env.items() if k != "SM_HPS"}},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p = run_script(new_container(opt_ml, published))
    state = opt_ml/"checkpoints"/CHECKPOINT_STATE
    deadline = time.time() + 300
    while not state.is_file() and p.poll() is None and time.time() < deadline: time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)  # what a reclaimed spot instance does to the job: no handler runs
    out1 = p.communicate()[0]
    assert p.returncode == -signal.SIGKILL and json.loads(state.read_text())["epoch"] == 1, out1[-3000:]
    p = run_script(new_container(opt_ml, published))
    out2 = p.communicate(timeout=600)[0]
    assert p.returncode == 0, out2[-3000:]
    assert re.search(r"resuming MLflow run \w+ from the checkpoint of epoch 1/2", out2) and re.findall(r"epoch=(\d+) ", out2) == ["2"]
    assert sorted(q.name for q in (opt_ml/"model").iterdir()) == sorted(MODEL_FILES)

def test_the_train_verb_submits_on_sagemaker(sm_settings, monkeypatch, capsys):
    "`dronemlops train DATASET --on sagemaker`: the CLI's options reach the job (instance, spot, epochs, patience), and the job is followed to its end."
    from dronemlops.cli import main
    s = sm_settings
    for k in ("aws_endpoint_url", "project", "sagemaker_role_arn", "local_dir"): monkeypatch.setenv(f"DRONEMLOPS_{k.upper()}", str(getattr(s, k)))
    before = jobs(s)
    rc = main(["train", NAME, "--on", "sagemaker", "--model", "starter", "--epochs", "7", "--patience", "3", "--instance-type", "ml.c5.2xlarge",
               "--spot", "false", "--min-train", "10", "--min-val", "2", "--workspace", s.workspace])
    text = capsys.readouterr().out  # the job's progress lines, then its summary as JSON
    out = json.loads(text[text.index("{\n"):])
    (name,) = jobs(s) - before
    d = AWSRequests(s)("sagemaker", "DescribeTrainingJob", TrainingJobName=name)
    assert (rc, out["job_name"], out["status"]) == (0, name, "Completed")
    assert (d["ResourceConfig"]["InstanceType"], d["EnableManagedSpotTraining"]) == ("ml.c5.2xlarge", False)
    assert (d["HyperParameters"]["epochs"], d["HyperParameters"]["patience"], d["HyperParameters"]["model"], d["HyperParameters"]["workers"]) == ("7", "3", "starter", "2")
    assert main(["train", NAME, "--on", "laptop"]) == 2
    assert main(["train", NAME, "--on", "sagemaker", "--resume", "abc"]) == 2  # a job resumes from its own checkpoints
