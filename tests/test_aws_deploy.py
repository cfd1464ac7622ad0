"The registry bridge and deployment on a moto server: a real registered starter version mirrored, approved, deployed real-time and serverless, updated blue/green (UpdateEndpoint checked against botocore's model), dry runs, refusals."
import io, json, subprocess, sys, tarfile, uuid
import pytest
from dronemlops.config import load_settings
from dronemlops.aws.core import AWSError, AWSRequests, check_request, sagemaker_uri
from dronemlops.aws import deploy as d
from dronemlops.storage import open_uri

ROLE = "arn:aws:iam::123456789012:role/x"

@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    "The shipped starter registered (as end_to_end does) in a fresh MLflow store, evaluated on the bundled sample and promoted."
    from dronemlops.dataset import build_sample_dataset
    from dronemlops.validate import load_dataset
    from dronemlops.train import starter_weights
    from dronemlops.evaluate import evaluate
    from dronemlops.registry import register_weights, promote, gate
    root = tmp_path_factory.mktemp("deploy")
    s = load_settings(env={}, cwd=root, local_dir=str(root/"local"))
    minimums = dict(min_train_images=10, min_val_images=5)
    sample = load_dataset(build_sample_dataset("deploy_sample_20261128_1300", settings=s)["name"], settings=s, **minimums)
    evaluation = json.loads(evaluate("starter", sample.name, imgsz=416, settings=s, **minimums).json_path.read_text())
    version = register_weights(starter_weights(), sample, evaluation=evaluation, tags={"starter": "true"}, run_name="starter", settings=s)
    assert promote(version, gate(evaluation), settings=s)
    rejected = register_weights(starter_weights(), sample, evaluation=evaluation, run_name="starter-rejected", settings=s)
    assert not promote(rejected, gate(evaluation, threshold=0.99), settings=s)
    return {"root": root, "local_dir": s.local_dir, "workspace": s.workspace, "version": version, "rejected": rejected,
            "evaluation": evaluation, "dataset": sample.name}

@pytest.fixture
def settings(aws_env, registered):
    "Settings on the moto server with a project of its own (so each test has its own package group and endpoints) and a fresh bucket."
    project = f"t-{uuid.uuid4().hex[:8]}"
    s = load_settings(env={}, cwd=registered["root"], workspace=registered["workspace"], local_dir=registered["local_dir"],
                      aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], project=project, sagemaker_bucket=f"{project}-sm",
                      sagemaker_role_arn=ROLE)
    AWSRequests(s)("s3", "CreateBucket", Bucket=s.sagemaker_bucket)
    return s

@pytest.fixture
def package(settings, registered):
    return d.mirror_version(registered["version"], settings=settings)

def mlflow_version(settings, version):
    from dronemlops.tracking import configure_mlflow
    return configure_mlflow(settings).MlflowClient().get_model_version("drone-detector", str(version))

def project_resources(settings):
    "The project's endpoints, endpoint configs, models and scalable targets on the server (by name prefix)."
    req, p = AWSRequests(settings), settings.project
    return {"endpoints": [e["EndpointName"] for e in req("sagemaker", "ListEndpoints", NameContains=p)["Endpoints"]],
            "configs": [c["EndpointConfigName"] for c in req("sagemaker", "ListEndpointConfigs", NameContains=p)["EndpointConfigs"]],
            "models": [m["ModelName"] for m in req("sagemaker", "ListModels", NameContains=p)["Models"] if m["ModelName"].startswith(p)],  # moto ignores NameContains here
            "targets": [t["ResourceId"] for t in req("application-autoscaling", "DescribeScalableTargets", ServiceNamespace="sagemaker")["ScalableTargets"]
                        if t["ResourceId"].startswith(f"endpoint/{p}")],
            "alarms": [a["AlarmName"] for a in req("cloudwatch", "DescribeAlarms", AlarmNamePrefix=p)["MetricAlarms"]]}

NOTHING = {"endpoints": [], "configs": [], "models": [], "targets": [], "alarms": []}

# --- the registry bridge

def test_mirror_carries_run_metrics_lineage_and_is_idempotent(settings, registered, package):
    req = AWSRequests(settings)
    mv = mlflow_version(settings, registered["version"])
    pkg = req("sagemaker", "DescribeModelPackage", ModelPackageName=package)
    assert pkg["ModelPackageGroupName"] == f"{settings.project}-drone-detector"
    assert pkg["ModelApprovalStatus"] == "PendingManualApproval"
    meta = pkg["CustomerMetadataProperties"]
    assert (meta["mlflow:model"], meta["mlflow:version"], meta["mlflow:run_id"]) == ("drone-detector", registered["version"], mv.run_id)
    assert (meta["dataset"], meta["dataset_digest"]) == (registered["dataset"], mv.tags["dataset_digest"]) and len(meta["dataset_digest"]) == 64
    for k, v in registered["evaluation"]["metrics"].items(): assert float(meta[f"metric:{k}"]) == pytest.approx(v["value"], abs=1e-6)
    container = pkg["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    prefix = sagemaker_uri(settings, "models", "drone-detector", f"v{registered['version']}-{mv.run_id[:8]}")
    assert container["ModelDataUrl"] == f"{prefix}/model.tar.gz"
    store, key = open_uri(container["ModelDataUrl"], settings)
    names = set(tarfile.open(fileobj=io.BytesIO(store.read_bytes(key))).getnames())
    assert {"trees-yolo11n.pt", "code/inference.py", "code/requirements.txt", "code/dronemlops/serve.py"} <= names
    stats = pkg["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert stats["S3Uri"] == f"{prefix}/evaluation.json"
    store, key = open_uri(stats["S3Uri"], settings)
    doc = store.read_json(key)
    assert doc["metrics"]["mAP50"]["value"] == pytest.approx(registered["evaluation"]["metrics"]["mAP50"]["value"], abs=1e-6)
    assert (doc["dataset"], doc["split"], doc["mlflow"]["run_id"]) == (registered["dataset"], "val", mv.run_id)
    assert mlflow_version(settings, registered["version"]).tags["sagemaker_model_package"] == package
    # mirroring again finds the package by its metadata: no second package
    assert d.mirror_version(registered["version"], settings=settings) == package
    listed = req("sagemaker", "ListModelPackages", ModelPackageGroupName=pkg["ModelPackageGroupName"])["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [package]
    assert d.find_package(registered["version"], settings=settings) == package
    assert d.find_package(registered["version"], settings=settings, run_id="another-run") is None

def test_mirror_refuses_unpromoted_unknown_and_missing_bucket(settings, registered):
    with pytest.raises(d.DeployError, match=rf"version {registered['rejected']} was not promoted \(the gate said: .*below the threshold 0.990"):
        d.mirror_version(registered["rejected"], settings=settings)
    with pytest.raises(d.DeployError, match="MLflow has no version 99 of 'drone-detector'"):
        d.mirror_version("99", settings=settings)
    no_bucket = load_settings(env={}, cwd=registered["root"], workspace=registered["workspace"], local_dir=registered["local_dir"],
                              aws_endpoint_url=settings.aws_endpoint_url, project=settings.project)
    with pytest.raises(AWSError, match="No S3 bucket for SageMaker"):
        d.mirror_version(registered["version"], settings=no_bucket)
    groups = AWSRequests(settings)("sagemaker", "ListModelPackageGroups", NameContains=settings.project)["ModelPackageGroupSummaryList"]
    assert groups == []  # every refusal came before anything was created
    fresh = load_settings(env={}, cwd=registered["root"], local_dir=str(registered["root"]/"empty"), aws_endpoint_url=settings.aws_endpoint_url,
                          project=settings.project, sagemaker_bucket=settings.sagemaker_bucket)
    with pytest.raises(d.DeployError, match="does not exist yet"): d.mirror_version("1", settings=fresh)

# --- approval and deployment

def test_deploy_refuses_an_unapproved_package(settings, registered, package):
    with pytest.raises(d.DeployError, match=rf"is PendingManualApproval, not Approved: approve it \(`dronemlops approve {registered['version']}`\)"):
        d.deploy(package, settings)
    AWSRequests(settings)("sagemaker", "UpdateModelPackage", ModelPackageArn=package, ModelApprovalStatus="Rejected")
    with pytest.raises(d.DeployError, match="is Rejected, not Approved"): d.deploy(package, settings)
    assert project_resources(settings) == NOTHING

def test_approve_deploys_realtime_with_capture_and_autoscaling(settings, registered, package):
    dep = d.approve(registered["version"], settings)
    req = AWSRequests(settings)
    pkg = req("sagemaker", "DescribeModelPackage", ModelPackageName=package)
    assert pkg["ModelApprovalStatus"] == "Approved"
    assert pkg["CustomerMetadataProperties"]["mlflow:run_id"] == mlflow_version(settings, registered["version"]).run_id  # still findable
    assert (dep.endpoint_name, dep.updated, dep.dry_run, dep.package_arn) == (f"{settings.project}-drone-detector", False, False, package)
    assert dep.changes() == ["sagemaker UpdateModelPackage", "sagemaker CreateModel", "sagemaker CreateEndpointConfig", "sagemaker CreateEndpoint",
                             "application-autoscaling RegisterScalableTarget", "application-autoscaling PutScalingPolicy"]
    model = req("sagemaker", "DescribeModel", ModelName=dep.model_name)
    assert (model["PrimaryContainer"]["ModelPackageName"], model["ExecutionRoleArn"]) == (package, ROLE)
    ep = req("sagemaker", "DescribeEndpoint", EndpointName=dep.endpoint_name)
    assert (ep["EndpointConfigName"], ep["EndpointStatus"]) == (dep.endpoint_config_name, "InService")
    cfg = req("sagemaker", "DescribeEndpointConfig", EndpointConfigName=dep.endpoint_config_name)
    v = cfg["ProductionVariants"][0]
    assert (v["VariantName"], v["ModelName"], v["InstanceType"], v["InitialInstanceCount"]) == ("AllTraffic", dep.model_name, "ml.m5.xlarge", 1)
    cap = cfg["DataCaptureConfig"]
    assert (cap["EnableCapture"], cap["InitialSamplingPercentage"]) == (True, 100)
    assert cap["DestinationS3Uri"] == f"s3://{settings.sagemaker_bucket}/{settings.project}/sagemaker/captures"
    assert [o["CaptureMode"] for o in cap["CaptureOptions"]] == ["Input", "Output"]
    rid = f"endpoint/{dep.endpoint_name}/variant/AllTraffic"
    targets = req("application-autoscaling", "DescribeScalableTargets", ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"]
    assert [(t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [("sagemaker:variant:DesiredInstanceCount", 1, 5)]
    policies = req("application-autoscaling", "DescribeScalingPolicies", ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"]
    assert len(policies) == 1 and policies[0]["PolicyType"] == "TargetTrackingScaling"
    tt = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert (tt["TargetValue"], tt["PredefinedMetricSpecification"]["PredefinedMetricType"]) == (70.0, "SageMakerVariantInvocationsPerInstance")

def test_deploy_options_reach_the_endpoint(settings, registered, package):
    d.approve(package, settings, deploy=False)
    dep = d.deploy(package, settings, endpoint_name=f"{settings.project}-big", instance_type="ml.c5.2xlarge", min_instances=2,
                   max_instances=8, target_invocations=120, capture_percent=25)
    req = AWSRequests(settings)
    cfg = req("sagemaker", "DescribeEndpointConfig", EndpointConfigName=dep.endpoint_config_name)
    v = cfg["ProductionVariants"][0]
    assert (v["InstanceType"], v["InitialInstanceCount"], cfg["DataCaptureConfig"]["InitialSamplingPercentage"]) == ("ml.c5.2xlarge", 2, 25)
    t = req("application-autoscaling", "DescribeScalableTargets", ServiceNamespace="sagemaker",
            ResourceIds=[f"endpoint/{dep.endpoint_name}/variant/AllTraffic"])["ScalableTargets"][0]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (2, 8)
    p = req("application-autoscaling", "DescribeScalingPolicies", ServiceNamespace="sagemaker", ResourceId=t["ResourceId"])["ScalingPolicies"][0]
    assert p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 120.0

def test_serverless_endpoint_config(settings, registered, package):
    dep = d.approve(registered["version"], settings, serverless=True, memory_mb=4096, max_concurrency=12)
    req = AWSRequests(settings)
    cfg = req("sagemaker", "DescribeEndpointConfig", EndpointConfigName=dep.endpoint_config_name)
    v = cfg["ProductionVariants"][0]
    assert v["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 12}
    assert "InstanceType" not in v and not cfg.get("DataCaptureConfig")  # serverless: no instances, no data capture
    assert req("sagemaker", "DescribeEndpoint", EndpointName=dep.endpoint_name)["EndpointStatus"] == "InService"
    assert [c for c in dep.changes() if "autoscaling" in c] == []
    assert project_resources(settings)["targets"] == []

def test_existing_endpoint_name_needs_update(settings, registered, package):
    dep = d.approve(registered["version"], settings)
    before = project_resources(settings)
    with pytest.raises(d.DeployError, match=rf"Endpoint '{dep.endpoint_name}' already exists \(config {dep.endpoint_config_name}\): run again with --update"):
        d.deploy(package, settings)
    with pytest.raises(d.DeployError, match="does not exist, so there is nothing to update: deploy without --update"):
        d.deploy(package, settings, endpoint_name=f"{settings.project}-other", update=True)
    assert project_resources(settings) == before

def test_update_is_blue_green_with_rollback_alarms(settings, registered, package):
    dep = d.approve(registered["version"], settings)
    printed = []
    upd = d.deploy(package, settings, update=True, requests=AWSRequests(settings, dry_run=True, echo=printed.append))
    assert upd.updated and upd.endpoint_name == dep.endpoint_name and upd.endpoint_config_name != dep.endpoint_config_name
    assert upd.changes() == ["sagemaker CreateModel", "sagemaker CreateEndpointConfig", "cloudwatch PutMetricAlarm", "cloudwatch PutMetricAlarm",
                             "application-autoscaling RegisterScalableTarget", "application-autoscaling PutScalingPolicy", "sagemaker UpdateEndpoint"]
    request = upd.request("UpdateEndpoint")
    assert check_request("sagemaker", "UpdateEndpoint", request) is request  # moto lacks UpdateEndpoint: botocore's model validates it
    assert (request["EndpointName"], request["EndpointConfigName"], request["RetainAllVariantProperties"]) == (dep.endpoint_name, upd.endpoint_config_name, True)
    bg = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert bg["TrafficRoutingConfiguration"] == {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}, "WaitIntervalInSeconds": 300}
    assert (bg["TerminationWaitInSeconds"], bg["MaximumExecutionTimeoutInSeconds"]) == (300, 3600)
    alarms = [f"{dep.endpoint_name}-invocation-5xx", f"{dep.endpoint_name}-model-errors"]
    assert request["DeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": a} for a in alarms]}
    assert printed[-1].startswith("[dry run] sagemaker UpdateEndpoint\n") and '"CANARY"' in printed[-1]
    broken = {**request, "DeploymentConfig": {**request["DeploymentConfig"], "BlueGreenUpdatePolicy": {**bg, "TerminationWait": 300}}}
    with pytest.raises(AWSError, match='Unknown parameter in DeploymentConfig.BlueGreenUpdatePolicy: "TerminationWait"'):
        check_request("sagemaker", "UpdateEndpoint", broken)
    # the rest of the update is real on moto: the new model and config, the alarms on the endpoint's metrics
    live = AWSRequests(settings)
    for svc, op, p in upd.requests:
        if op != "UpdateEndpoint": live(svc, op, **p)
    cw = live("cloudwatch", "DescribeAlarms", AlarmNames=alarms)["MetricAlarms"]
    assert sorted((a["AlarmName"], a["MetricName"], a["Namespace"], a["Threshold"]) for a in cw) == [
        (alarms[0], "Invocation5XXErrors", "AWS/SageMaker", 1.0), (alarms[1], "InvocationModelErrors", "AWS/SageMaker", 1.0)]
    assert {x["Name"]: x["Value"] for x in cw[0]["Dimensions"]} == {"EndpointName": dep.endpoint_name, "VariantName": "AllTraffic"}
    assert live("sagemaker", "DescribeEndpointConfig", EndpointConfigName=upd.endpoint_config_name)["ProductionVariants"][0]["ModelName"] == upd.model_name
    # existing alarms are reused; a new instance type deregisters autoscaling before the update and registers it after
    move = d.deploy(package, settings, update=True, instance_type="ml.c5.xlarge", requests=AWSRequests(settings, dry_run=True, echo=lambda m: None))
    assert move.changes() == ["sagemaker CreateModel", "sagemaker CreateEndpointConfig", "application-autoscaling DeregisterScalableTarget",
                              "sagemaker UpdateEndpoint", "application-autoscaling RegisterScalableTarget", "application-autoscaling PutScalingPolicy"]
    assert "RetainAllVariantProperties" not in move.request("UpdateEndpoint")
    # to serverless: all at once, autoscaling deregistered and not registered again
    srv = d.deploy(package, settings, update=True, serverless=True, requests=AWSRequests(settings, dry_run=True, echo=lambda m: None))
    assert srv.changes()[-2:] == ["application-autoscaling DeregisterScalableTarget", "sagemaker UpdateEndpoint"]
    assert srv.request("UpdateEndpoint")["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"

def test_dry_run_prints_every_request_and_creates_nothing(settings, registered, package, capsys):
    dep = d.approve(registered["version"], settings, dry_run=True)
    out = capsys.readouterr().out
    changes = ["sagemaker UpdateModelPackage", "sagemaker CreateModel", "sagemaker CreateEndpointConfig", "sagemaker CreateEndpoint",
               "application-autoscaling RegisterScalableTarget", "application-autoscaling PutScalingPolicy"]
    assert dep.dry_run and dep.changes() == changes
    assert [l[len("[dry run] "):] for l in out.splitlines() if l.startswith("[dry run] ")] == changes
    assert f'"ModelPackageName": "{package}"' in out and '"DestinationS3Uri": "s3://' in out and '"TargetValue": 70.0' in out
    req = AWSRequests(settings)
    assert req("sagemaker", "DescribeModelPackage", ModelPackageName=package)["ModelApprovalStatus"] == "PendingManualApproval"
    assert project_resources(settings) == NOTHING

def test_options_are_refused_before_anything_is_sent(settings, registered, package):
    d.approve(package, settings, deploy=False)
    cases = [(dict(serverless=True, memory_mb=5000), "--memory-mb must be one of 1024, 2048, 3072, 4096, 5120, 6144, got 5000"),
             (dict(serverless=True, max_concurrency=0), "--max-concurrency must be 1-200, got 0"),
             (dict(min_instances=3, max_instances=2), "--min-instances must be at least 1 and at most --max-instances, got 3 and 2"),
             (dict(target_invocations=0), "--target-invocations must be positive, got 0"),
             (dict(capture_percent=101), "--capture-percent must be 0-100, got 101"),
             (dict(endpoint_name="bad_name"), "--endpoint-name 'bad_name' is not a SageMaker name"),
             (dict(instance_type="ml.g5.xlarge"), "--instance-type ml.g5.xlarge is not one the package supports (ml.m5.large, ml.m5.xlarge")]
    for kw, msg in cases:
        with pytest.raises(d.DeployError) as e: d.deploy(package, settings, **kw)
        assert msg in str(e.value), (kw, str(e.value))
    no_role = load_settings(env={}, cwd=registered["root"], workspace=registered["workspace"], local_dir=registered["local_dir"],
                            aws_endpoint_url=settings.aws_endpoint_url, project=settings.project, sagemaker_bucket=settings.sagemaker_bucket)
    with pytest.raises(AWSError, match="No SageMaker execution role: set sagemaker_role_arn"): d.deploy(package, no_role)
    with pytest.raises(d.DeployError, match="'v1' is neither a model package ARN nor an MLflow version number"): d.approve("v1", settings)
    with pytest.raises(d.DeployError, match="drone-detector version 42 has no SageMaker model package: mirror it first"): d.approve("42", settings)
    assert project_resources(settings) == NOTHING

def test_a_failed_endpoint_is_one_line():
    assert d.endpoint_ready({"EndpointName": "e", "EndpointStatus": "Updating"}) is False
    assert d.endpoint_ready({"EndpointName": "e", "EndpointStatus": "InService"}) is True
    with pytest.raises(d.DeployError, match="Endpoint e is Failed: The primary container for production variant AllTraffic did not pass the ping health check"):
        d.endpoint_ready({"EndpointName": "e", "EndpointStatus": "Failed",
                          "FailureReason": "The primary container for production variant AllTraffic did not pass the ping health check."})

# --- command line

def test_cli_verbs(settings, registered, monkeypatch, capsys):
    for k, v in {"DRONEMLOPS_AWS_ENDPOINT_URL": settings.aws_endpoint_url, "DRONEMLOPS_PROJECT": settings.project,
                 "DRONEMLOPS_SAGEMAKER_BUCKET": settings.sagemaker_bucket, "DRONEMLOPS_SAGEMAKER_ROLE_ARN": ROLE,
                 "DRONEMLOPS_LOCAL_DIR": registered["local_dir"]}.items(): monkeypatch.setenv(k, v)
    monkeypatch.chdir(registered["root"])
    ws = registered["workspace"]
    d.mirror_cmd(registered["version"], workspace=ws)
    arn = capsys.readouterr().out.strip()
    assert arn == d.find_package(registered["version"], settings=settings)
    d.approve_cmd(registered["version"], dry_run=True, workspace=ws)
    out = capsys.readouterr().out
    summary = json.loads(out[out.rindex("\n{\n") + 1:])
    assert (summary["endpoint"], summary["dry_run"], summary["changes"][0]) == (f"{settings.project}-drone-detector", True, "sagemaker UpdateModelPackage")
    with pytest.raises(d.DeployError, match="is PendingManualApproval, not Approved"): d.deploy_cmd(registered["version"], workspace=ws)
    d.approve_cmd(arn, deploy=False, workspace=ws)
    assert capsys.readouterr().out.strip() == f"approved {arn} (not deployed)"
    d.deploy_cmd(registered["version"], serverless=True, memory_mb=2048, workspace=ws)
    summary = json.loads(capsys.readouterr().out)
    assert (summary["package"], summary["updated"], summary["changes"]) == (arn, False, ["sagemaker CreateModel", "sagemaker CreateEndpointConfig", "sagemaker CreateEndpoint"])
    cfg = AWSRequests(settings)("sagemaker", "DescribeEndpointConfig", EndpointConfigName=summary["endpoint_config"])
    assert cfg["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == 2048

def test_importable_without_the_sdk():
    "dronemlops.aws.deploy imports without the SageMaker SDK; the one call that needs it says how to install it."
    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'sagemaker' or name.startswith('sagemaker.'): raise ImportError('blocked')\n"
            "sys.meta_path.insert(0, Block())\nimport dronemlops.aws.deploy as d\n"
            "from dronemlops.config import load_settings\n"
            "try: d.inference_image(load_settings(env={}, cwd='/', aws_region='eu-west-1'))\nexcept d.AWSError as e: print(e)\n")
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_CONFIG_FILE": "/nonexistent", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "The SageMaker Python SDK is not installed: pip install 'dronemlops[aws]'."
