"The pipeline on both engines: the local engine end to end on the sample (both branches of the condition), the container steps in a simulated /opt/ml/processing tree, and the SageMaker Pipeline's definition, upsert, start and status on a moto server."
import json, re, tarfile, uuid, pytest
from pathlib import Path
from dronemlops.config import load_settings
from dronemlops.dataset import build_sample_dataset
from dronemlops.evaluate import evaluate, load_evaluation
from dronemlops.registry import gate
from dronemlops.storage import open_storage
from dronemlops import registry
from dronemlops.aws.core import AWSError, aws_client
from dronemlops.aws.pipeline import (PIPELINE_PARAMETERS, STEPS, CONDITIONS, PipelineError, pipeline_parameters, parse_parameters,
                                     run_local, check_condition, fail_reason, fail_parts, json_get, step_main, pipeline_definition,
                                     upsert_pipeline, start_pipeline, pipeline_status, pipeline_cmd, pipeline_name, unpack_weights,
                                     approved_package_weights, upserted_spot, GATE_TOLERANCE)

NAME = "sample_trees_20261128_1300"
SMALL = dict(min_train_images=10, min_val_images=2)  # the sample is tiny: lowered minimums, as in the end-to-end workflow
TINY = dict(DatasetPath=NAME, Epochs=1, ImageSize=128, BatchSize=4)
ROLE = "arn:aws:iam::123456789012:role/x"

# --- parameters: one table, refused by type on both engines ---

def test_wrong_types_are_refused_naming_the_parameter():
    for bad, needle in [(dict(Epochs="ten"), "Pipeline parameter Epochs must be a whole number (int), got 'ten'"),
                        (dict(UseSpot="maybe"), "Pipeline parameter UseSpot must be true or false (bool), got 'maybe'"),
                        (dict(ImageSize=640.0), "ImageSize must be a whole number"), (dict(BatchSize=True), "BatchSize must be a whole number"),
                        (dict(LearningRate="0.01"), "LearningRate must be a number (float)"), (dict(DatasetPath=3), "DatasetPath must be text"),
                        (dict(Epoch=3), "Unknown pipeline parameter 'Epoch' (did you mean 'Epochs'?)")]:
        with pytest.raises(PipelineError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")): pipeline_parameters(**bad)
    with pytest.raises(PipelineError, match="Epochs .--epochs. must be a whole number"): parse_parameters({"Epochs": "ten"})
    with pytest.raises(PipelineError, match="UseSpot .--spot. must be true or false"): parse_parameters({"UseSpot": "maybe"})
    p = parse_parameters({"Epochs": "3", "UseSpot": "no", "PerformanceThreshold": "1"})
    assert (p["Epochs"], p["UseSpot"], p["PerformanceThreshold"], p["ModelVariant"]) == (3, False, 1.0, "starter")
    assert [q.name for q in PIPELINE_PARAMETERS] == ["DatasetPath", "ModelVariant", "ImageSize", "BatchSize", "Epochs", "LearningRate",
                                                     "InstanceType", "UseSpot", "PerformanceThreshold"]
    assert pipeline_parameters()["PerformanceThreshold"] == 0.3

def test_every_parameter_has_its_cli_option():
    import inspect
    opts = inspect.signature(pipeline_cmd).parameters
    assert all(q.option in opts for q in PIPELINE_PARAMETERS)

def test_json_get_and_the_condition_agree_with_gate():
    for c, ch in [(0.5, None), (0.2, None), (0.61, 0.62), (0.59, 0.62), (0.7, 0.62)]:
        doc = {"metrics": {"mAP50": {"value": c}}, "dataset": "d", "split": "val"}
        champ = None if ch is None else {"metrics": {"mAP50": {"value": ch}}, "dataset": "d", "split": "val"}
        d = gate(doc, champ, threshold=0.3)
        doc["approved"] = {"floor": {"value": 0.0 if ch is None else ch - GATE_TOLERANCE}}
        assert all(x["holds"] for x in check_condition(doc, pipeline_parameters())) == d.promote, (c, ch)
    assert json_get({"a": [{"b": 1}, {"b": 2}]}, "a[1].b") == 2
    with pytest.raises(PipelineError, match="evaluation.json has no 'metrics.mAP50.value'"): json_get({"metrics": {}}, "metrics.mAP50.value")

# --- the local engine, end to end on the sample ---

@pytest.fixture(scope="module")
def local(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    s = load_settings(env={}, cwd=d, workspace=str(d/"ws"), project="pipeline-test")
    build_sample_dataset(NAME, settings=s)
    return s

def _run(s, threshold):
    return run_local(dict(TINY, PerformanceThreshold=threshold), s, device="cpu", workers=0, **SMALL)

@pytest.fixture(scope="module")
def registered(local):
    "A local run with the threshold at 0 and no approved model: it must register."
    return _run(local, 0.0)

def _evaluation(s, rec):
    return json.loads((Path(s.workspace)/"pipelines"/rec["PipelineExecutionId"]/"evaluation.json").read_text())

def test_local_run_registers_when_the_condition_holds(local, registered):
    rec = registered
    assert [st["StepName"] for st in rec["Steps"]] == ["DataValidation", "Training", "Evaluation", "CheckEvaluation", "RegisterModel"]
    assert all(st["StepStatus"] == "Succeeded" for st in rec["Steps"]) and rec["PipelineExecutionStatus"] == "Succeeded"
    assert [st["StepName"] for st in rec["Steps"]] == [n for n in STEPS if n != "Fail"]
    assert rec["Parameters"]["Epochs"] == 1 and rec["Parameters"]["ImageSize"] == 128
    doc = _evaluation(local, rec)
    assert 0.0 <= doc["metrics"]["mAP50"]["value"] <= 1.0 and doc["split"] == "val" and doc["dataset"] == NAME
    assert doc["approved"] == {"model": None, "mAP50": {"value": None}, "floor": {"value": 0.0}}
    check = rec["Steps"][3]["Outputs"]
    assert check["outcome"] is gate(doc, None, threshold=0.0).promote is True
    assert [(c["left"], c["right"]) for c in check["conditions"]] == list(CONDITIONS)
    assert check["conditions"][0]["left_value"] == doc["metrics"]["mAP50"]["value"]
    version = rec["Steps"][4]["Outputs"]["version"]
    assert registry.alias_version("challenger", settings=local) == version
    assert registry.alias_version("champion", settings=local) is None  # registered means awaiting approval, not promoted
    stored = json.loads((Path(local.workspace)/"pipelines"/rec["PipelineExecutionId"]/"execution.json").read_text())
    assert stored["Steps"][4]["Outputs"]["version"] == version and stored["ExecutionRecord"].endswith("execution.json")
    tr = rec["Steps"][1]["Outputs"]
    assert Path(tr["best"]).is_file() and tr["epochs"] == 1

def test_local_run_fails_with_the_reason_below_the_threshold_and_compares_with_the_approved_model(local, registered):
    from dronemlops.train import starter_weights
    from dronemlops.validate import load_dataset
    starter_doc = load_evaluation(evaluate(starter_weights(), NAME, imgsz=128, device="cpu", settings=local, **SMALL).json_path)
    v = registry.register_weights(starter_weights(), load_dataset(NAME, settings=local, **SMALL), evaluation=starter_doc, settings=local)
    assert registry.promote(v, gate(starter_doc, None, threshold=0.0), settings=local)
    versions = len(registry.versions_table(settings=local))
    rec = _run(local, 1.01)
    assert [st["StepName"] for st in rec["Steps"]] == ["DataValidation", "Training", "Evaluation", "CheckEvaluation", "Fail"]
    assert (rec["PipelineExecutionStatus"], rec["Steps"][-1]["StepStatus"]) == ("Failed", "Failed")
    doc = _evaluation(local, rec)
    p = pipeline_parameters(**TINY, PerformanceThreshold=1.01)
    assert rec["FailureReason"] == rec["Steps"][-1]["FailureReason"] == fail_reason(doc, p)
    assert rec["FailureReason"].startswith(f"Model not registered: validation mAP50 {doc['metrics']['mAP50']['value']} must be at least PerformanceThreshold 1.01")
    # the approved model (the champion) was evaluated on the same split in the same step
    assert doc["approved"]["model"] and doc["approved"]["mAP50"]["value"] == pytest.approx(starter_doc["metrics"]["mAP50"]["value"], abs=1e-9)
    assert doc["approved"]["floor"]["value"] == pytest.approx(doc["approved"]["mAP50"]["value"] - GATE_TOLERANCE)
    decision = gate(doc, starter_doc, threshold=1.01)
    assert rec["Steps"][3]["Outputs"]["outcome"] is decision.promote is False
    assert doc["gate"]["promote"] is False and doc["gate"]["reasons"][0] == decision.reasons[0]
    assert len(registry.versions_table(settings=local)) == versions  # nothing new registered

def test_local_run_stops_at_validation_and_refuses_bad_parameters(local, capsys):
    rec = run_local(dict(TINY), local)  # the hand-off guide's minimums: the sample is too small
    assert [st["StepName"] for st in rec["Steps"]] == ["DataValidation"] and rec["PipelineExecutionStatus"] == "Failed"
    assert rec["FailureReason"].startswith(f"DataValidation: dataset {NAME} is not valid")
    with pytest.raises(PipelineError, match="Epochs must be a whole number"): run_local(dict(TINY, Epochs="ten"), local)
    with pytest.raises(PipelineError, match="DatasetPath is required"): run_local({}, local)
    assert pipeline_cmd("run", local=True, dataset=NAME, epochs="1", imgsz="128", workspace=local.workspace) == 1
    assert json.loads(capsys.readouterr().out)["Steps"][0]["StepStatus"] == "Failed"
    with pytest.raises(PipelineError, match=r"Epochs \(--epochs\) must be a whole number"): pipeline_cmd("run", local=True, dataset=NAME, epochs="ten")
    with pytest.raises(PipelineError, match="add --local"): pipeline_cmd("run", dataset=NAME)
    with pytest.raises(PipelineError, match="Unknown pipeline action 'launch'"): pipeline_cmd("launch")
    with pytest.raises(PipelineError, match="--local is for `pipeline run`"): pipeline_cmd("status", local=True)

# --- the processing containers' steps, in a simulated /opt/ml/processing tree ---

def test_container_steps(local, registered, aws_env, tmp_path, monkeypatch):
    from dronemlops.serve import model_archive
    from dronemlops.train import starter_weights
    from dronemlops.aws.deploy import package_group
    project = f"p{uuid.uuid4().hex[:10]}"
    for k, v in dict(DRONEMLOPS_PROJECT=project, DRONEMLOPS_AWS_ENDPOINT_URL=aws_env["AWS_ENDPOINT_URL"], DRONEMLOPS_WORKSPACE=str(tmp_path/"ws"),
                     DRONEMLOPS_MIN_TRAIN_IMAGES="10", DRONEMLOPS_MIN_VAL_IMAGES="2").items(): monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    proc, dataset = tmp_path/"processing", Path(local.workspace)/"datasets"/NAME
    step_main(["validate", "--dataset", str(dataset), "--out", str(proc/"validation")])
    assert json.loads((proc/"validation"/"validation.json").read_text())["valid"] is True
    (proc/"model").mkdir(parents=True)
    with tarfile.open(proc/"model"/"model.tar.gz", "w:gz") as t: t.add(registered["Steps"][1]["Outputs"]["best"], "best.pt")
    args = ["evaluate", "--dataset", str(dataset), "--model", str(proc/"model"), "--out", str(proc/"evaluation"), "--threshold", "0.0",
            "--imgsz", "128", "--work", str(tmp_path/"approved")]
    step_main(args)  # nothing approved in this project's group yet
    doc = json.loads((proc/"evaluation"/"evaluation.json").read_text())
    assert doc["approved"]["model"] is None and doc["approved"]["floor"]["value"] == 0.0 and doc["gate"]["promote"] is True
    # approve a package holding the starter: the evaluation container finds it, and compares on the same split
    s = load_settings(env={}, cwd=tmp_path, aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], project=project)
    s3, sm = aws_client("s3", s), aws_client("sagemaker", s)
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(model_archive(starter_weights(), tmp_path/"starter.tar.gz")), bucket, "approved/model.tar.gz")
    sm.create_model_package_group(ModelPackageGroupName=package_group(s))
    arn = sm.create_model_package(ModelPackageGroupName=package_group(s), ModelApprovalStatus="Approved", InferenceSpecification={
        "Containers": [{"Image": "img", "ModelDataUrl": f"s3://{bucket}/approved/model.tar.gz"}], "SupportedContentTypes": ["image/jpeg"],
        "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]
    assert approved_package_weights(tmp_path/"check", s).name == starter_weights().name
    step_main(args)
    doc = json.loads((proc/"evaluation"/"evaluation.json").read_text())
    starter = load_evaluation(evaluate(starter_weights(), dataset, imgsz=128, settings=local, out_dir=tmp_path/"ref", **SMALL).json_path)
    assert doc["approved"]["mAP50"]["value"] == pytest.approx(starter["metrics"]["mAP50"]["value"], abs=1e-9)
    assert all(x["holds"] for x in check_condition(doc, pipeline_parameters(PerformanceThreshold=0.0))) == doc["gate"]["promote"]
    assert arn
    with pytest.raises(SystemExit): step_main(["evaluate", "--dataset", str(dataset), "--model", str(tmp_path/"empty"), "--out", str(proc/"e2"),
                                               "--threshold", "0.3", "--imgsz", "128"])
    with pytest.raises(SystemExit): step_main(["train"])

def test_unpack_weights_refuses_a_folder_without_weights(tmp_path):
    with pytest.raises(PipelineError, match="holds no .pt weights"): unpack_weights(tmp_path)

# --- the SageMaker Pipeline on moto ---

@pytest.fixture
def sm(aws_env, tmp_path, monkeypatch):
    "Settings for a fresh project on the moto server, with a role and an existing bucket."
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    bucket = f"sm-{uuid.uuid4().hex[:12]}"
    s = load_settings(env={}, cwd=tmp_path, workspace=f"s3://{bucket}/ws", local_dir=str(tmp_path/"local"), project=f"p{uuid.uuid4().hex[:10]}",
                      aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], sagemaker_bucket=bucket, sagemaker_role_arn=ROLE)
    aws_client("s3", s).create_bucket(Bucket=bucket)
    return s

@pytest.fixture
def definition(sm): return pipeline_definition(sm)

def _steps(steps):
    for st in steps:
        yield st
        yield from _steps(st.get("Arguments", {}).get("IfSteps", [])); yield from _steps(st.get("Arguments", {}).get("ElseSteps", []))

def test_definition_steps_dependencies_and_parameters(definition, sm):
    by = {st["Name"]: st for st in _steps(definition["Steps"])}
    assert list(by) == list(STEPS)
    assert [st["Name"] for st in definition["Steps"]] == ["DataValidation", "Training", "Evaluation", "CheckEvaluation"]
    assert {n: st["Type"] for n, st in by.items()} == {"DataValidation": "Processing", "Training": "Training", "Evaluation": "Processing",
                                                     "CheckEvaluation": "Condition", "RegisterModel": "RegisterModel", "Fail": "Fail"}
    assert definition["Parameters"] == [{"Name": p.name, "Type": {str: "String", int: "Integer", float: "Float", bool: "Boolean"}[p.type],
                                         **({"DefaultValue": p.default} if p.default is not None else {})} for p in PIPELINE_PARAMETERS]
    assert by["Training"]["DependsOn"] == ["DataValidation"]
    ev_inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in by["Evaluation"]["Arguments"]["ProcessingInputs"]}
    assert ev_inputs["model"] == {"Get": "Steps.Training.ModelArtifacts.S3ModelArtifacts"} and ev_inputs["dataset"] == {"Get": "Parameters.DatasetPath"}
    val_inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in by["DataValidation"]["Arguments"]["ProcessingInputs"]}
    assert val_inputs["dataset"] == {"Get": "Parameters.DatasetPath"}
    assert by["DataValidation"]["Arguments"]["AppSpecification"]["ContainerArguments"][0] == "validate"
    assert by["Evaluation"]["Arguments"]["AppSpecification"]["ContainerArguments"][0] == "evaluate"
    assert by["Evaluation"]["PropertyFiles"] == [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}]
    env = by["Evaluation"]["Arguments"]["Environment"]
    assert env["DRONEMLOPS_PROJECT"] == sm.project and env["DRONEMLOPS_AWS_REGION"] == "us-east-1"
    tr = by["Training"]["Arguments"]
    assert tr["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.InstanceType"}
    assert tr["EnableManagedSpotTraining"] is True and tr["StoppingCondition"]["MaxWaitTimeInSeconds"] == 48*3600  # spot: the default choice
    assert tr["HyperParameters"]["model"] == {"Get": "Parameters.ModelVariant"}
    assert tr["HyperParameters"]["epochs"] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Epochs"}]}}
    assert definition and pipeline_name(sm) == f"{sm.project}-pipeline"

def _spot(d):
    tr = next(st for st in d["Steps"] if st["Name"] == "Training")["Arguments"]
    return tr["EnableManagedSpotTraining"], tr["StoppingCondition"], next(q["DefaultValue"] for q in d["Parameters"] if q["Name"] == "UseSpot")

def test_spot_is_fixed_when_the_definition_is_built(sm):
    on_demand = pipeline_definition(sm, use_spot=False)
    enabled, stop, default = _spot(on_demand)
    assert enabled is False and "MaxWaitTimeInSeconds" not in stop and stop["MaxRuntimeInSeconds"] == 24*3600 and default is False
    enabled, stop, default = _spot(pipeline_definition(sm, use_spot=True))
    assert enabled is True and stop == {"MaxRuntimeInSeconds": 24*3600, "MaxWaitTimeInSeconds": 48*3600} and default is True
    assert "Parameters.UseSpot" not in json.dumps(on_demand["Steps"])  # no step reads it: SageMaker could not drop MaxWait at run time
    with pytest.raises(PipelineError, match="use_spot must be True or False"): pipeline_definition(sm, use_spot="false")

def test_upsert_into_a_missing_bucket_is_one_line(sm, tmp_path):
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    s = load_settings(env={}, cwd=tmp_path, workspace=sm.workspace, local_dir=sm.local_dir, project=sm.project,
                      aws_endpoint_url=sm.aws_endpoint_url, sagemaker_bucket=missing, sagemaker_role_arn=ROLE)
    for call in (lambda: upsert_pipeline(s), lambda: upsert_pipeline(s, dry_run=True, echo=lambda *_: None), lambda: pipeline_definition(s)):
        with pytest.raises(AWSError) as e: call()
        assert str(e.value) == f"s3 PutObject (Bucket {missing!r}): NoSuchBucket: The specified bucket does not exist" and "\n" not in str(e.value)
        assert e.value.__cause__ is None and e.value.__suppress_context__
    assert aws_client("sagemaker", sm).list_pipelines(PipelineNamePrefix=sm.project)["PipelineSummaries"] == []

def test_definition_condition_register_and_fail(definition, sm):
    by = {st["Name"]: st for st in _steps(definition["Steps"])}
    conds = by["CheckEvaluation"]["Arguments"]["Conditions"]
    report = {"Get": "Steps.Evaluation.PropertyFiles.EvaluationReport"}
    assert conds == [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Std:JsonGet": {"PropertyFile": report, "Path": "metrics.mAP50.value"}},
                      "RightValue": {"Get": "Parameters.PerformanceThreshold"}},
                     {"Type": "GreaterThanOrEqualTo", "LeftValue": {"Std:JsonGet": {"PropertyFile": report, "Path": "metrics.mAP50.value"}},
                      "RightValue": {"Std:JsonGet": {"PropertyFile": report, "Path": "approved.floor.value"}}}]
    assert [s["Name"] for s in by["CheckEvaluation"]["Arguments"]["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in by["CheckEvaluation"]["Arguments"]["ElseSteps"]] == ["Fail"]
    reg = by["RegisterModel"]["Arguments"]
    assert (reg["ModelApprovalStatus"], reg["ModelPackageGroupName"]) == ("PendingManualApproval", f"{sm.project}-drone-detector")
    assert reg["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == {"Get": "Steps.Training.ModelArtifacts.S3ModelArtifacts"}
    assert "pytorch-inference" in reg["InferenceSpecification"]["Containers"][0]["Image"]
    assert reg["ModelMetrics"]["ModelQuality"]["Statistics"]["ContentType"] == "application/json"
    values = by["Fail"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert [v if isinstance(v, str) else (v.get("Get") or v["Std:JsonGet"]["Path"]) for v in values] == \
           [t if k == "text" else (f"Parameters.{t}" if k == "parameter" else t) for k, t in fail_parts()]

def _published(sm, tmp_path):
    src = tmp_path/"ds"; src.mkdir(); (src/"data.yaml").write_text("names: [Tree]\n")
    store = open_storage(settings=sm)
    store.publish(src, f"datasets/{NAME}")
    return store.uri(f"datasets/{NAME}")

def test_upsert_start_and_status_on_moto(sm, tmp_path, capsys):
    printed = []
    assert upsert_pipeline(sm, dry_run=True, echo=printed.append)["action"] == "create (dry run)"
    assert printed[0].startswith("[dry run] sagemaker CreatePipeline") and aws_client("sagemaker", sm).list_pipelines(PipelineNamePrefix=sm.project)["PipelineSummaries"] == []
    first = upsert_pipeline(sm)
    assert first["action"] == "create" and first["PipelineArn"].endswith(f":pipeline/{sm.project}-pipeline")
    assert upserted_spot(sm) is True
    assert upsert_pipeline(sm, use_spot=False)["action"] == "update" and upserted_spot(sm) is False  # on-demand: UseSpot=False may start
    sagemaker = aws_client("sagemaker", sm)
    described = sagemaker.describe_pipeline(PipelineName=pipeline_name(sm))
    assert json.loads(described["PipelineDefinition"])["Parameters"][-1] == {"Name": "PerformanceThreshold", "Type": "Float", "DefaultValue": 0.3}
    with pytest.raises(PipelineError, match="has no executions yet"): pipeline_status(settings=sm)
    uri = _published(sm, tmp_path)
    arn = start_pipeline({"DatasetPath": uri, "Epochs": 3, "UseSpot": False}, sm)
    assert sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Succeeded"
    st = pipeline_status(settings=sm)
    assert (st["PipelineExecutionArn"], st["PipelineExecutionStatus"], st["Steps"]) == (arn, "Succeeded", None)
    assert "ListPipelineExecutionSteps" in st["StepsUnavailable"] and "<" not in st["StepsUnavailable"]  # moto answers 500
    assert pipeline_status(arn, sm)["PipelineExecutionArn"] == arn
    with pytest.raises(PipelineError, match=re.escape("upserted with UseSpot=false. UseSpot is fixed when the pipeline is upserted "
                                                      "(SageMaker refuses a spot wait time for on-demand jobs): run `dronemlops pipeline upsert --spot true` first")):
        start_pipeline({"DatasetPath": uri, "UseSpot": True}, sm)
    assert len(sagemaker.list_pipeline_executions(PipelineName=pipeline_name(sm))["PipelineExecutionSummaries"]) == 1
    capsys.readouterr()
    assert pipeline_cmd("status", execution=arn, workspace=sm.workspace) == 0  # the command: settings from the environment
    assert json.loads(capsys.readouterr().out)["PipelineExecutionStatus"] == "Succeeded"

def test_start_refuses_before_anything_starts(sm, tmp_path):
    upsert_pipeline(sm)
    uri = _published(sm, tmp_path)
    spot_fixed = re.escape("UseSpot=false but the pipeline was upserted with UseSpot=true. UseSpot is fixed when the pipeline is upserted (SageMaker "
                           "refuses a spot wait time for on-demand jobs): run `dronemlops pipeline upsert --spot false` first")
    for params, needle in [({"DatasetPath": uri, "UseSpot": "maybe"}, "Pipeline parameter UseSpot must be true or false"),
                           ({"DatasetPath": uri, "UseSpot": False}, spot_fixed), ({"DatasetPath": uri, "Epochs": 3, "UseSpot": False}, spot_fixed),
                           ({"DatasetPath": uri, "Epochs": "ten"}, "Pipeline parameter Epochs must be a whole number"),
                           ({"DatasetPath": uri.replace(NAME, "never_published_20260101_0000")}, "is not a published dataset version"),
                           ({"DatasetPath": NAME}, "is not an s3:// URI"), ({}, "DatasetPath is required")]:
        with pytest.raises(PipelineError, match=needle): start_pipeline(params, sm)
    assert aws_client("sagemaker", sm).list_pipeline_executions(PipelineName=pipeline_name(sm))["PipelineExecutionSummaries"] == []

def test_start_sends_the_parameters_as_sagemaker_takes_them(sm, tmp_path):
    from dronemlops.aws.core import check_request
    from dronemlops.aws.pipeline import _wire
    assert (_wire(True), _wire(False), _wire(3), _wire(0.3)) == ("true", "false", "3", "0.3")
    check_request("sagemaker", "StartPipelineExecution", {"PipelineName": "p", "ClientRequestToken": "x" * 32,
                                                           "PipelineParameters": [{"Name": "UseSpot", "Value": _wire(False)}]})

def test_cli_upsert_spot_false_then_start(sm, tmp_path, capsys, monkeypatch):
    for k, v in dict(DRONEMLOPS_PROJECT=sm.project, DRONEMLOPS_AWS_ENDPOINT_URL=sm.aws_endpoint_url, DRONEMLOPS_SAGEMAKER_BUCKET=sm.sagemaker_bucket,
                     DRONEMLOPS_SAGEMAKER_ROLE_ARN=ROLE, DRONEMLOPS_LOCAL_DIR=sm.local_dir).items(): monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # no dronemlops.toml from the repository
    uri = _published(sm, tmp_path)
    assert pipeline_cmd("upsert", spot="false", workspace=sm.workspace) == 0 and upserted_spot(sm) is False
    with pytest.raises(PipelineError, match=re.escape("run `dronemlops pipeline upsert --spot true` first")):
        pipeline_cmd("start", dataset=uri, spot="true", workspace=sm.workspace)
    capsys.readouterr()
    assert pipeline_cmd("start", dataset=uri, spot="false", workspace=sm.workspace) == 0
    assert pipeline_cmd("start", dataset=uri, workspace=sm.workspace) == 0  # no --spot: the upserted choice
    arns = [json.loads(o)["PipelineExecutionArn"] for o in re.findall(r"\{.*?\}", capsys.readouterr().out, re.S)]
    assert len(arns) == 2 and len(aws_client("sagemaker", sm).list_pipeline_executions(PipelineName=pipeline_name(sm))["PipelineExecutionSummaries"]) == 2
