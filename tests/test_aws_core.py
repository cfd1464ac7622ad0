"The AWS adapter's contract: the package imports without the SageMaker SDK, and a machine without AWS configuration gets one line naming the setting."
import os, sys, subprocess, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def _no_aws_env(tmp_path) -> dict:
    "An environment with no AWS configuration at all (no variables, no config files, no instance metadata)."
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRONEMLOPS_"))}
    env.update(AWS_CONFIG_FILE=str(tmp_path/"none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path/"none"),
               AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path))
    return env

def test_every_module_imports_without_the_sagemaker_sdk():
    "Only functions that build SDK objects import it: with `sagemaker` unimportable, every module (and the CLI) still imports."
    code = textwrap.dedent("""
        import sys, pkgutil, importlib
        sys.modules["sagemaker"] = None  # import sagemaker -> ImportError
        import dronemlops
        names = [m.name for m in pkgutil.walk_packages(dronemlops.__path__, "dronemlops.")]
        for n in names: importlib.import_module(n)
        assert "sagemaker" not in {k.split(".")[0] for k, v in sys.modules.items() if v is not None}
        print(len(names), sorted(n for n in names if n.startswith("dronemlops.aws.")))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "dronemlops.aws.core" in r.stdout

def test_sdk_session_without_the_sdk_says_how_to_install_it(tmp_path):
    code = textwrap.dedent("""
        import sys; sys.modules["sagemaker"] = None
        from dronemlops.config import load_settings
        from dronemlops.aws.core import sdk_session, AWSError
        try: sdk_session(load_settings(env={}, cwd="/", aws_region="eu-west-1", sagemaker_bucket="survey-data"))
        except AWSError as e: print(e)
    """)
    env = {**_no_aws_env(tmp_path), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.stdout.strip() == "The SageMaker Python SDK is not installed: pip install 'dronemlops[aws]'.", r.stderr

@pytest.mark.parametrize("argv", [["aws", "bootstrap"], ["pipeline", "status"], ["deploy", "3"], ["train", "trees-v1", "--on", "sagemaker"]])
def test_commands_without_aws_configuration_say_which_setting(tmp_path, argv):
    "The real `dronemlops` command on a machine with no AWS configuration: exit 2 and one line naming the settings, never a traceback."
    exe = Path(sys.executable).parent/"dronemlops"
    env = {**_no_aws_env(tmp_path), "DRONEMLOPS_WORKSPACE": "s3://survey-data/team", "DRONEMLOPS_LOCAL_DIR": str(tmp_path/"local")}
    r = subprocess.run([str(exe), *argv], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    lines = r.stderr.strip().splitlines()
    assert (r.returncode, len(lines)) == (2, 1), r.stderr
    assert lines[0].startswith(f"dronemlops {argv[0]}: error: ") and "Traceback" not in r.stderr
    assert "needs AWS credentials and none were found. Set aws_profile" in lines[0], lines[0]

def test_commands_with_credentials_but_no_region_name_aws_region(tmp_path):
    exe = Path(sys.executable).parent/"dronemlops"
    env = {**_no_aws_env(tmp_path), "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example",
           "DRONEMLOPS_WORKSPACE": "s3://survey-data/team", "DRONEMLOPS_LOCAL_DIR": str(tmp_path/"local")}
    r = subprocess.run([str(exe), "pipeline", "status"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "No AWS region is configured: set aws_region (dronemlops.toml or DRONEMLOPS_AWS_REGION)" in r.stderr, r.stderr
