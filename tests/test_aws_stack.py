"The CloudFormation stack: cfn-lint and the least-privilege check on the shipped template, bootstrap on a moto server, and the one-line errors without AWS configuration."
import copy, json, os, uuid
from pathlib import Path
import pytest
from dronemlops.config import load_settings
from dronemlops.aws.core import AWSError, aws_client
from dronemlops.aws.stack import (TEMPLATE, RESOURCE_STAR, load_template, lint_template, check_least_privilege,
                                  policy_statements, bootstrap, aws_cmd, stack_parameters)

_AWS_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
             "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED")

@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    "A machine with no AWS configuration at all and no dronemlops settings: empty folder, no AWS_* or DRONEMLOPS_* variables."
    for k in list(os.environ):
        if k.startswith(("AWS_", "DRONEMLOPS_")): monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    return tmp_path

def _with_statement(**statement):
    "The shipped template with one planted Allow statement in the data scientist role."
    t = copy.deepcopy(load_template())
    t["Resources"]["DataScientistRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Sid": "Planted", "Effect": "Allow", **statement})
    return t

# --- the template ---------------------------------------------------------------------------------------------------

def test_shipped_template_passes_cfn_lint():
    assert TEMPLATE.is_file() and TEMPLATE.parent.name == "aws"
    assert lint_template() == []

def test_cfn_lint_reports_a_misspelt_action(tmp_path):
    bad = tmp_path/"stack.yaml"
    bad.write_text(TEMPLATE.read_text().replace("sagemaker:CreatePipeline", "sagemaker:CreatePipe"))
    found = lint_template(bad)
    assert len(found) == 1 and found[0].split()[1] == "W3037" and "'createpipe' is not one of" in found[0]

def test_shipped_template_is_least_privilege():
    t = load_template()
    assert check_least_privilege(t) == []
    allows = [st for st in policy_statements(t) if st["Effect"] == "Allow"]
    actions = [a for st in allows for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]
    assert not [a for a in actions if "*" in a]
    star = {a for st in allows if st.get("Resource") == "*" for a in st["Action"]}
    assert star and star <= set(RESOURCE_STAR)  # every Resource "*" action is in the documented list

def test_bucket_is_tls_only_encrypted_private_versioned_with_capture_expiry():
    r = load_template()["Resources"]
    p = r["Bucket"]["Properties"]
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(p["PublicAccessBlockConfiguration"][k] is True
               for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {x["Id"]: x for x in p["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-serving-captures"]["Prefix"] == {"Fn::Sub": "${ProjectName}/captures/"}
    assert rules["expire-serving-captures"]["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
    assert rules["abort-multipart-and-old-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    tls = r["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls == [{"Sid": "DenyPlainHTTP", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]

def test_pass_role_only_for_the_execution_role_and_only_to_sagemaker():
    passes = [st for st in policy_statements(load_template()) if "iam:PassRole" in st["Action"]]
    assert len(passes) == 3
    for st in passes:
        assert st["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        assert st["Resource"] in ({"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                                  {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ProjectName}-sagemaker-execution"})

@pytest.mark.parametrize("statement, problem", [
    (dict(Action="sagemaker:*", Resource={"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${ProjectName}-*"}),
     "wildcard action 'sagemaker:*'"),
    (dict(Action=["s3:Get*"], Resource={"Fn::Sub": "${Bucket.Arn}/${ProjectName}/*"}), "wildcard action 's3:Get*'"),
    (dict(Action="*", Resource="*"), "wildcard action '*'"),
    (dict(Action=["sagemaker:ListEndpoints", "sagemaker:DeleteEndpoint"], Resource="*"),
     'Resource "*" for sagemaker:DeleteEndpoint, not in RESOURCE_STAR'),
    (dict(Action="sagemaker:DeleteEndpoint", Resource={"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/*"}),
     "is not pinned to the project"),
    (dict(Action="s3:PutObject", Resource={"Fn::Sub": "${Bucket.Arn}/*"}), "wildcard resource '${Bucket.Arn}/*' is not pinned"),
    (dict(NotAction="iam:CreateUser", Resource="*"), "NotAction allows everything it does not list"),
    (dict(Action="s3:GetObject", NotResource={"Fn::Sub": "${Bucket.Arn}/secret/*"}), "NotResource allows everything it does not list"),
])
def test_least_privilege_catches_planted_statements(statement, problem):
    found = check_least_privilege(_with_statement(**statement))
    assert found and all(f.startswith("DataScientistRole/run-experiments/Planted: ") for f in found)  # only the planted statement
    assert any(problem in f for f in found)

def test_a_project_tag_condition_pins_an_account_wide_arn():
    arn = {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:training-job/*"}
    pinned = {"StringEquals": {"aws:RequestTag/dronemlops:project": {"Ref": "ProjectName"}}}
    assert check_least_privilege(_with_statement(Action="sagemaker:CreateTrainingJob", Resource=arn, Condition=pinned)) == []
    other = {"StringEquals": {"aws:RequestTag/dronemlops:project": "someone-else"}}
    assert len(check_least_privilege(_with_statement(Action="sagemaker:CreateTrainingJob", Resource=arn, Condition=other))) == 1

def test_a_broad_deny_is_allowed():
    assert check_least_privilege(_with_statement(Effect="Deny", Action="sagemaker:*", Resource="*")) == []

def _grants(role, action, project="survey-team"):
    "The resources on which a role's Allow statements grant `action` (the shared read policy counts for both human roles), with their conditions."
    mine = lambda w: w.startswith(f"{role}/") or (w.startswith("ReadPolicy/") and role != "ExecutionRole")
    from dronemlops.aws.stack import template_value
    out = {}
    for st in policy_statements(load_template()):
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if st["Effect"] != "Allow" or not mine(st["where"]) or action not in acts: continue
        for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]):
            out[template_value(r, {"ProjectName": project})] = st.get("Condition")
    return out

_ARN = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
_TAGGED = lambda k: {"StringEquals": {f"aws:{k}/dronemlops:project": {"Ref": "ProjectName"}}}

def test_execution_role_can_run_the_monitoring_job():
    "The schedule's job runs as the execution role: captures and baseline in, history out, the DriftDetected event and its SNS message."
    assert _grants("ExecutionRole", "s3:PutObject")["${Bucket.Arn}/survey-team/monitoring/*"] is None
    gets = _grants("ExecutionRole", "s3:GetObject")
    assert {"${Bucket.Arn}/survey-team/monitoring/*", "${Bucket.Arn}/survey-team/captures/*", "${Bucket.Arn}/survey-team/sagemaker/*"} <= set(gets)
    assert _grants("ExecutionRole", "events:PutEvents") == {
        _ARN % ("events", "event-bus/default"): {"StringEquals": {"events:source": "dronemlops.monitoring"}}}
    assert _grants("ExecutionRole", "sns:Publish") == {_ARN % ("sns", "survey-team-*"): None}
    assert _grants("ExecutionRole", "s3:DeleteObject") == {"${Bucket.Arn}/survey-team/sagemaker/checkpoints/*": None}  # unchanged

def test_ml_engineer_can_schedule_monitoring_and_manage_topics_budget_and_costs():
    sched = _ARN % ("sagemaker", "monitoring-schedule/survey-team-*")
    assert _grants("MLEngineerRole", "sagemaker:CreateMonitoringSchedule") == {sched: _TAGGED("RequestTag")}
    assert _grants("MLEngineerRole", "sagemaker:DeleteMonitoringSchedule") == {sched: _TAGGED("ResourceTag")}
    assert _grants("MLEngineerRole", "sagemaker:DescribeMonitoringSchedule") == {sched: _TAGGED("ResourceTag")}
    assert _grants("MLEngineerRole", "sagemaker:ListMonitoringSchedules") == {"*": None}
    assert sched in _grants("MLEngineerRole", "sagemaker:ListTags")
    for a in ("sns:CreateTopic", "sns:SetTopicAttributes", "sns:TagResource", "sns:ListTagsForResource", "sns:DeleteTopic"):
        assert _grants("MLEngineerRole", a) == {_ARN % ("sns", "survey-team-*"): None}, a
    assert _grants("MLEngineerRole", "sns:ListTopics") == {"*": None}
    assert _grants("MLEngineerRole", "events:ListRules") == {"*": None}
    assert _grants("MLEngineerRole", "events:ListTagsForResource") == {_ARN % ("events", "rule/survey-team-*"): None}
    assert _grants("MLEngineerRole", "ce:GetCostAndUsage") == {"*": None}
    for a in ("budgets:ViewBudget", "budgets:ModifyBudget"):
        assert _grants("MLEngineerRole", a) == {"arn:${AWS::Partition}:budgets::${AWS::AccountId}:budget/survey-team-*": None}, a
    assert "${Bucket.Arn}/survey-team/monitoring/*" in _grants("MLEngineerRole", "s3:PutObject")

def test_ml_engineer_can_clean_up_only_the_projects_resources():
    for a, kind in [("sagemaker:DeletePipeline", "pipeline"), ("sagemaker:DeleteModelPackage", "model-package"),
                    ("sagemaker:DeleteModelPackageGroup", "model-package-group")]:
        assert _ARN % ("sagemaker", f"{kind}/survey-team-*") in _grants("MLEngineerRole", a), a
    stops = _grants("MLEngineerRole", "sagemaker:StopTrainingJob")
    assert stops[_ARN % ("sagemaker", "training-job/survey-team-*")] is None
    assert stops[_ARN % ("sagemaker", "training-job/*")] == _TAGGED("ResourceTag")  # pipeline step jobs only when tagged
    assert _grants("MLEngineerRole", "s3:DeleteObject") == {"${Bucket.Arn}/survey-team/sagemaker/*": None}
    assert _ARN % ("cloudwatch", "alarm:survey-team-*") in _grants("MLEngineerRole", "cloudwatch:ListTagsForResource")
    for a in ("events:RemoveTargets", "events:DeleteRule"):
        assert _grants("MLEngineerRole", a) == {_ARN % ("events", "rule/survey-team-*"): None}, a
    dereg = _grants("MLEngineerRole", "application-autoscaling:DeregisterScalableTarget")
    assert list(dereg.values()) == [_TAGGED("ResourceTag")]
    assert _grants("MLEngineerRole", "cloudwatch:DeleteAlarms")
    # none of this reaches the data scientist
    for a in ("sagemaker:CreateMonitoringSchedule", "sagemaker:DeletePipeline", "sns:DeleteTopic", "budgets:ModifyBudget", "ce:GetCostAndUsage"):
        assert _grants("DataScientistRole", a) == {}, a

# --- bootstrap ------------------------------------------------------------------------------------------------------

def test_dry_run_prints_the_plan_and_needs_no_aws(no_aws):
    s = load_settings(env={}, cwd=no_aws, project="survey-team")
    printed = []
    plan = bootstrap(s, dry_run=True, parameters={"BucketName": "survey-team-data"}, echo=printed.append)
    assert plan["stack_name"] == "survey-team-sagemaker" and plan["action"] == "dry run"
    assert plan["parameters"] == {"ProjectName": "survey-team", "BucketName": "survey-team-data"}
    assert [r["logical_id"] for r in plan["resources"]] == ["Bucket", "BucketPolicy", "ReadPolicy", "DataScientistRole", "MLEngineerRole", "ExecutionRole"]
    text = printed[0]
    assert text.startswith("[dry run] would create or update CloudFormation stack survey-team-sagemaker")
    assert "nothing was sent" in text and "  BucketName = 'survey-team-data'" in text
    assert "  Bucket             AWS::S3::Bucket          survey-team-data; encryption AES256; public access blocked;" in text
    assert "survey-team-sagemaker-execution, assumed by sagemaker.amazonaws.com" in text

def test_cli_dry_run_prints_the_plan(no_aws, capsys):
    (no_aws/"dronemlops.toml").write_text('project = "survey-team"\n')
    aws_cmd("bootstrap", dry_run=True, capture_retention_days=7)
    out = capsys.readouterr().out
    assert "stack survey-team-sagemaker" in out and "  CaptureRetentionDays = '7'" in out
    assert "(survey-team/captures/ after 7 days)" in out

def test_bootstrap_creates_the_stack_on_moto(s_settings, capsys):
    s = s_settings
    made = bootstrap(s, dry_run=False, poll_s=0.05)
    out = made["outputs"]
    assert made["action"] == "created" and made["stack_name"] == f"{s.project}-sagemaker"
    assert out["ExecutionRoleArn"] == f"arn:aws:iam::123456789012:role/{s.project}-sagemaker-execution"
    assert out["DataScientistRoleArn"].endswith(f":role/{s.project}-data-scientist")
    assert out["MLEngineerRoleArn"].endswith(f":role/{s.project}-ml-engineer")
    printed = capsys.readouterr().out
    assert f'sagemaker_role_arn = "{out["ExecutionRoleArn"]}"\nsagemaker_bucket = "{out["BucketName"]}"' in printed
    # the resources exist, as CloudFormation made them
    s3, iam, cf = aws_client("s3", s), aws_client("iam", s), aws_client("cloudformation", s)
    assert s3.get_bucket_tagging(Bucket=out["BucketName"])["TagSet"] == [{"Key": "dronemlops:project", "Value": s.project}]
    enc = s3.get_bucket_encryption(Bucket=out["BucketName"])["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    trust = iam.get_role(RoleName=f"{s.project}-sagemaker-execution")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    for role in ("data-scientist", "ml-engineer"):
        attached = iam.list_attached_role_policies(RoleName=f"{s.project}-{role}")["AttachedPolicies"]
        assert [p["PolicyName"] for p in attached] == [f"{s.project}-sagemaker-read"]
    doc = iam.get_role_policy(RoleName=f"{s.project}-sagemaker-execution", PolicyName="sagemaker-execution")["PolicyDocument"]
    text = doc if isinstance(doc, str) else json.dumps(doc)
    assert f"arn:aws:s3:::{out['BucketName']}/{s.project}/sagemaker/checkpoints/*" in text  # the bucket's ARN was filled in
    stack = cf.describe_stacks(StackName=made["stack_name"])["Stacks"][0]
    assert {"Key": "dronemlops:project", "Value": s.project} in stack["Tags"]
    assert {"ParameterKey": "ProjectName", "ParameterValue": s.project} in stack["Parameters"]

def test_second_bootstrap_updates_the_stack(s_settings):
    first = bootstrap(s_settings, dry_run=False, poll_s=0.05, echo=lambda _: None)
    printed = []
    again = bootstrap(s_settings, dry_run=False, poll_s=0.05, echo=printed.append)
    assert again["action"] == "updated" and again["outputs"] == first["outputs"]
    assert printed[0] == f"{first['stack_name']}: UPDATE_COMPLETE" and printed[-1].startswith(f"Stack {first['stack_name']} updated.")

def test_bootstrap_refuses_another_projects_stack(s_settings, aws_env, tmp_path):
    bootstrap(s_settings, dry_run=False, poll_s=0.05, echo=lambda _: None)
    other = load_settings(env={}, cwd=tmp_path, project="other-team", aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    with pytest.raises(AWSError, match=f"Stack {s_settings.project}-sagemaker exists for project '{s_settings.project}', not 'other-team'"):
        bootstrap(other, dry_run=False, stack_name=f"{s_settings.project}-sagemaker", echo=lambda _: None)

def test_bootstrap_reports_a_refused_create_in_one_line(s_settings):
    taken = f"taken-{uuid.uuid4().hex[:8]}"
    aws_client("s3", s_settings).create_bucket(Bucket=taken)
    with pytest.raises(AWSError) as e:
        bootstrap(s_settings, dry_run=False, parameters={"BucketName": taken}, echo=lambda _: None)
    msg = str(e.value)
    assert msg.startswith(f"cloudformation CreateStack (StackName '{s_settings.project}-sagemaker'): BucketAlreadyExists") and "\n" not in msg

def test_bad_parameters_are_refused_before_anything_is_sent(no_aws):
    s = load_settings(env={}, cwd=no_aws, project="survey-team")
    with pytest.raises(AWSError, match="Stack parameter CaptureRetentionDays='0' is below the minimum 1"):
        bootstrap(s, dry_run=False, parameters={"CaptureRetentionDays": 0})
    with pytest.raises(AWSError, match="Unknown stack parameter 'Retention'"):
        stack_parameters(s, {"Retention": 3})
    with pytest.raises(AWSError, match="'my_stack' is not a CloudFormation stack name"):
        bootstrap(s, dry_run=False, stack_name="my_stack")

# --- no region, no credentials (the bad-input case of issue 13) -------------------------------------------------------

def test_cli_without_credentials_names_the_settings(no_aws):
    (no_aws/"dronemlops.toml").write_text('project = "survey-team"\naws_region = "eu-west-1"\n')
    with pytest.raises(AWSError) as e: aws_cmd("bootstrap")
    msg = str(e.value)
    assert "needs AWS credentials and none were found" in msg and "aws_profile" in msg and "AWS_ACCESS_KEY_ID" in msg
    assert "\n" not in msg and "Traceback" not in msg

def test_cli_without_region_names_the_setting(no_aws, monkeypatch):
    (no_aws/"dronemlops.toml").write_text('project = "survey-team"\n')
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"); monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    with pytest.raises(AWSError) as e: aws_cmd("bootstrap")
    msg = str(e.value)
    assert msg.startswith("No AWS region is configured: set aws_region (dronemlops.toml or DRONEMLOPS_AWS_REGION)") and "\n" not in msg

def test_cli_unknown_action(no_aws):
    with pytest.raises(AWSError, match="Unknown aws action 'boot': the actions are: bootstrap."): aws_cmd("boot")

@pytest.fixture
def s_settings(aws_env, tmp_path):
    "Settings on the moto server with a project of its own, so each test's stack and roles are new."
    return load_settings(env={}, cwd=tmp_path, project=f"t{uuid.uuid4().hex[:10]}", aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"])

def test_resource_star_actions_have_no_resource_type_in_aws_reference():
    "AWS's action list (cfn-lint's copy) gives the allow-listed actions no resource type, but PutMetricData's optional dataset."
    import cfnlint
    spec = json.loads((Path(cfnlint.__file__).parent/"data"/"AdditionalSpecs"/"Policies.json").read_text())
    types = {a: spec[a.split(":")[0]]["Actions"][a.split(":")[1].lower()].get("Resources", []) for a in RESOURCE_STAR}
    assert {a: t for a, t in types.items() if t} == {"cloudwatch:PutMetricData": ["dataset"], "ce:GetCostAndUsage": ["billingview"]}
    put = [st for st in policy_statements(load_template()) if st.get("Action") == ["cloudwatch:PutMetricData"]]
    assert [st["Condition"] for st in put] == [{"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}]

def test_aws_verb_parses_its_flags():
    from fastcore.script import anno_parser
    args = vars(anno_parser(aws_cmd).parse_args(["bootstrap", "--dry-run", "--capture-retention-days", "7", "--stack-name", "x-stack"]))
    assert (args["action"], args["dry_run"], args["capture_retention_days"], args["stack_name"]) == ("bootstrap", True, 7, "x-stack")
    assert vars(anno_parser(aws_cmd).parse_args(["bootstrap"]))["dry_run"] is False  # without the flag it creates

def test_dronemlops_aws_bootstrap_without_credentials_exits_2_with_one_line(no_aws, monkeypatch, capsys):
    "Through the command's entry point (the verb put in VERBS here, as the CLI notebook does)."
    from dronemlops import cli
    monkeypatch.setitem(cli.VERBS, "aws", aws_cmd)
    (no_aws/"dronemlops.toml").write_text('project = "survey-team"\naws_region = "eu-west-1"\n')
    assert cli.main(["aws", "bootstrap"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dronemlops aws: error: SageMaker and the other AWS services needs AWS credentials")
    assert "aws_profile" in err and "Traceback" not in err
    assert cli.main(["aws", "bootstrap", "--dry-run"]) == 0
    assert "[dry run] would create or update CloudFormation stack survey-team-sagemaker in eu-west-1" in capsys.readouterr().out
