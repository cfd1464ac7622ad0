"Drift monitoring on the real sample (the model's own baseline, changed frames, the unlabelled frames), bad input, the retraining trigger under concurrent checks (threads and processes), the AWS action on the moto server, and monitor_run on local and S3 workspaces."
import base64, datetime as dt, io, json, math, os, shutil, subprocess, sys, textwrap, threading, time, uuid
from pathlib import Path
import numpy as np, pytest
from PIL import Image, ImageEnhance, ImageFilter
from dronemlops.config import load_settings, DroneMLOpsError
from dronemlops.storage import open_storage, S3Storage
from dronemlops.sample import deepforest_data_dir
from dronemlops.dataset import build_sample_dataset, tile_windows
from dronemlops.images import image_files
from dronemlops.predict import load_model, predict
from dronemlops.serve import detections_json
from dronemlops.capture import CaptureWriter, capture_record, capture_folder
from dronemlops.aws.core import AWSRequests, AWSError
from dronemlops.monitor import *
from dronemlops.monitor import _jsonable

DATASET = "mon_test_20261128_1200"
WHEN = dt.datetime(2026, 11, 28, 10, 5, tzinfo=dt.timezone.utc)

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    "A workspace with the sample's block-split dataset, the starter, its baseline, and the val tiles changed three ways."
    tmp = tmp_path_factory.mktemp("monitor")
    settings = load_settings(env={}, cwd=tmp, workspace=str(tmp/"ws"))
    store = open_storage(settings=settings)
    build_sample_dataset(DATASET, block_size=320, tile_size=200, settings=settings, store=store)
    det = load_model("starter", settings)
    baseline = build_baseline(DATASET, det, settings=settings, store=store)
    val = image_files(store.path(f"datasets/{DATASET}/val/images"))
    changes = {"brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.6), "darker": lambda im: ImageEnhance.Brightness(im).enhance(0.5),
               "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(2)), "rescaled": lambda im: im.resize((3 * im.width // 2, 3 * im.height // 2))}  # 300 px: still one window
    for k, fn in changes.items():
        (tmp/k).mkdir()
        for p in val: fn(Image.open(p).convert("RGB")).save(tmp/k/f"{p.stem}.png")
    return {"tmp": tmp, "settings": settings, "store": store, "det": det, "baseline": baseline, "val": val}

def report_of(world, folder, name="w"):
    return drift_report(world["baseline"], sample_images(folder, world["det"]), name, str(folder))

# --- real data -------------------------------------------------------------------------------------------------------

def test_val_tiles_do_not_drift(world):
    r = report_of(world, world["val"], "val")
    assert (r.severity, r.drifted, r.records) == ("ok", [], len(world["val"]))
    t = r.table.set_index("feature")
    assert t.loc["detections", "psi"] == 0 and t.loc["detections", "ks"] == 0  # the baseline's own predictions
    assert set(t.loc[["gps_lat", "gps_lon", "gps_alt", "hour_of_day"], "severity"]) == {"n/a"}  # the sample has no EXIF

@pytest.mark.parametrize("change,features", [("brighter", {"brightness"}), ("darker", {"brightness", "contrast"}),
                                             ("blurred", {"sharpness"}), ("rescaled", {"width", "height"})])
def test_changed_frames_drift_on_the_right_features(world, change, features):
    r = report_of(world, world["tmp"]/change, change)
    assert r.severity == "drift" and features <= set(r.drifted), r.table[["feature", "psi", "ks", "severity"]]
    if change != "rescaled": assert not {"width", "height"} & set(r.drifted)
    if change in ("brighter", "blurred"): assert "brightness" in r.drifted if change == "brighter" else "brightness" not in r.drifted

def test_unlabelled_frames(world):
    "Three whole frames are too few to compare; as 200 px tiles they drift (the DJI colony photo is nothing like the forests)."
    unl = world["tmp"]/"unlabelled"; unl.mkdir(exist_ok=True)
    for n in ("SOAP_031.png", "OSBS_029.tif", "AWPE Pigeon Lake 2020 DJI_0005.JPG"): shutil.copy(deepforest_data_dir()/n, unl/n)
    whole = report_of(world, unl)
    assert (whole.severity, set(whole.table["severity"])) == ("ok", {"n/a"})
    tiles = world["tmp"]/"unlabelled_tiles"; tiles.mkdir(exist_ok=True)
    for p in sorted(unl.iterdir()):
        im = Image.open(p).convert("RGB")
        for w in tile_windows(im.width, im.height, 200, 0.0): im.crop(w).save(tiles/f"{p.stem}_{w[0]}_{w[1]}.png")
    r = report_of(world, tiles)
    assert r.severity == "drift" and {"brightness", "contrast", "score_mean"} <= set(r.drifted)
    assert whole.current["gps_lat"].notna().sum() == 1  # the DJI frame carries GPS (its tiles lose it), the baseline has none: n/a
    assert r.table.set_index("feature").loc["gps_lat", "severity"] == "n/a"

def test_captures_and_folder_give_the_same_features(world):
    det, val = world["det"], world["val"]
    folder = world["tmp"]/"cap"
    settings = load_settings(env={}, cwd=world["tmp"], workspace=str(folder))
    with CaptureWriter(det.version, settings=settings) as w:
        for p in val: w.record(p.read_bytes(), "image/png", json.dumps(detections_json(predict(det, p))), when=WHEN)
    a, b = sample_captures(folder/"captures").frame(), sample_images(val, det).frame()
    assert a["detections"].tolist() == b["detections"].tolist()
    np.testing.assert_allclose(a["brightness"], b["brightness"], atol=1e-4)
    np.testing.assert_allclose(a["score_mean"], b["score_mean"], atol=1e-4)

# --- bad input ---------------------------------------------------------------------------------------------------------

def test_garbage_capture_lines_are_counted_and_listed(world, tmp_path):
    settings = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    png = world["val"][0].read_bytes()
    doc = json.dumps(detections_json(predict(world["det"], png)))
    with CaptureWriter("m", settings=settings) as w:
        for _ in range(5): w.record(png, "image/png", doc, when=WHEN)
        w.record(b"\x89PNG truncated", "image/png", doc, when=WHEN)
        w.record(png, "image/png", '{"no": "detections"}', when=WHEN)
        w.record(b'{"neither": 1}', "application/json", doc, when=WHEN)
        w.record(b'{"image": ', "application/json", doc, when=WHEN)
        w.record(b'{"image": "!!not base64!!"}', "application/json", doc, when=WHEN)
    f = next((tmp_path/"ws"/"captures").rglob("*.jsonl"))
    with open(f, "ab") as fh:
        fh.write(b'{"captureData": {"endpointInput": {}, "endpointOutput": {}}}\n')  # parses, but holds no data
        fh.write(b"\x00\xffgarbage\n[1, 2]\n{\"captureData\": {\"endpointInput\": {\"data\": \"AAA")
    bad = BadLines()
    fs = sample_captures(tmp_path/"ws"/"captures", bad=bad)
    assert (fs.records, len(fs.rows), bad.total) == (5, 5, 9)
    reasons = [b.reason.split(": ", 1)[-1] if b.line == 0 else b.reason for b in bad]
    assert [b.line for b in bad[6:]] == [12, 13, 14] and all(b.file == str(f) for b in bad[6:])
    assert [r.split(" (")[0] for r in reasons[:6]] == ["input is not a readable image", "output is not a detections document",
                                                      'input JSON has neither "image" nor "s3_uri"', "input is JSON that does not parse",
                                                      'input "image" is not base64', "capture fields unreadable"]
    assert reasons[6].startswith("not JSON") and reasons[7] == "not a JSON object" and reasons[8].startswith("truncated line")
    r = drift_report(world["baseline"], fs, "w", "x", bad)
    assert (r.bad_total, len(r.bad)) == (9, 9)
    capped = BadLines(limit=2)
    sample_captures(tmp_path/"ws"/"captures", bad=capped)
    assert (capped.total, len(capped)) == (9, 2)

def test_missing_baseline_names_what_to_run(world, tmp_path):
    settings = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    with pytest.raises(MonitorError, match=r"build_baseline\(DATASET.*dronemlops monitor baseline --dataset DATASET"):
        load_baseline("models:/drone-detector/3", settings)
    with pytest.raises(MonitorError, match="No drift baseline for models:/drone-detector/3"):  # before anything is read
        monitor_run("models:/drone-detector/3", source=tmp_path/"nothing", settings=settings)
    with pytest.raises(MonitorError, match="No dataset version 'nope'.*build or import one first"):
        build_baseline("nope", world["det"], settings=settings)
    st = open_storage(settings=settings)
    (tmp_path/"only_train"/"train"/"images").mkdir(parents=True); shutil.copy(world["val"][0], tmp_path/"only_train"/"train"/"images")
    st.publish(tmp_path/"only_train", "datasets/only_train_20261128_1200")
    with pytest.raises(MonitorError, match="has no val images"): build_baseline("only_train_20261128_1200", world["det"], settings=settings, store=st)
    st.write_text(baseline_key("m"), '{"model": "m"}')
    with pytest.raises(MonitorError, match="not a baseline \\(no `features`\\)"): load_baseline("m", settings, st)

@pytest.mark.parametrize("thresholds,match", [({"psi": (0.3, 0.2)}, "out of range"), ({"ks": (0.1, 1.2)}, "out of range"),
                                              ({"wasserstein": (0, 0.5)}, "out of range"), ({"psi": (float("nan"), 1)}, "out of range"),
                                              ({"psi": 0.2}, "pair of numbers"), ({"sharpnes": {"psi": (0.1, 0.2)}}, "neither a statistic"),
                                              ({"sharpness": {"t": (0.1, 0.2)}}, "unknown statistic"), ({"sharpness": 3}, "must map")])
def test_thresholds_out_of_range_are_refused(world, thresholds, match):
    with pytest.raises(MonitorError, match=match): compare_features(world["baseline"], sample_images(world["val"][:5], world["det"]).frame(), thresholds)

def test_alpha_and_window_refused(world):
    with pytest.raises(MonitorError, match=r"alpha must be in \(0, 1\)"): compare_features(world["baseline"], None, alpha=1.5)
    with pytest.raises(MonitorError, match="YYYY-MM-DDTHH"): window_folder("2026-11-28 10h")
    with pytest.raises(MonitorError, match="no captures"):
        monitor_run(world["det"], window="2026-01-01T00", settings=world["settings"], store=world["store"], log_to_mlflow=False)
    with pytest.raises(MonitorError, match="Window id"):
        monitor_run(world["det"], source=world["tmp"]/"blurred", window="../x", settings=world["settings"], store=world["store"])

def test_thresholds_per_feature_change_the_verdict(world):
    fs = sample_images(world["tmp"]/"brighter", world["det"])
    loose = {"brightness": {s: (50, 99) for s in ("psi", "wasserstein")} | {"ks": (0.99, 1.0)}}
    assert "brightness" not in drift_report(world["baseline"], fs, "w", thresholds=loose).drifted
    assert "brightness" in drift_report(world["baseline"], fs, "w").drifted

# --- statistics --------------------------------------------------------------------------------------------------------

def test_psi_values():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 5000)
    assert psi(base, rng.normal(0, 1, 5000)) < 0.02
    assert 0.1 < psi(base, rng.normal(0.5, 1, 5000)) < 0.5
    assert psi(base, rng.normal(3, 1, 5000)) > 3
    assert psi(np.zeros(100), np.ones(100)) > 3 and psi(np.zeros(100), np.zeros(30)) < 0.1

def test_reservoir_is_uniform_and_bounded():
    fs = FeatureSample(size=500, seed=3)
    for i in range(100_000): fs.add({"i": i})
    kept = fs.frame()["i"]
    assert (fs.seen, len(kept), kept.nunique()) == (100_000, 500, 500)
    assert abs(kept.mean() - 50_000) < 4000 and kept.min() < 5000 and kept.max() > 95_000

# --- history and trigger -----------------------------------------------------------------------------------------------

def test_trigger_policy_and_key():
    h = [{"window": f"h{i}", "severity": s} for i, s in enumerate(["drift", "warning", "ok", "drift"])]
    assert not evaluate_trigger(h, "m").fire  # the last 3: warning, ok, drift
    d = evaluate_trigger(h, "m", TriggerPolicy(n=2, m=3, level="warning"))
    assert d.fire and d.event["drifted_windows"] == ["h1", "h3"] and len(d.key) == 32
    assert d.key == evaluate_trigger(h, "m", TriggerPolicy(n=2, m=3, level="warning")).key != evaluate_trigger(h, "m2", TriggerPolicy(2, 3, "warning")).key
    g = evaluate_trigger(h[:1], "m", new_labels_map=0.1, labels_id="new_labels_20261128_0900")
    assert g.fire and g.key == evaluate_trigger(h[:1], "m", new_labels_map=0.2, labels_id="new_labels_20261128_0900").key
    assert not evaluate_trigger(h[:1], "m", new_labels_map=0.3).fire  # at the gate is not below it
    for bad in (dict(n=0), dict(n=3, m=2), dict(n=1.5), dict(level="ok"), dict(map_gate=-0.1), dict(cooldown_hours=float("inf"))):
        with pytest.raises(MonitorError, match="Trigger policy"): TriggerPolicy(**bad)

def test_eight_threads_start_one_retraining(tmp_path):
    d = evaluate_trigger([{"window": "a", "severity": "drift"}, {"window": "b", "severity": "drift"}], "models:/drone-detector/2")
    calls, barrier = [], threading.Barrier(8)
    def slow(event): time.sleep(0.2); calls.append(event["key"]); return "run-1"
    out = [None] * 8
    def check(i): barrier.wait(); out[i] = fire_trigger(d, local_action(slow), tmp_path)
    ts = [threading.Thread(target=check, args=(i,)) for i in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert calls == [d.key] and [o.started for o in out].count(True) == 1
    assert [o.result for o in out if o.started][0] == {"action": "local", "function": "slow", "result": "run-1"}
    assert sum("already started" in o.reasons[-1] for o in out) == 7
    assert json.loads((tmp_path/TRIGGERS/f"{d.key}.json").read_text())["result"]["result"] == "run-1"

PROC = textwrap.dedent("""
    import sys, json, os, time
    from dronemlops.monitor import evaluate_trigger, fire_trigger, local_action, TriggerPolicy
    state, log, start, model = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    d = evaluate_trigger([{"window": "a", "severity": "drift"}, {"window": "b", "severity": "drift"}], model)
    def start_pipeline(event):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT); os.write(fd, (str(os.getpid()) + "\\n").encode()); os.close(fd)
        return os.getpid()
    while time.time() < start: time.sleep(0.001)
    r = fire_trigger(d, local_action(start_pipeline), state, TriggerPolicy(cooldown_hours=1))
    print(json.dumps({"started": r.started, "reason": r.reasons[-1]}))
""")

def test_four_processes_start_one_retraining(tmp_path):
    log, start = tmp_path/"started.log", time.time() + 2.0
    def launch(model): return [subprocess.Popen([sys.executable, "-c", PROC, str(tmp_path/"state"), str(log), str(start), model],
                                                stdout=subprocess.PIPE, text=True) for _ in range(4)]
    procs = launch("models:/drone-detector/2")
    res = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert sum(r["started"] for r in res) == 1 and len(log.read_text().split()) == 1
    assert sorted(r["reason"].split(" for key")[0] for r in res if not r["started"]) == ["already started"] * 3
    # new evidence (another key) inside the cooldown: nobody starts
    start = time.time() + 2.0
    procs = [subprocess.Popen([sys.executable, "-c", PROC.replace('"window": "a"', '"window": "c"'), str(tmp_path/"state"), str(log), str(start), "models:/drone-detector/2"],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    res = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert not any(r["started"] for r in res) and all("in cooldown" in r["reason"] for r in res)
    assert len(log.read_text().split()) == 1

def test_failed_action_releases_the_claim(tmp_path):
    d = evaluate_trigger([{"window": "a", "severity": "drift"}] * 2, "m", TriggerPolicy(n=1, m=1))
    def down(event): raise ConnectionError("engine down")
    with pytest.raises(MonitorError, match="engine down.*claim .* released"): fire_trigger(d, down, tmp_path)
    assert list((tmp_path/TRIGGERS).glob("*.json")) == []
    assert fire_trigger(d, local_action(lambda e: "ok"), tmp_path).started
    assert not fire_trigger(evaluate_trigger([], "m"), local_action(lambda e: 1 / 0), tmp_path).started  # no fire: the action is not called

def test_history_replaces_a_window_and_survives_concurrent_writers(tmp_path):
    append_history(tmp_path, {"window": "w1", "severity": "ok"})
    append_history(tmp_path, {"window": "w1", "severity": "drift"})
    assert read_history(tmp_path) == [{"window": "w1", "severity": "drift"}]
    code = "import sys; from dronemlops.monitor import append_history; [append_history(sys.argv[1], {'window': f'{sys.argv[2]}-{i}', 'severity': 'ok'}) for i in range(20)]"
    ps = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"p{k}"]) for k in range(4)]
    assert [p.wait(120) for p in ps] == [0] * 4
    assert len(read_history(tmp_path)) == 81

# --- AWS action on the moto server -------------------------------------------------------------------------------------

def test_aws_action_puts_the_event_and_notifies(aws_env, tmp_path):
    settings = load_settings(env={}, cwd=tmp_path, aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], local_dir=str(tmp_path/"local"))
    req = AWSRequests(settings)
    topic = req("sns", "CreateTopic", Name=f"drift-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = req("sqs", "CreateQueue", QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    qarn = req("sqs", "GetQueueAttributes", QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    req("sns", "Subscribe", TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    d = evaluate_trigger([{"window": "a", "severity": "drift"}] * 2, "models:/drone-detector/5")
    r = fire_trigger(d, aws_action(topic, requests=req), tmp_path)
    assert r.started and r.result["event_id"] and r.result["sns_message_id"]
    put = [p for s, op, p in req.sent if op == "PutEvents"][0]["Entries"][0]
    assert (put["Source"], put["DetailType"], put["EventBusName"]) == ("dronemlops.monitoring", "DriftDetected", "default")
    assert json.loads(put["Detail"])["key"] == d.key
    body = json.loads(req("sqs", "ReceiveMessage", QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]["Body"])
    assert (body["model"], body["drifted_windows"]) == ("models:/drone-detector/5", ["a", "a"][:1] * 2)
    # a topic that does not exist: one-line error, the claim released
    d2 = evaluate_trigger([{"window": "b", "severity": "drift"}] * 2, "m")
    with pytest.raises(MonitorError, match="action failed.*sns Publish"):
        fire_trigger(d2, aws_action(topic + "-gone", settings=settings), tmp_path, TriggerPolicy(cooldown_hours=0))
    assert not (tmp_path/TRIGGERS/f"{d2.key}.json").exists()

def test_pipeline_action_starts_the_sagemaker_pipeline(aws_env, tmp_path):
    settings = load_settings(env={}, cwd=tmp_path, aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], local_dir=str(tmp_path/"local"))
    req = AWSRequests(settings)
    name = f"retrain-{uuid.uuid4().hex[:8]}"
    req("sagemaker", "CreatePipeline", PipelineName=name, RoleArn="arn:aws:iam::123456789012:role/r", ClientRequestToken="c" * 32,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Parameters": [{"Name": "DatasetPath", "Type": "String"}], "Steps": []}))
    d = evaluate_trigger([{"window": "a", "severity": "drift"}] * 2, "models:/drone-detector/6")
    uri = "s3://b/ws/datasets/new_20261128_1200/"
    r = fire_trigger(d, pipeline_action(name, {"DatasetPath": uri, "UseSpot": False, "Epochs": None}, requests=req), tmp_path)
    arn = r.result["pipeline_execution_arn"]
    assert r.started and f"pipeline/{name}/execution/" in arn
    sent = req("sagemaker", "ListPipelineParametersForExecution", PipelineExecutionArn=arn)["PipelineParameters"]
    assert sent == [{"Name": "DatasetPath", "Value": uri}, {"Name": "UseSpot", "Value": "false"}]  # the pipeline chapter's wire form; None left out
    ex = req("sagemaker", "ListPipelineExecutions", PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in ex] == [arn]
    assert [p["ClientRequestToken"] for _, op, p in req.sent if op == "StartPipelineExecution"] == [d.key]
    with pytest.raises(MonitorError, match="action failed.*StartPipelineExecution"):
        fire_trigger(evaluate_trigger([{"window": "z", "severity": "drift"}] * 2, "m"), pipeline_action("no-such-pipeline", settings=settings), tmp_path/"other")
    assert list((tmp_path/"other"/TRIGGERS).glob("*.json")) == []

def test_cli_run_starts_the_pipeline_and_announces_it(world, aws_env, tmp_path):
    "`dronemlops monitor run --n 1 --m 1 --pipeline P --dataset URI --events` on a drifting folder: one execution on that dataset, one event, then the repeat is refused."
    ws = tmp_path/"ws"
    settings = load_settings(env={}, cwd=tmp_path, workspace=str(ws), aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    open_storage(settings=settings).write_text(baseline_key(world["det"].version), json.dumps(world["baseline"]))
    bucket = f"retrain-{uuid.uuid4().hex[:10]}"  # the dataset to retrain on, published in an s3:// workspace
    AWSRequests(settings)("s3", "CreateBucket", Bucket=bucket)
    s3ws = load_settings(env={}, cwd=tmp_path, workspace=f"s3://{bucket}/ws", aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], local_dir=str(tmp_path/"local"))
    build_sample_dataset(DATASET, block_size=320, tile_size=200, settings=s3ws)
    published = f"s3://{bucket}/ws/datasets/{DATASET}"
    req = AWSRequests(settings)
    name = f"retrain-{uuid.uuid4().hex[:8]}"
    req("sagemaker", "CreatePipeline", PipelineName=name, RoleArn="arn:aws:iam::123456789012:role/r", ClientRequestToken="c" * 32,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Parameters": [{"Name": "DatasetPath", "Type": "String"}], "Steps": []}))
    os.environ["DRONEMLOPS_AWS_ENDPOINT_URL"] = aws_env["AWS_ENDPOINT_URL"]
    run = dict(model="starter", source=str(world["tmp"]/"darker"), n=1, m=1, pipeline=name, events=True, mlflow=False, workspace=str(ws))
    try:
        with pytest.raises(MonitorError, match="--pipeline needs --dataset"): monitor_cmd("run", **run)
        with pytest.raises(DroneMLOpsError, match="not a published dataset version"): monitor_cmd("run", **run, dataset=f"s3://{bucket}/ws/datasets/none_20261128_1200")
        assert req("sagemaker", "ListPipelineExecutions", PipelineName=name)["PipelineExecutionSummaries"] == []  # refused before anything started
        out = monitor_cmd("run", **run, dataset=published)
        again = monitor_cmd("run", **run, dataset=published)
    finally: os.environ.pop("DRONEMLOPS_AWS_ENDPOINT_URL")
    started, announced = out["trigger"]["result"]
    assert out["trigger"]["started"] and started["action"] == "sagemaker-pipeline" and announced["event_id"]
    assert not again["trigger"]["started"] and "already started" in again["trigger"]["reasons"][-1]
    assert len(req("sagemaker", "ListPipelineExecutions", PipelineName=name)["PipelineExecutionSummaries"]) == 1
    sent = req("sagemaker", "ListPipelineParametersForExecution", PipelineExecutionArn=started["pipeline_execution_arn"])["PipelineParameters"]
    assert {"Name": "DatasetPath", "Value": published + "/"} in sent  # check_published's prefix, with its slash

def test_aws_action_dry_run_sends_nothing(tmp_path):
    settings = load_settings(env={}, cwd=tmp_path, aws_region="us-east-1")
    printed = []
    req = AWSRequests(settings, dry_run=True, echo=printed.append)
    out = aws_action("arn:aws:sns:us-east-1:123456789012:t", requests=req)({"model": "m", "key": "k"})
    assert out == {"action": "aws", "event_id": None, "sns_message_id": None}
    assert [p.split("\n")[0] for p in printed] == ["[dry run] events PutEvents", "[dry run] sns Publish"]

# --- monitor_run -------------------------------------------------------------------------------------------------------

def test_monitor_run_windows_history_and_trigger(world):
    settings, store, det = world["settings"], world["store"], world["det"]
    with CaptureWriter(det.version, settings=settings) as w:
        for p in world["val"]: w.record(p.read_bytes(), "image/png", json.dumps(detections_json(predict(det, p))), when=WHEN)
        w.record(b"junk", "image/png", "{}", when=WHEN)
    runs = []
    act = local_action(lambda e: runs.append(e) or "started")
    now = WHEN + dt.timedelta(hours=1)
    r1 = monitor_run(det, action=act, settings=settings, store=store, now=now, log_to_mlflow=False)
    assert (r1["window"], r1["severity"], r1["records"], r1["bad_lines"]) == ("2026-11-28T10", "ok", len(world["val"]), 1)
    assert "not a readable image" in r1["bad"][0]["reason"]
    r2 = monitor_run(det, world["tmp"]/"darker", action=act, settings=settings, store=store, log_to_mlflow=False)
    assert (r2["severity"], r2["trigger"]["fire"], runs) == ("drift", False, [])
    r3 = monitor_run(det, world["tmp"]/"blurred", action=act, settings=settings, store=store)
    assert r3["trigger"]["started"] and len(runs) == 1 and r3["run_id"]
    hist = read_history(state_dir(det.version, settings, store))
    assert [(h["window"], h["severity"]) for h in hist] == [("2026-11-28T10", "ok"), ("darker", "drift"), ("blurred", "drift")]
    assert Path(r3["report"]).read_text().startswith("<!doctype html>")
    from dronemlops.tracking import configure_mlflow
    run = configure_mlflow(settings).get_run(r3["run_id"])
    assert run.data.tags["dronemlops.kind"] == "drift-report" and run.data.metrics["drifted_features"] == len(r3["drifted"])

def test_monitor_run_on_an_s3_workspace(world, s3_settings):
    "Baseline in the bucket, captures uploaded by the writer and downloaded by the check; state in local_dir."
    bucket = f"mon-{uuid.uuid4().hex[:10]}"
    st = S3Storage(f"s3://{bucket}/ws", s3_settings); st.client.create_bucket(Bucket=bucket)
    det = world["det"]
    st.write_text(baseline_key(det.version), json.dumps(world["baseline"]))
    with CaptureWriter(det.version, storage=st, settings=s3_settings) as w:
        for p in world["val"]: w.record(p.read_bytes(), "image/png", json.dumps(detections_json(predict(det, p))), when=WHEN)
    r = monitor_run(det.version, window="2026-11-28", settings=s3_settings, store=st, log_to_mlflow=False)
    assert (r["records"], r["severity"]) == (len(world["val"]), "ok")
    assert Path(r["report"]).is_relative_to(Path(s3_settings.local_dir)/"monitoring")
    with pytest.raises(MonitorError, match="no captures"):  # nothing under that hour in the bucket
        monitor_run(det.version, window="2026-11-29T00", settings=s3_settings, store=st, log_to_mlflow=False)
    # every later check in a fresh local_dir (a new SageMaker job): history and cooldown continue from the workspace
    runs = []
    act = local_action(lambda e: runs.append(e["drifted_windows"]) or "started")
    def job(folder, i):
        s = load_settings(env={}, cwd=world["tmp"], workspace=f"s3://{bucket}/ws", aws_endpoint_url=s3_settings.aws_endpoint_url, local_dir=str(world["tmp"]/f"job{i}"))
        return monitor_run(det, world["tmp"]/folder, action=act, settings=s, store=st, log_to_mlflow=False)
    assert not job("darker", 1)["trigger"]["fire"]
    assert job("blurred", 2)["trigger"]["started"] and runs == [["darker", "blurred"]]
    third = job("brighter", 3)
    assert not third["trigger"]["started"] and "in cooldown" in third["trigger"]["reasons"][-1] and len(runs) == 1
    hist = [json.loads(l)["window"] for l in st.read_text(baseline_key(det.version).replace("baseline.json", "history.jsonl")).splitlines()]
    assert hist == ["2026-11-28", "darker", "blurred", "brighter"]
    assert len(st.ls(baseline_key(det.version).replace("baseline.json", "triggers"))) == 1

def test_model_version_and_cli(world, tmp_path):
    assert model_version("12") == "models:/drone-detector/12" and model_version(world["det"].version) == world["det"].version
    settings = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    with pytest.raises(MonitorError, match="No version of drone-detector has alias 'champion'"): model_version("@champion", settings)
    out = monitor_cmd("run", model="starter", source=str(world["tmp"]/"rescaled"), mlflow=False, workspace=str(world["settings"].workspace))
    with pytest.raises(MonitorError, match="New images go through the model.*does not load"):
        monitor_cmd("run", model=world["det"].version, source=str(world["tmp"]/"rescaled"), mlflow=False, workspace=str(world["settings"].workspace))
    assert out["severity"] == "drift" and {"width", "height"} <= set(out["drifted"])
    with pytest.raises(MonitorError, match="Unknown monitor action 'start'"): monitor_cmd("start")

# --- SageMaker monitoring schedule (moto has none: botocore's model checks the request) --------------------------------

def test_monitoring_schedule_request(tmp_path, monkeypatch):
    sm = load_settings(env={}, cwd=tmp_path, workspace="s3://drone-bucket/ws", aws_region="eu-west-1", local_dir=str(tmp_path/"l"),
                       sagemaker_role_arn="arn:aws:iam::123456789012:role/r")
    r = monitoring_schedule_request("ep", "img:1", "models:/drone-detector/3", sm, n=3, m=5, topic_arn="arn:aws:sns:eu-west-1:123456789012:t")
    job = r["MonitoringScheduleConfig"]["MonitoringJobDefinition"]
    assert job["MonitoringAppSpecification"]["ContainerArguments"][6:] == ["--n", "3", "--m", "5", "--events", "--topic-arn", "arn:aws:sns:eu-west-1:123456789012:t"]
    assert job["Environment"] == {"DRONEMLOPS_PROJECT": "dronemlops", "DRONEMLOPS_WORKSPACE": "s3://drone-bucket/ws", "DRONEMLOPS_LOCAL_DIR": MONITOR_OUTPUT,
                                  "DRONEMLOPS_AWS_REGION": "eu-west-1"}
    assert job["MonitoringInputs"][0]["EndpointInput"]["EndpointName"] == "ep" and job["RoleArn"] == sm.sagemaker_role_arn
    assert {"Key": "dronemlops:model", "Value": "models:/drone-detector/3"} in r["Tags"]
    with pytest.raises(AWSError, match="CreateMonitoringSchedule request is invalid.*ScheduleExpression"):
        monitoring_schedule_request("ep", "img:1", "m", sm, schedule=None)
    with pytest.raises(AWSError, match="sagemaker_role_arn"):
        monitoring_schedule_request("ep", "img:1", "m", load_settings(env={}, cwd=tmp_path, workspace="s3://drone-bucket/ws", local_dir=str(tmp_path/"l"), aws_region="eu-west-1"))
    with pytest.raises(AWSError, match="No S3 bucket for SageMaker"):
        monitoring_schedule_request("ep", "img:1", "m", load_settings(env={}, cwd=tmp_path, aws_region="eu-west-1", sagemaker_role_arn="arn:aws:iam::123456789012:role/r"))
    monkeypatch.setenv("start_time", "2026-11-28T10:00:00Z")
    assert sagemaker_window() == "2026-11-28T10"
