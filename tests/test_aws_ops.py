"Events, cost and cleanup on a moto server: EventBridge rules proven by routing SageMaker-shaped events, an approval event deploying, Cost Explorer and Budgets, and a cleanup that removes one project and leaves its look-alike whole."
import io, json, urllib.request, uuid
from contextlib import redirect_stdout
from pathlib import Path
import pytest
from dronemlops.config import load_settings
from dronemlops.aws.core import AWSRequests, project_tags, PROJECT_TAG
from dronemlops.aws import events as ev, cost, cleanup as cl

ROLE = "arn:aws:iam::123456789012:role/sm"

def make_settings(root, url, project, **kw):
    return load_settings(env={}, cwd=root, workspace=str(root/"ws"), local_dir=str(root/project), aws_endpoint_url=url,
                         project=project, sagemaker_bucket="ops-sm", sagemaker_role_arn=ROLE, **kw)

@pytest.fixture
def settings(aws_env, tmp_path, monkeypatch):
    "A project of its own on the moto server (events, packages and endpoints do not collide between tests), with a bucket."
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    s = make_settings(tmp_path, aws_env["AWS_ENDPOINT_URL"], f"o{uuid.uuid4().hex[:8]}")
    req = AWSRequests(s)
    if "ops-sm" not in [b["Name"] for b in req("s3", "ListBuckets")["Buckets"]]: req("s3", "CreateBucket", Bucket="ops-sm")
    return s

def approved_package(req, group, instance_types=("ml.m5.xlarge",)):
    "A package registered and approved in `group` (created if missing), as SageMaker Studio would."
    if not req("sagemaker", "ListModelPackageGroups", NameContains=group)["ModelPackageGroupSummaryList"]:
        req("sagemaker", "CreateModelPackageGroup", ModelPackageGroupName=group, Tags=project_tags(req.settings))
    spec = {"Containers": [{"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
                            "ModelDataUrl": f"s3://ops-sm/{req.settings.project}/sagemaker/models/model.tar.gz"}],
            "SupportedContentTypes": ["image/jpeg"], "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": list(instance_types)}
    arn = req("sagemaker", "CreateModelPackage", ModelPackageGroupName=group, InferenceSpecification=spec,
              ModelApprovalStatus="PendingManualApproval")["ModelPackageArn"]
    req("sagemaker", "UpdateModelPackage", ModelPackageArn=arn, ModelApprovalStatus="Approved")
    return arn

def approval(arn, group, status="Approved"):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": ev.PACKAGE_STATE, "source": "aws.sagemaker", "account": "123456789012",
            "time": "2026-11-28T10:00:00Z", "region": "us-east-1", "resources": [arn],
            "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn, "ModelApprovalStatus": status, "ModelPackageVersion": 1}}

# --- events

def test_rules_route_only_this_projects_sagemaker_events(settings):
    made = ev.create_event_rules(settings)
    req, p = AWSRequests(settings), settings.project
    assert made["topic"] == f"arn:aws:sns:us-east-1:123456789012:{p}-events"
    assert set(made["rules"]) == {f"{p}-training-state", f"{p}-package-approved"}
    for name in made["rules"]:
        rule = req("events", "DescribeRule", Name=name)
        assert rule["State"] == "ENABLED"
        assert req("events", "ListTagsForResource", ResourceARN=rule["Arn"])["Tags"] == [{"Key": PROJECT_TAG, "Value": p}]
        assert [t["Arn"] for t in req("events", "ListTargetsByRule", Rule=name)["Targets"]] == [made["topic"]]
    policy = json.loads(req("sns", "GetTopicAttributes", TopicArn=made["topic"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(made["rules"].values())
    # the rules themselves, retargeted to a queue (moto cannot deliver to SNS), route SageMaker-shaped events
    queue = req("sqs", "CreateQueue", QueueName=f"{p}-probe")["QueueUrl"]
    queue_arn = req("sqs", "GetQueueAttributes", QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for name in made["rules"]:
        req("events", "RemoveTargets", Rule=name, Ids=[ev.events_topic_name(settings)])
        req("events", "PutTargets", Rule=name, Targets=[{"Id": "probe", "Arn": queue_arn}])
    def entry(kind, detail): return {"Source": "aws.sagemaker", "DetailType": kind, "Detail": json.dumps(detail)}
    group = f"{p}-drone-detector"
    req("events", "PutEvents", Entries=[
        entry(ev.TRAINING_STATE, {"TrainingJobName": f"{p}-train-1", "TrainingJobStatus": "Failed"}),
        entry(ev.TRAINING_STATE, {"TrainingJobName": f"x{p}-train-1", "TrainingJobStatus": "Failed"}),
        entry(ev.TRAINING_STATE, {"TrainingJobName": "pipelines-abc-Training-xyz", "TrainingJobStatus": "Completed", "Tags": {PROJECT_TAG: p}}),
        entry(ev.TRAINING_STATE, {"TrainingJobName": "pipelines-def-Training-uvw", "TrainingJobStatus": "Completed", "Tags": {PROJECT_TAG: f"x{p}"}}),
        entry(ev.PACKAGE_STATE, {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved"}),
        entry(ev.PACKAGE_STATE, {"ModelPackageGroupName": group, "ModelApprovalStatus": "PendingManualApproval"}),
        entry(ev.PACKAGE_STATE, {"ModelPackageGroupName": f"{group}-2", "ModelApprovalStatus": "Approved"}),
        {"Source": "dronemlops.monitoring", "DetailType": ev.TRAINING_STATE, "Detail": json.dumps({"TrainingJobName": f"{p}-train-1"})}])
    got = [json.loads(m["Body"])["detail"] for m in req("sqs", "ReceiveMessage", QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    assert sorted(json.dumps(d, sort_keys=True) for d in got) == sorted(json.dumps(d, sort_keys=True) for d in [
        {"TrainingJobName": f"{p}-train-1", "TrainingJobStatus": "Failed"}, {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved"},
        {"TrainingJobName": "pipelines-abc-Training-xyz", "TrainingJobStatus": "Completed", "Tags": {PROJECT_TAG: p}}])

def test_create_event_rules_dry_run_sends_nothing(settings):
    out = io.StringIO()
    with redirect_stdout(out): made = ev.create_event_rules(settings, dry_run=True)
    assert made["topic"].endswith(f":{settings.project}-events")
    assert out.getvalue().count("[dry run]") == 6  # CreateTopic, 2 x (PutRule, PutTargets), SetTopicAttributes
    assert AWSRequests(settings)("events", "ListRules", NamePrefix=settings.project)["Rules"] == []

def test_approval_event_deploys_once_then_updates(settings):
    req = AWSRequests(settings)
    group = f"{settings.project}-drone-detector"
    arn = approved_package(req, group)
    done = ev.handle_event(approval(arn, group), settings)  # real-time, with autoscaling
    assert (done["action"], done["endpoint"], done["package"]) == ("deployed", group, arn)
    endpoint = req("sagemaker", "DescribeEndpoint", EndpointName=group)
    variant = req("sagemaker", "DescribeEndpointConfig", EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["ModelName"]) == ("ml.m5.xlarge", done["model"])
    assert req("sagemaker", "DescribeModel", ModelName=done["model"])["PrimaryContainer"]["ModelPackageName"] == arn
    assert ev.handle_event(approval(arn, group), settings)["action"] == "already deployed"
    newer = approved_package(req, group)
    out = io.StringIO()
    with redirect_stdout(out): again = ev.handle_event(approval(newer, group), settings, dry_run=True)  # moto lacks UpdateEndpoint
    assert again["action"] == "updated" and "sagemaker UpdateEndpoint" in out.getvalue() and newer in out.getvalue()

def test_events_that_are_not_ours_are_ignored(settings):
    group = f"{settings.project}-drone-detector"
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/1"
    assert ev.handle_event(approval(arn, "other-drone-detector"), settings)["why"] == f"package group 'other-drone-detector' is not {group}"
    assert ev.handle_event(approval(arn, group, "Rejected"), settings)["why"] == "the package is Rejected, not Approved"
    assert ev.handle_event({**approval(arn, group), "source": "dronemlops.monitoring"}, settings)["action"] == "ignored"
    job = {"source": "aws.sagemaker", "detail-type": ev.TRAINING_STATE, "detail": {"TrainingJobName": f"{settings.project}-train-7", "TrainingJobStatus": "Completed"}}
    assert ev.handle_event(job, settings) == {"action": "recorded", "job": f"{settings.project}-train-7", "status": "Completed",
                                              "secondary_status": None, "reason": None}
    piped = {**job, "detail": {"TrainingJobName": "pipelines-abc-Training-xyz", "TrainingJobStatus": "Completed", "Tags": {PROJECT_TAG: settings.project}}}
    assert (ev.handle_event(piped, settings)["action"], ev.handle_event(piped, settings)["job"]) == ("recorded", "pipelines-abc-Training-xyz")
    other = {**piped, "detail": {**piped["detail"], "Tags": {PROJECT_TAG: "other"}}}
    assert ev.handle_event(other, settings)["why"] == f"training job 'pipelines-abc-Training-xyz' is not of project {settings.project}"
    with pytest.raises(ev.EventsError, match="has no detail.ModelPackageArn"):
        ev.handle_event({**approval(arn, group), "detail": {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved"}}, settings)
    assert AWSRequests(settings)("sagemaker", "ListEndpoints", NameContains=settings.project)["Endpoints"] == []

def test_events_cmd_reads_sns_envelopes_and_refuses_bad_input(settings, tmp_path, monkeypatch):
    job = {"source": "aws.sagemaker", "detail-type": ev.TRAINING_STATE, "detail": {"TrainingJobName": f"{settings.project}-t", "TrainingJobStatus": "Stopped"}}
    f = tmp_path/"event.json"; f.write_text(json.dumps({"Type": "Notification", "Message": json.dumps(job)}))
    for k, v in (("PROJECT", settings.project), ("WORKSPACE", settings.workspace), ("AWS_ENDPOINT_URL", settings.aws_endpoint_url)):
        monkeypatch.setenv(f"DRONEMLOPS_{k}", v)
    out = io.StringIO()
    with redirect_stdout(out): ev.events_cmd("handle", str(f))
    assert json.loads(out.getvalue())["status"] == "Stopped"
    with pytest.raises(ev.EventsError, match="needs the event"): ev.events_cmd("handle")
    with pytest.raises(ev.EventsError, match="not valid JSON"): ev.read_event("{oops")
    with pytest.raises(ev.EventsError, match="neither a JSON event nor a file"): ev.read_event(str(tmp_path/"missing.json"))

# --- cost

def test_estimates_use_the_price_file():
    sm = cost.PRICES["sagemaker"]
    assert cost.PRICES["ground_truth"]["date"] and sm["date"] and sm["source"].startswith("https://aws.amazon.com/sagemaker/pricing")
    assert cost.estimate_training("ml.p3.2xlarge", hours=10, instances=2)["total_usd"] == pytest.approx(20 * sm["training_usd_per_hour"]["ml.p3.2xlarge"], abs=0.01)
    spot = cost.estimate_training("ml.g5.xlarge", hours=4, spot=True)
    assert spot["total_usd"] == pytest.approx(4 * sm["training_usd_per_hour"]["ml.g5.xlarge"] * (1 - sm["spot_discount"]), abs=0.01)
    assert any("spot: 70% off" in a for a in spot["assumptions"]) and any("us-east-1" in a for a in spot["assumptions"])
    rt = cost.estimate_endpoint("realtime", "ml.g4dn.xlarge", hours_per_month=100)
    assert rt["parts"] == {"instances_usd": round(100 * sm["realtime_usd_per_hour"]["ml.g4dn.xlarge"], 2)}
    sl = cost.estimate_endpoint("serverless", requests_per_month=2_000_000, memory_mb=1024, seconds_per_request=0.25)
    assert sl["parts"] == {"compute_usd": round(500_000 * sm["serverless_usd_per_gb_second"], 2),
                           "requests_usd": round(2 * sm["serverless_usd_per_million_requests"], 2)}
    lab = cost.estimate_labeling(60_000)  # private: Ground Truth's tiers only, 50,000 at the first price, 10,000 at the second
    tiers = cost.PRICES["ground_truth"]["object_tiers"]
    assert lab["parts"] == {"ground_truth_usd": round(50_000 * tiers[0][1] + 10_000 * tiers[1][1], 2), "workforce_usd": 0.0}

@pytest.mark.parametrize("call, message", [
    (lambda: cost.estimate_training("ml.m5.large", hours=-2), "hours must be positive, got -2"),
    (lambda: cost.estimate_training("ml.z9.large"), "No training price for 'ml.z9.large'"),
    (lambda: cost.estimate_endpoint("serverless", memory_mb=512), "memory_mb must be one of"),
    (lambda: cost.estimate_endpoint("edge"), "kind must be 'realtime' or 'serverless'"),
    (lambda: cost.estimate_labeling(-5), "objects must be positive, got -5"),
    (lambda: cost.cost_cmd("estimate", kind="spot"), "--kind must be training"),
    (lambda: cost.cost_cmd("refund"), "Unknown action 'refund'"),
])
def test_bad_estimates_are_refused(call, message):
    with pytest.raises(cost.CostError, match=message): call()

def test_actuals_read_cost_explorer_grouped_by_the_project_tag(settings):
    p = settings.project
    group = lambda svc, usd: {"Keys": [f"{PROJECT_TAG}${p}", svc], "Metrics": {"UnblendedCost": {"Amount": usd, "Unit": "USD"}}}
    answer = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-09-01", "End": "2026-10-01"}, "Total": {}, "Estimated": False,
                                 "Groups": [group("Amazon SageMaker", "101.239"), group("AWS Lambda", "0.004")]}]}
    body = json.dumps({"results": [answer]}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{settings.aws_endpoint_url}/moto-api/static/ce/cost-and-usage-results", data=body, method="POST"))
    rows = cost.cost_actuals(settings, "2026-09-01", "2026-10-01")
    assert [(r["service"], r["usd"], r["project"], r["estimated"]) for r in rows] == [("Amazon SageMaker", 101.24, p, False), ("AWS Lambda", 0.0, p, False)]
    r = cost.cost_request(settings, "2026-09-01", "2026-10-01", "DAILY")
    assert r["GroupBy"] == [{"Type": "TAG", "Key": PROJECT_TAG}, {"Type": "DIMENSION", "Key": "SERVICE"}] and r["Granularity"] == "DAILY"
    assert cost.parse_costs({"ResultsByTime": []}) == []
    with pytest.raises(cost.CostError, match="start must be a YYYY-MM-DD day before end"): cost.cost_actuals(settings, "2026-10-01", "2026-10-01")

def test_budget_alerts_an_sns_topic_and_is_not_made_twice(settings):
    topic = AWSRequests(settings)("sns", "CreateTopic", Name=f"{settings.project}-budget")["TopicArn"]
    out = io.StringIO()
    with redirect_stdout(out): assert cost.create_budget(settings, 50, 90, sns_topic=topic, dry_run=True) == f"{settings.project}-monthly"
    assert "budgets CreateBudget" in out.getvalue()
    req = AWSRequests(settings)
    assert f"{settings.project}-monthly" not in [b["BudgetName"] for b in req("budgets", "DescribeBudgets", AccountId="123456789012").get("Budgets", [])]
    name = cost.create_budget(settings, 50, 90, sns_topic=topic)
    notes = req("budgets", "DescribeNotificationsForBudget", AccountId="123456789012", BudgetName=name)["Notifications"]
    assert [(n["NotificationType"], n["Threshold"], n["ThresholdType"]) for n in notes] == [("ACTUAL", 90, "PERCENTAGE")]
    # moto lacks DescribeSubscribersForNotification: the subscriber is checked in the request the dry run printed
    assert f'"Address": "{topic}"' in out.getvalue() and '"SubscriptionType": "SNS"' in out.getvalue()
    assert req("budgets", "DescribeBudget", AccountId="123456789012", BudgetName=name)["Budget"]["BudgetLimit"] == {"Amount": "50.00", "Unit": "USD"}
    with pytest.raises(cost.CostError, match=f"Budget {name} exists"): cost.create_budget(settings, 60, email="a@example.com")
    with pytest.raises(cost.CostError, match="monthly_usd must be positive"): cost.create_budget(settings, -1, email="a@example.com")

# --- cleanup

def leave_behind(s):
    "What a project leaves: a deployed endpoint with autoscaling and an alarm, a package group, a pipeline, event rules and topic, S3 outputs, a run and its working copy."
    req, p, tags = AWSRequests(s), s.project, project_tags(s)
    req("sagemaker", "CreateModel", ModelName=f"{p}-m1", PrimaryContainer={"Image": "x"}, ExecutionRoleArn=ROLE, Tags=tags)
    req("sagemaker", "CreateEndpointConfig", EndpointConfigName=f"{p}-c1", Tags=tags,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{p}-m1", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    req("sagemaker", "CreateEndpoint", EndpointName=f"{p}-drone-detector", EndpointConfigName=f"{p}-c1", Tags=tags)
    rid = f"endpoint/{p}-drone-detector/variant/AllTraffic"
    req("application-autoscaling", "RegisterScalableTarget", ServiceNamespace="sagemaker", ResourceId=rid,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=1, MaxCapacity=2, Tags={PROJECT_TAG: p})
    req("cloudwatch", "PutMetricAlarm", AlarmName=f"{p}-drone-detector-invocation-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold", Tags=tags)
    approved_package(req, f"{p}-drone-detector")
    req("sagemaker", "CreatePipeline", PipelineName=f"{p}-pipeline", PipelineDefinition='{"Version": "2020-12-01", "Steps": []}', RoleArn=ROLE,
        Tags=tags, ClientRequestToken=uuid.uuid4().hex)
    ev.create_event_rules(s)
    req("s3", "PutObject", Bucket="ops-sm", Key=f"{p}/sagemaker/outputs/job/model.tar.gz", Body=b"0" * 100)
    runs = Path(s.local_dir)/"runs"
    (runs/"r1").mkdir(parents=True); (runs/"r1"/"results.csv").write_text("epoch\n1\n")
    (runs/"r1-data").mkdir(); (runs/"r1-data"/"data.yaml").write_text("path: .\n")

ALL = ["pipeline", "event-rule", "event-rule", "sns-topic", "scalable-target", "alarm", "endpoint", "endpoint-config", "model",
       "model-package", "model-package-group", "s3-prefix", "run-folder", "working-copy"]

def test_cleanup_lists_then_removes_one_project_and_spares_its_look_alike(settings, tmp_path):
    look_alike = make_settings(tmp_path, settings.aws_endpoint_url, f"{settings.project}-b")  # names start with `<project>-` too
    leave_behind(settings); leave_behind(look_alike)
    warnings = []
    assert [f.kind for f in cl.find_resources(settings, warn=warnings.append)] == ALL
    assert all("ListMonitoringSchedules" in w and f"--name-contains {settings.project}-" in w for w in warnings)  # moto has none: a warning
    assert [f.status for f in cl.cleanup(settings)] == ["found"] * len(ALL)  # the default lists only
    assert [f.kind for f in cl.find_resources(settings)] == ALL
    done = {f.kind + " " + f.name: f.status for f in cl.cleanup(settings, yes=True)}
    left = [f.kind for f in cl.find_resources(settings)]
    # moto lacks DeleteModelPackage (500): the package row says failed, so its group is kept; all else is gone
    pkg = next(v for k, v in done.items() if k.startswith("model-package "))
    assert left == ([] if pkg == "deleted" else ["model-package", "model-package-group"])
    assert done[f"model-package-group {settings.project}-drone-detector"] == ("deleted" if pkg == "deleted" else "kept: a package in it was not deleted")
    assert all(v == "deleted" for k, v in done.items() if not k.startswith("model-package"))
    assert not (Path(settings.local_dir)/"runs"/"r1-data").exists()
    assert [f.kind for f in cl.find_resources(look_alike)] == ALL  # the look-alike project is whole
    assert AWSRequests(look_alike)("s3", "ListObjectsV2", Bucket="ops-sm", Prefix=f"{look_alike.project}/")["KeyCount"] == 1

def test_running_jobs_are_stopped_not_deleted_and_schedules_deleted(settings):
    req = AWSRequests(settings, dry_run=True, echo=lambda m: None)  # moto's jobs finish at once; it lacks StopTrainingJob and monitoring schedules
    for kind, name in (("training-job", f"{settings.project}-train-1"), ("processing-job", "pipelines-abc-Evaluate-xyz")):
        assert cl._remove(req, cl.Found(kind, name, "stop")) == "stopped"
    assert cl._remove(req, cl.Found("monitoring-schedule", f"{settings.project}-drift-ep")) == "deleted"
    assert [(op, p) for _, op, p in req.sent] == [("StopTrainingJob", {"TrainingJobName": f"{settings.project}-train-1"}),
                                                  ("StopProcessingJob", {"ProcessingJobName": "pipelines-abc-Evaluate-xyz"}),
                                                  ("DeleteMonitoringSchedule", {"MonitoringScheduleName": f"{settings.project}-drift-ep"})]
    assert cl.KINDS.index("monitoring-schedule") < cl.KINDS.index("endpoint") < cl.KINDS.index("endpoint-config") < cl.KINDS.index("model")

def test_cleanup_of_a_project_that_matches_nothing_says_so_and_deletes_nothing(settings, monkeypatch):
    leave_behind(settings)
    for k, v in (("PROJECT", settings.project), ("WORKSPACE", settings.workspace), ("LOCAL_DIR", settings.local_dir),
                 ("AWS_ENDPOINT_URL", settings.aws_endpoint_url), ("SAGEMAKER_BUCKET", "ops-sm")): monkeypatch.setenv(f"DRONEMLOPS_{k}", v)
    out = io.StringIO()
    with redirect_stdout(out): cl.cleanup_cmd(yes=True, project="nobody-here")
    assert out.getvalue().strip() == "nothing of project nobody-here found"
    assert [f.kind for f in cl.find_resources(settings)] == ALL  # local runs too: they belong to the configured project
    out = io.StringIO()
    with redirect_stdout(out): cl.cleanup_cmd()
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:4] == ["pipeline", "would", "delete", f"{settings.project}-pipeline"]
    assert lines[-1] == f"{len(ALL)} resources of project {settings.project}: run again with --yes to remove them"

def test_cleanup_without_a_bucket_or_runs_lists_aws_only(aws_env, tmp_path):
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"), aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], project=f"e{uuid.uuid4().hex[:8]}")
    assert cl.find_resources(s) == [] and cl.cleanup(s, yes=True) == []
