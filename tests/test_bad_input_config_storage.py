"""Bad input at the config and storage boundaries: a one-line project error naming the file or setting, never a traceback.

Every case goes through the real `dronemlops` command (exit status 2, `dronemlops VERB: error: ...`, no traceback), and
the config readers are fuzzed with hypothesis: any content parses to valid settings or raises ConfigError naming the file."""
import os, sys, time, errno, ctypes, subprocess, uuid, pytest
from pathlib import Path
from hypothesis import given, settings as hsettings, strategies as st, HealthCheck
from dronemlops.config import (ConfigError, SETTING_NAMES, ENV_NOT_SETTINGS, Settings, load_settings,
                               read_config_file, settings_from_env)
from dronemlops.storage import S3Storage, StorageError, os_errors, open_storage
from dronemlops.testing import free_port

CLI = str(Path(sys.executable).parent/"dronemlops")

def clean_env(**extra) -> dict:
    "The environment without dronemlops or AWS settings, plus `extra`."
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRONEMLOPS_", "AWS_"))}
    return {**env, "AWS_EC2_METADATA_DISABLED": "true", **extra}

def cli_error(args:list, cwd:Path, env:dict|None=None, preexec_fn=None) -> str:
    "Run `dronemlops ARGS`; assert it failed with one project error line and no traceback; return that line."
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env or clean_env(), preexec_fn=preexec_fn, timeout=120)
    assert r.returncode == 2, f"exit {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dronemlops {args[0]}: error: "), r.stderr
    return lines[0]

# --- 1. the workspace is a file -------------------------------------------------------------------------------------

@pytest.mark.parametrize("verb", ["datasets", "sample", "config"])
def test_workspace_that_is_a_file(tmp_path, verb):
    (tmp_path/"somefile").write_text("not a folder")
    msg = cli_error([verb, "--workspace", "somefile"], tmp_path)
    assert f"workspace {tmp_path.resolve()/'somefile'} (argument) is a file, not a folder" in msg and "point workspace at a folder" in msg

def test_workspace_file_from_env_names_the_variable(tmp_path):
    (tmp_path/"somefile").write_text("x")
    msg = cli_error(["datasets"], tmp_path, clean_env(DRONEMLOPS_WORKSPACE=str(tmp_path/"somefile")))
    assert "(env DRONEMLOPS_WORKSPACE) is a file, not a folder" in msg

# --- 2. permissions and symbolic-link loops -------------------------------------------------------------------------

def _drop_root_override():
    "preexec_fn: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so that file permissions apply to root after exec."
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0: raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")  # 24 = PR_CAPBSET_DROP

@pytest.fixture
def enforced(tmp_path):
    "A preexec_fn under which file permissions apply to the child (root's override dropped), or skip where that cannot be done."
    fn = _drop_root_override if os.geteuid() == 0 else None
    probe = tmp_path/"probe"; probe.mkdir(); probe.chmod(0o000)
    try: r = subprocess.run([sys.executable, "-c", f"import os; os.listdir({str(probe)!r})"], preexec_fn=fn, capture_output=True)
    except subprocess.SubprocessError: r = None  # no CAP_SETPCAP: root cannot drop its override
    finally: probe.chmod(0o700)
    if r is None or b"PermissionError" not in r.stderr: pytest.skip("file permissions are not enforced for this user (root without CAP_SETPCAP)")
    return fn

@pytest.mark.parametrize("verb,mode", [("datasets", 0o000), ("sample", 0o000), ("sample", 0o500)])
def test_workspace_without_permission(tmp_path, enforced, verb, mode):
    ws = tmp_path/"ws"; ws.mkdir(); ws.chmod(mode)
    try: msg = cli_error([verb, "--workspace", ws], tmp_path, preexec_fn=enforced)
    finally: ws.chmod(0o700)
    assert f"(workspace {ws.resolve()}): permission denied" in msg and "chmod" in msg, msg

def test_unreadable_images_in_two_splits_are_not_leakage(tmp_path, enforced):
    "Two images the validator cannot read, one per split: each is an error naming it, and never 'the same content' in two splits."
    import shutil
    from dronemlops.dataset import build_sample_dataset
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    info = build_sample_dataset(settings=s)
    d = tmp_path/"copy"; shutil.copytree(open_storage(settings=s).path(f"datasets/{info['name']}"), d)
    locked = [sorted((d/split/"images").iterdir())[0] for split in ("train", "val")]
    for p in locked: p.chmod(0o000)
    try: r = subprocess.run([CLI, "validate", str(d), "--min-train", "1", "--min-val", "1"], capture_output=True, text=True, env=clean_env(), preexec_fn=enforced, timeout=300)
    finally:
        for p in locked: p.chmod(0o644)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    for p in locked: assert f"{p.parent.parent.name}/images/{p.name}: image cannot be read" in r.stdout, (r.stdout[-3000:], r.stderr[-3000:])
    assert "leakage" not in r.stdout, r.stdout[-3000:]

def test_permission_error_translation():
    # Root bypasses file permissions, so the translation is also checked directly with the error the OS raises
    def denied():
        with os_errors("workspace /ws"): raise PermissionError(errno.EACCES, "Permission denied", "/ws/raw")
    with pytest.raises(StorageError, match=r"^Cannot use /ws/raw \(workspace /ws\): permission denied: give this user read and write access"): denied()

@pytest.mark.parametrize("verb", ["datasets", "sample", "config"])
def test_workspace_that_is_a_symlink_loop(tmp_path, verb):
    os.symlink("loop", tmp_path/"loop")
    msg = cli_error([verb, "--workspace", "loop"], tmp_path)
    assert "workspace 'loop' (argument) cannot be used" in msg and "fix or remove the link" in msg

@pytest.mark.parametrize("verb,link", [("datasets", "datasets"), ("sample", "raw")])
def test_symlink_loop_inside_the_workspace(tmp_path, verb, link):
    ws = tmp_path/"ws"; ws.mkdir(); os.symlink(link, ws/link)
    msg = cli_error([verb, "--workspace", ws], tmp_path)
    assert str(ws.resolve()/link) in msg and "fix or remove the link" in msg, msg

# --- 3. config files that are not UTF-8 -----------------------------------------------------------------------------

@pytest.mark.parametrize("name,text", [("dronemlops.toml", 'project = "forest"\nworkspace = "d\xe9j\xe0"\n'),
                                       ("dronemlops.yaml", "project: forest\nworkspace: d\xe9j\xe0\n")])
def test_config_file_not_utf8(tmp_path, name, text):
    (tmp_path/name).write_bytes(text.encode("latin-1"))
    msg = cli_error(["config"], tmp_path)
    assert f"Config file {tmp_path.resolve()/name} is not UTF-8 text (byte 0xe9 at line 2): save it as UTF-8." in msg

@pytest.mark.parametrize("name,text,where", [("dronemlops.toml", 'workspace = "data\n', "line 1"),
                                             ("dronemlops.yaml", "project: forest\nmin_val_images: !!int many\n", "line 2"),
                                             ("dronemlops.yaml", "workspace: [data\n", "line 2")])
def test_malformed_config_names_file_and_line(tmp_path, name, text, where):
    (tmp_path/name).write_text(text)
    msg = cli_error(["config"], tmp_path)
    assert "Malformed" in msg and str(tmp_path.resolve()/name) in msg and where in msg, msg

def test_config_named_by_env_is_a_folder(tmp_path):
    (tmp_path/"conf.toml").mkdir()
    msg = cli_error(["config"], tmp_path, clean_env(DRONEMLOPS_CONFIG=str(tmp_path/"conf.toml")))
    assert f"Cannot read config file {tmp_path/'conf.toml'}: a folder stands where a file is needed" in msg

# --- 4. S3 endpoints that refuse connections or are not URLs --------------------------------------------------------

def s3_env(**extra) -> dict:
    "Throw-away AWS credentials, plus `extra` (an endpoint)."
    return clean_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", **extra)

@pytest.mark.parametrize("verb", ["datasets", "sample"])
def test_s3_endpoint_that_refuses_connections(tmp_path, verb):
    closed = f"http://127.0.0.1:{free_port()}"
    t = time.monotonic()
    msg = cli_error([verb, "--workspace", "s3://drone-bucket/ws"], tmp_path, s3_env(DRONEMLOPS_AWS_ENDPOINT_URL=closed))
    took = time.monotonic() - t
    assert f"Cannot reach the S3 endpoint {closed} (setting aws_endpoint_url, env DRONEMLOPS_AWS_ENDPOINT_URL) for s3://drone-bucket/ws/" in msg
    assert "service is running" in msg
    assert took < 30, took  # the whole command, interpreter start included; the refusal itself is timed below

@pytest.mark.parametrize("var,value,expect", [
    ("DRONEMLOPS_AWS_ENDPOINT_URL", "not a url", "aws_endpoint_url (env DRONEMLOPS_AWS_ENDPOINT_URL) is 'not a url', which is not an http(s)://host[:port] URL"),
    ("DRONEMLOPS_AWS_ENDPOINT_URL", "ftp://127.0.0.1", "is not an http(s)://host[:port] URL"),
    ("AWS_ENDPOINT_URL", "not a url", "Cannot open workspace s3://drone-bucket/ws: Invalid endpoint: not a url. Check the S3 endpoint (from AWS_ENDPOINT_URL")])
def test_s3_endpoint_that_is_not_a_url(tmp_path, var, value, expect):
    assert expect in cli_error(["datasets", "--workspace", "s3://drone-bucket/ws"], tmp_path, s3_env(**{var: value}))

def test_every_s3_operation_names_a_refusing_endpoint(tmp_path, monkeypatch):
    closed = f"http://127.0.0.1:{free_port()}"
    for k, v in s3_env().items():
        if k.startswith("AWS_"): monkeypatch.setenv(k, v)
    s = load_settings(env={}, cwd=tmp_path, aws_endpoint_url=closed, local_dir=str(tmp_path/"local"))
    st = open_storage("s3://drone-bucket/ws", settings=s)
    src = tmp_path/"src"; src.mkdir(); (src/"a.txt").write_text("a")
    ops = {"exists": lambda: st.exists("a.txt"), "ls": lambda: st.ls("raw"), "read_bytes": lambda: st.read_bytes("a.txt"),
           "write_bytes": lambda: st.write_bytes("a.txt", b"x"), "put_file": lambda: st.put_file(src/"a.txt", "a.txt"),
           "get_file": lambda: st.get_file("a.txt", tmp_path/"got.txt"), "publish": lambda: st.publish(src, "raw/v1"),
           "versions": lambda: st.versions("raw"), "delete": lambda: st.delete("raw/v1")}
    slowest = 0.0
    for name, op in ops.items():
        t = time.monotonic()
        with pytest.raises(StorageError, match=f"Cannot reach the S3 endpoint {closed}"): op()
        slowest = max(slowest, time.monotonic() - t)
    print(f"slowest refusal: {slowest:.2f} s")
    assert slowest < 5, slowest

def test_s3_upload_to_a_missing_bucket_is_named(s3_settings, tmp_path):
    # boto3 wraps a ClientError in upload_file into S3UploadFailedError: it must still name the bucket
    (tmp_path/"a.txt").write_text("a")
    st = S3Storage(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/ws", s3_settings)
    with pytest.raises(StorageError, match="Bucket 'no-such-bucket-.*' of workspace .* does not exist"): st.put_file(tmp_path/"a.txt", "a.txt")

# --- 5. values that must be refused ---------------------------------------------------------------------------------

def test_empty_workspace_argument(tmp_path):
    msg = cli_error(["config", "--workspace", ""], tmp_path)
    assert "workspace is empty (argument): give a local folder or an s3://bucket/prefix URI" in msg

def test_empty_workspace_env_is_refused_not_shown_as_a_source(tmp_path):
    msg = cli_error(["config"], tmp_path, clean_env(DRONEMLOPS_WORKSPACE=""))
    assert "Setting 'workspace' in environment variable DRONEMLOPS_WORKSPACE is empty: set a value or unset DRONEMLOPS_WORKSPACE" in msg

@pytest.mark.parametrize("how", ["file", "env"])
def test_negative_minimum(tmp_path, how):
    if how == "file": (tmp_path/"dronemlops.toml").write_text("min_train_images = -5\n"); env = clean_env()
    else: env = clean_env(DRONEMLOPS_MIN_VAL_IMAGES="-1")
    msg = cli_error(["datasets"], tmp_path, env)
    assert "must be a whole number >= 0" in msg and ("config file" in msg if how == "file" else "DRONEMLOPS_MIN_VAL_IMAGES" in msg)

@pytest.mark.parametrize("name", ["", "  ", "../x", "a/b"])
def test_sample_name_is_refused(tmp_path, name):
    msg = cli_error(["sample", "--workspace", tmp_path/"ws", "--name", name], tmp_path)
    assert f"Raw collection name {name!r} is not a valid name" in msg
    assert not (tmp_path/"ws"/"raw").exists()  # nothing was published, `raw/` itself least of all

@pytest.mark.parametrize("name", ["../../something", "../../nbs/00_config", "/etc/passwd", ""])
def test_workflow_name_that_leaves_the_folder(tmp_path, name):
    msg = cli_error(["workflow", name, "--workspace", tmp_path/"ws"], tmp_path)
    assert f"No workflow {name!r}" in msg and "available: end_to_end" in msg

# --- 6. property-based: the config readers never raise anything but ConfigError -------------------------------------

SETTINGS_KEYS = st.one_of(st.sampled_from(SETTING_NAMES), st.text(max_size=12))
TOML_VALUES = st.one_of(st.text(max_size=20).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
                        st.integers(-10**6, 10**6).map(str), st.sampled_from(["true", "false", "1.5", "[1, 2]", "{a = 1}", "1979-05-27",
                        '"~nosuchuser-xyz/ws"', '"s3://b"', '"s3://bucket/p"', '"http://127.0.0.1:9000"', '"\\u0000"', "''", '""']),
                        st.text(max_size=10))
TOML_TEXT = st.one_of(st.text(max_size=200),
                      st.lists(st.tuples(SETTINGS_KEYS, TOML_VALUES).map(lambda kv: f"{kv[0]} = {kv[1]}"), max_size=6).map("\n".join))
YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=20),
                         st.dates(), st.binary(max_size=8))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=5)
YAML_TEXT = st.one_of(st.text(max_size=200), st.dictionaries(SETTINGS_KEYS, YAML_VALUES, max_size=6).map(lambda d: __import__("yaml").safe_dump(d)),
                      st.lists(st.tuples(SETTINGS_KEYS, st.sampled_from(["!!int abc", "2001-13-01", "!!bool maybe", "!!timestamp x", "~",
                               "[unclosed", "*alias", "!!python/name:os.system", "-5", "''", "\"\\x00\""])), max_size=4)
                      .map(lambda kvs: "\n".join(f"{k}: {v}" for k, v in kvs)))
FUZZ = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory): return tmp_path_factory.mktemp("fuzz")

@pytest.fixture(scope="module")
def env_cwd(tmp_path_factory): return tmp_path_factory.mktemp("envcwd")  # holds no config file, unlike fuzz_dir

def check_file(path:Path, content:bytes):
    "Reading `content` as config file `path` gives valid settings or a ConfigError naming the file (and line for syntax errors)."
    path.write_bytes(content)
    try: read_config_file(path)
    except ConfigError as e:
        assert str(path) in str(e), e
        if str(e).startswith("Malformed TOML"): assert "line" in str(e), e
        assert "\n" not in str(e), e
    try: s = load_settings(config_file=path, env={}, cwd=path.parent)
    except ConfigError as e: assert str(path.resolve()) in str(e) or str(path) in str(e), e
    else: assert isinstance(s, Settings) and Path(s.workspace).is_absolute() or s.is_s3

@FUZZ
@given(text=TOML_TEXT)
def test_toml_reader_never_raises_another_error(fuzz_dir, text):
    check_file(fuzz_dir/"dronemlops.toml", text.encode("utf-8", "surrogatepass"))

@FUZZ
@given(text=YAML_TEXT)
def test_yaml_reader_never_raises_another_error(fuzz_dir, text):
    check_file(fuzz_dir/"dronemlops.yaml", text.encode("utf-8", "surrogatepass"))

@FUZZ
@given(data=st.binary(max_size=200), suffix=st.sampled_from(["toml", "yaml"]))
def test_config_bytes_never_raise_another_error(fuzz_dir, data, suffix):
    check_file(fuzz_dir/f"dronemlops.{suffix}", data)

ENV_NAMES = st.one_of(st.sampled_from([f"DRONEMLOPS_{k.upper()}" for k in SETTING_NAMES]), st.text(max_size=10).map(lambda s: f"DRONEMLOPS_{s}"))
ENV_VALUES = st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "-5", "²", "007", "yes", "maybe", "s3://", "s3://bucket/p", "~nosuchuser-xyz",
                                                               "\x00", "http://[::1", "not a url", "\udcff"]))

@FUZZ
@given(env=st.dictionaries(ENV_NAMES, ENV_VALUES, max_size=5))
def test_env_reader_never_raises_another_error(env_cwd, env):
    env = {k: v for k, v in env.items() if k not in ENV_NOT_SETTINGS}
    try: settings_from_env(env)
    except ConfigError as e: assert "environment variable DRONEMLOPS_" in str(e), e
    try: load_settings(env=env, cwd=env_cwd)
    except ConfigError as e: assert "DRONEMLOPS_" in str(e), e
