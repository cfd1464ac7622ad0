"Labeling core under bad input and faults: corrupt images, bad class lists, two writers, a writer killed mid-save, an empty source, S3 projects."
import json, os, signal, subprocess, sys, textwrap, time, uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from dronemlops.config import load_settings
from dronemlops.storage import LocalStorage, S3Storage
from dronemlops.labeling import (LabelingError, ConflictError, check_classes, create_project, open_project, load_record, save_record,
                                 draw_box, display_image, display_transform, display_size, open_display, queue, progress, next_image,
                                 update_boxes, export_dataset)

@pytest.fixture
def proj(tmp_path, frames):
    d = tmp_path/"frames"; d.mkdir()
    for n in ("OSBS_029.png", "SOAP_061.png"): (d/n).write_bytes(frames[n].read_bytes())
    s = load_settings(env={}, cwd=tmp_path, workspace=str(tmp_path/"ws"))
    return create_project("p1", d, ["Tree"], store=LocalStorage(tmp_path/"ws"), settings=s)

def test_corrupt_images_are_skipped_and_listed(proj):
    d = Path(proj.source)
    (d/"zero.jpg").write_bytes(b"")
    (d/"text.png").write_text("hello")
    (d/"cut.png").write_bytes((d/"SOAP_061.png").read_bytes()[:3000])
    proj.images(refresh=True)
    q = queue(proj).set_index("image")
    assert q.loc["zero.jpg", "status"] == "skipped" and "empty file" in q.loc["zero.jpg", "error"]
    assert q.loc["text.png", "status"] == "skipped" and "not an image" in q.loc["text.png", "error"]
    with pytest.raises(LabelingError, match="cut.png: cannot be decoded"): display_image(proj, "cut.png")
    q = queue(proj).set_index("image")
    assert q.loc["cut.png", "status"] == "skipped" and "truncated or corrupt" in q.loc["cut.png", "error"]
    assert next_image(proj) == "OSBS_029.png" and next_image(proj, "OSBS_029.png") == "SOAP_061.png"  # labeling goes on
    assert next_image(proj, "SOAP_061.png") is None
    p = progress(proj)
    assert (p["total"], p["unreadable"], p["skipped"], p["todo"]) == (5, 3, 3, 2)

@pytest.mark.parametrize("classes,msg", [([], "No classes given"), (["Tree", "  "], "positions [1]"), (["Tree", None], "positions [1]"),
                                         (["Tree", "TREE"], "Duplicate class names: 'TREE' (positions 0 and 1)"), ("Tree", "list of names")])
def test_bad_class_lists(classes, msg, tmp_path, frames):
    with pytest.raises(LabelingError, match=msg.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        check_classes(classes)
    d = tmp_path/"f"; d.mkdir(); (d/"a.png").write_bytes(frames["OSBS_029.png"].read_bytes())
    with pytest.raises(LabelingError): create_project("p", d, classes, store=LocalStorage(tmp_path/"ws"), settings=load_settings(env={}, cwd=tmp_path))
    assert not (tmp_path/"ws"/"labeling"/"p").exists()  # nothing written

def test_folder_without_images_is_a_clear_message(tmp_path):
    d = tmp_path/"notes"; d.mkdir(); (d/"readme.txt").write_text("no frames here")
    with pytest.raises(LabelingError, match=r"notes holds no images \(.*\.jpg.*\): point the project at the folder"):
        create_project("p", d, ["Tree"], store=LocalStorage(tmp_path/"ws"), settings=load_settings(env={}, cwd=tmp_path))
    with pytest.raises(LabelingError, match="holds no images"):
        create_project("p", tmp_path/"missing", ["Tree"], store=LocalStorage(tmp_path/"ws"), settings=load_settings(env={}, cwd=tmp_path))

def test_stale_revision_is_a_conflict(proj):
    a, b = load_record(proj, "OSBS_029.png"), load_record(proj, "OSBS_029.png")
    save_record(proj, draw_box(a, [1, 1, 20, 20], "Tree", "ana"), "ana")
    with pytest.raises(ConflictError, match="reload it and redo your change"): save_record(proj, draw_box(b, [30, 30, 50, 50], "Tree", "ben"), "ben")
    assert [x["by"] for x in load_record(proj, "OSBS_029.png")["boxes"]] == ["ana"]

def _writer(args):
    "One 'browser tab' in its own process: draw one box, save; on a conflict reload and redo; returns the attempts it took."
    ws, source, who, i = args
    from dronemlops.labeling import open_project, load_record, save_record, draw_box, ConflictError
    from dronemlops.storage import LocalStorage
    from dronemlops.config import load_settings
    p = open_project("p1", LocalStorage(ws), load_settings(env={}, cwd="/", workspace=ws))
    for attempt in range(1, 200):
        r = load_record(p, "SOAP_061.png")
        try: save_record(p, draw_box(r, [i * 10, 5, i * 10 + 8, 30], "Tree", who), who); return attempt
        except ConflictError: time.sleep(0.001 * (i % 3))
    return -1

def test_concurrent_writers_lose_nothing(proj):
    n = 12
    with ProcessPoolExecutor(4) as ex:
        attempts = list(ex.map(_writer, [(proj.store.root, proj.source, f"w{i}", i) for i in range(n)]))
    rec = load_record(proj, "SOAP_061.png")
    assert -1 not in attempts
    assert rec["revision"] == n and sorted(b["by"] for b in rec["boxes"]) == sorted(f"w{i}" for i in range(n))
    assert sorted(rec["labelers"]) == sorted(f"w{i}" for i in range(n))

SAVER = textwrap.dedent("""
    import sys
    from dronemlops.labeling import open_project, load_record, save_record, draw_box
    from dronemlops.storage import LocalStorage
    from dronemlops.config import load_settings
    p = open_project("p1", LocalStorage(sys.argv[1]), load_settings(env={}, cwd="/", workspace=sys.argv[1]))
    print("ready", flush=True)
    while True:
        r = load_record(p, "OSBS_029.png")
        r["boxes"] = [{"id": k, "xyxy": [k % 390, 1, k % 390 + 9, 9.5], "class": "Tree", "score": None, "source": "drawn",
                       "touched": True, "by": "loop"} for k in range(200 + r["revision"] % 50)]  # a large record: ~40 KB per save
        save_record(p, r, "loop")
""")

def test_killed_during_saves_leaves_old_or_new_record(proj, tmp_path):
    script = tmp_path/"saver.py"; script.write_text(SAVER)
    key = proj.record_key("OSBS_029.png")
    for delay in (0.8, 1.3, 1.7):
        p = subprocess.Popen([sys.executable, str(script), proj.store.root], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL); p.wait()
        rec = json.loads(proj.store.read_text(key))  # complete JSON: never a truncated file
        assert rec["revision"] >= 1 and len(rec["boxes"]) == 200 + (rec["revision"] - 1) % 50
        assert proj.store.ls(f"{proj.prefix}/records") == [key]  # no half-written temporaries visible
    s = save_record(proj, load_record(proj, "OSBS_029.png"), "ana")  # and labeling resumes from there
    assert s["revision"] == rec["revision"] + 1

def test_display_transform_round_trip_20mp(tmp_path, frames):
    W, H = 5472, 3648
    to_d, to_f = display_transform(W, H, 1600)  # a display side that is not a decoder scale
    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, [W, H, W, H], size=(500, 4)).reshape(500, 2, 2), axis=1).reshape(500, 4)[:, [0, 2, 1, 3]]
    np.testing.assert_allclose(to_f(to_d(boxes)), boxes, atol=1e-6)
    px = np.round(to_d(boxes))  # what a widget reports: whole display pixels
    assert np.abs(to_d(to_f(px)) - px).max() <= 1
    assert np.abs(to_f(px) - boxes).max() <= W / 1600 / 2 + 1e-6  # half a display pixel, in full-resolution pixels
    # a real 20 MP JPEG, stored sideways (EXIF orientation 6): shown upright, mapped to the displayed size
    im = Image.open(frames["2019_YELL_2_541000_4977000_image_crop.png"]).convert("RGB").resize((H, W))
    ex = Image.Exif(); ex[0x0112] = 6
    im.save(tmp_path/"big.jpg", quality=85, exif=ex)
    shown, size = open_display(tmp_path/"big.jpg", 1600)
    assert size == (W, H) and shown.size == display_size(W, H, 1600) == (1600, 1067)
    shown, _ = open_display(tmp_path/"big.jpg")  # the default: a quarter-scale decode
    assert shown.size == display_size(W, H) == (1368, 912)
    zoom, _ = open_display(tmp_path/"big.jpg", 1368, region=(2000, 1000, 2684, 1456))  # 684 x 456 px of the frame, shown 2x
    upright = np.asarray(Image.open(tmp_path/"big.jpg").transpose(Image.Transpose.ROTATE_270).convert("RGB").crop((2000, 1000, 2684, 1456)).resize((1368, 912), Image.BILINEAR), float)
    assert zoom.size == (1368, 912) and np.abs(np.asarray(zoom, float) - upright).mean() < 3

def test_update_boxes_rejects_unknown_ids(proj):
    r = draw_box(load_record(proj, "OSBS_029.png"), [1, 1, 20, 20], "Tree", "ana")
    with pytest.raises(LabelingError, match="no box with id 7"): update_boxes(r, [{"id": 7, "xyxy": [1, 1, 5, 5], "class": "Tree"}], "ana")

def test_project_on_s3(s3_settings, frames, tmp_path):
    bucket = f"lab-{uuid.uuid4().hex[:10]}"
    ws = S3Storage(f"s3://{bucket}/ws", s3_settings); ws.client.create_bucket(Bucket=bucket)
    for n in ("OSBS_029.png", "SOAP_061.png"): ws.put_file(frames[n], f"incoming/{n}")
    ws.write_bytes("incoming/bad.jpg", b"\xff\xd8\xff junk")
    p = create_project("s3p", f"s3://{bucket}/ws/incoming", ["Tree"], store=ws, settings=s3_settings)
    assert p.images() == ["OSBS_029.png", "SOAP_061.png", "bad.jpg"]
    assert load_record(p, "bad.jpg")["status"] == "skipped"
    im, rec = display_image(p, "OSBS_029.png", 200)
    assert im.size == (200, 200) and (rec["width"], rec["height"]) == (400, 400)
    a = load_record(p, "OSBS_029.png")
    save_record(p, draw_box(a, [10, 10, 80, 90], "Tree", "ana"), "ana", status="labeled")
    with pytest.raises(ConflictError): save_record(p, a, "ben")
    p2 = open_project("s3p", ws, s3_settings)  # resumed from S3 alone
    assert load_record(p2, "OSBS_029.png")["boxes"][0]["xyxy"] == [10.0, 10.0, 80.0, 90.0]
    save_record(p2, draw_box(load_record(p2, "SOAP_061.png"), [5, 5, 60, 60], "Tree", "ana"), "ana", status="labeled")
    info = export_dataset(p2, "s3_labels_20261128_1300", val_fraction=0.5, seed=0)
    assert info["classes"] == ["Tree"] and ws.is_published("datasets/s3_labels_20261128_1300")

def _s3_project(s3_settings, frames, store_cls=S3Storage, **kw):
    bucket = f"lab-{uuid.uuid4().hex[:10]}"
    ws = store_cls(f"s3://{bucket}/ws", s3_settings, **kw); ws.client.create_bucket(Bucket=bucket)
    ws.put_file(frames["OSBS_029.png"], "incoming/OSBS_029.png")
    return create_project("race", f"s3://{bucket}/ws/incoming", ["Tree"], store=ws, settings=s3_settings)

def test_concurrent_savers_on_s3_lose_nothing(s3_settings, frames):
    "Several writers on one S3 record, each retrying after a ConflictError: every box arrives, one revision per save."
    from concurrent.futures import ThreadPoolExecutor
    p = _s3_project(s3_settings, frames)
    conflicts = []
    def writer(i):
        for attempt in range(100):
            r = load_record(p, "OSBS_029.png")
            try: save_record(p, draw_box(r, [i * 30, 5, i * 30 + 20, 30], "Tree", f"w{i}"), f"w{i}"); return attempt
            except ConflictError as e: conflicts.append(str(e))
        return -1
    with ThreadPoolExecutor(8) as ex: attempts = list(ex.map(writer, range(8)))
    rec = load_record(p, "OSBS_029.png")
    assert -1 not in attempts and rec["revision"] == 8
    assert sorted(b["by"] for b in rec["boxes"]) == sorted(f"w{i}" for i in range(8))  # no lost write
    assert len(conflicts) == sum(attempts) and all(c.startswith("OSBS_029.png was saved by someone else") for c in conflicts)

class _ReadThenWait(S3Storage):
    "An S3 workspace whose reads wait at a barrier: every saver passes the revision check before any of them writes."
    def __init__(self, root, settings, barrier): super().__init__(root, settings); self.barrier = barrier
    def read_versioned(self, key):
        try: return super().read_versioned(key)  # found, or NotFoundError for the image's first record
        finally: self.barrier.wait(30)

def test_s3_saves_that_all_pass_the_revision_check_still_conflict(s3_settings, frames):
    "The gap between the revision check and the put is closed by S3's If-Match / If-None-Match: exactly one of n saves lands."
    import threading
    from concurrent.futures import ThreadPoolExecutor
    p = _s3_project(s3_settings, frames)
    for existing in (False, True):  # the image's first record (If-None-Match: *), then a later revision (If-Match: ETag)
        base = load_record(p, "OSBS_029.png")
        p.store = _ReadThenWait(p.store.root, s3_settings, threading.Barrier(6))
        def save(i):
            try: return save_record(p, draw_box(base, [i * 30, 5, i * 30 + 20, 30], "Tree", f"s{i}"), f"s{i}")["updated_by"]
            except ConflictError as e: return str(e)
        with ThreadPoolExecutor(6) as ex: out = list(ex.map(save, range(6)))
        won = [o for o in out if o.startswith("s")]
        assert len(won) == 1, out
        assert all(o == f"OSBS_029.png was saved by someone else while you saved revision {base['revision'] + 1}: reload it and redo your change."
                   for o in out if o not in won)
        p.store = S3Storage(p.store.root, s3_settings)
        rec = load_record(p, "OSBS_029.png")
        assert rec["revision"] == base["revision"] + 1 and [b["by"] for b in rec["boxes"]][-1] == won[0]
        assert len(rec["boxes"]) == len(base["boxes"]) + 1

# --- Ground Truth requests (moto has no labeling jobs: every request is checked against botocore's model) ---
from dronemlops.aws.core import AWSError
from dronemlops.aws.ground_truth import (GT_LAMBDA_ACCOUNTS, GT_PRICES, TASK_KINDS, labeling_job_request, workteam_arn, _usd,
                                         estimate_cost, submit_labeling_job, BudgetError)

@pytest.fixture
def gt_settings(tmp_path):
    return load_settings(env={}, cwd=tmp_path, project="survey", sagemaker_role_arn="arn:aws:iam::123456789012:role/sm", aws_region="us-east-1")

@pytest.mark.parametrize("region", sorted(GT_LAMBDA_ACCOUNTS))
def test_every_published_region_makes_a_valid_request(region, gt_settings):
    for kind in TASK_KINDS:
        for wf, team in (("public", None), ("private", f"arn:aws:sagemaker:{region}:123456789012:workteam/private-crowd/t")):
            req = labeling_job_request("survey-label-x", "s3://b/in.manifest", "s3://b/out", "s3://b/cats.json", "s3://b/t.html",
                                       workteam_arn(wf, region, team), region, kind, price_per_task=0.036 if wf == "public" else None,
                                       settings=gt_settings)
            assert req["HumanTaskConfig"]["PreHumanTaskLambdaArn"] == f"arn:aws:lambda:{region}:{GT_LAMBDA_ACCOUNTS[region]}:function:PRE-{TASK_KINDS[kind]}"
            assert req["HumanTaskConfig"]["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"] == \
                f"arn:aws:lambda:{region}:{GT_LAMBDA_ACCOUNTS[region]}:function:ACS-{TASK_KINDS[kind]}"
            assert ("PublicWorkforceTaskPrice" in req["HumanTaskConfig"]) == (wf == "public")

def test_public_prices_convert_exactly():
    for p in GT_PRICES["public_bounding_box_prices"]:
        u = _usd(p)
        assert u["Dollars"] + u["Cents"] / 100 + u["TenthFractionsOfACent"] / 1000 == pytest.approx(p, abs=1e-9)

def test_bad_requests_fail(gt_settings):
    kw = dict(manifest_uri="s3://b/in.manifest", output_uri="s3://b/out", categories_uri="s3://b/c.json", template_uri="s3://b/t.html",
              region="us-east-1", settings=gt_settings)
    pub = workteam_arn("public", "us-east-1")
    with pytest.raises(AWSError, match="needs price_per_task"): labeling_job_request("j", workteam=pub, **kw)
    with pytest.raises(AWSError, match="TaskTimeLimitInSeconds"): labeling_job_request("j", workteam=pub, price_per_task=0.036, task_time_limit_s="10 min", **kw)
    with pytest.raises(AWSError, match="LabelingJobName"): labeling_job_request("", workteam=pub, price_per_task=0.036, **kw)
    with pytest.raises(AWSError, match="No SageMaker execution role"):
        labeling_job_request("j", workteam=pub, price_per_task=0.036, **{**kw, "settings": load_settings(env={}, cwd="/", aws_region="us-east-1")})

def test_budget_cap_refuses_before_sending(gt_settings):
    from dronemlops.aws.core import AWSRequests
    req = labeling_job_request("survey-label-x", "s3://b/in.manifest", "s3://b/out", "s3://b/c.json", "s3://b/t.html",
                               workteam_arn("public", "us-east-1"), "us-east-1", price_per_task=0.12, workers_per_object=5, settings=gt_settings)
    est = estimate_cost(10_000, "public", 5, 0.12)
    assert est["total_usd"] == 10_000 * 0.08 + 50_000 * 0.12
    sent = AWSRequests(gt_settings, dry_run=True, echo=lambda s: None)
    with pytest.raises(BudgetError, match="over the budget of USD 5000.00"): submit_labeling_job(req, est, 5000, sent)
    assert sent.sent == []
    assert submit_labeling_job(req, est, 7000, sent) == {} and [o for _, o, _ in sent.sent] == ["CreateLabelingJob"]

# --- Ground Truth verification jobs: the classifier page with the boxes as overlay, and their output ---
import html, re
from dronemlops.annotations import Annotations, gt_line, read_voc
from dronemlops.aws.ground_truth import (VERDICTS, VERIFICATION_TYPE, prepare_labeling_job, verification_template, read_verification,
                                         output_to_dataset, adjustment_manifest, gt_lambda_arns)

@pytest.mark.parametrize("region", sorted(GT_LAMBDA_ACCOUNTS))
def test_verification_lambdas_in_every_published_region(region):
    acct = GT_LAMBDA_ACCOUNTS[region]
    assert gt_lambda_arns(region, "verification") == (f"arn:aws:lambda:{region}:{acct}:function:PRE-VerificationBoundingBox",
                                                       f"arn:aws:lambda:{region}:{acct}:function:ACS-VerificationBoundingBox")

def _render_overlay(template:str, line:dict) -> dict:
    "What the worker's browser gets as `overlay` for one manifest line: the template's Liquid loop expanded for the line, attribute decoded."
    overlay = re.search(r"overlay='([^']*)'", template).group(1)
    m = re.search(r"\{% for box in task\.input\.manifestLine\.([\w-]+)\.annotations %\}(.*)\{% endfor %\}", overlay)
    attr, body = m.group(1), m.group(2)
    body = re.sub(r"\{% capture class_id %\}.*?\{% endcapture %\}\{% assign label = [^%]*%\}", "", body)
    body, sep = body.split("{% unless forloop.last %}")[0], body.split("{% unless forloop.last %}")[1].split("{% endunless %}")[0]
    cmap = line[f"{attr}-metadata"]["class-map"]
    def one(b):
        out = body.replace("{{ label | to_json | escape }}", html.escape(json.dumps(cmap[str(b["class_id"])])))
        for k in ("left", "top", "width", "height"): out = out.replace(f"{{{{ box.{k} }}}}", json.dumps(b[k]))
        return out
    return json.loads(html.unescape(overlay[:m.start()] + sep.join(one(b) for b in line[attr]["annotations"]) + overlay[m.end():]))

@pytest.fixture
def gt_s3(s3_settings, frames, tmp_path):
    "A moto bucket with two sample frames and settings for Ground Truth jobs in us-east-1."
    bucket = f"gt-{uuid.uuid4().hex[:10]}"
    s = load_settings(env={}, cwd=tmp_path, project="survey", aws_region="us-east-1", aws_endpoint_url=s3_settings.aws_endpoint_url,
                      sagemaker_bucket=bucket, sagemaker_role_arn="arn:aws:iam::123456789012:role/sm", workspace=str(tmp_path/"ws"))
    st = S3Storage(f"s3://{bucket}/frames", s); st.client.create_bucket(Bucket=bucket)
    anns = []
    for n in ("OSBS_029.png", "SOAP_061.png"):
        st.put_file(frames[n], n)
        a = read_voc(frames[n.replace(".png", ".xml")])
        anns.append(a.replace(image=st.uri(n), cls=[0] * len(a), names={0: "Tree"}))
    return s, st, anns

def test_verification_job_shows_the_boxes_for_a_verdict(gt_s3):
    s, st, anns = gt_s3
    lines = adjustment_manifest(anns, "trees-pre")
    team = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/foresters"
    req, est = prepare_labeling_job(st.uri(), ["Tree"], "verify-1", workteam=team, kind="verification", manifest_lines=lines,
                                    audit_attribute="trees-pre", settings=s)
    hc = req["HumanTaskConfig"]
    assert hc["PreHumanTaskLambdaArn"].endswith(":432418664414:function:PRE-VerificationBoundingBox")
    assert hc["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"].endswith(":432418664414:function:ACS-VerificationBoundingBox")
    assert req["LabelAttributeName"] == "trees-verification" and est["objects"] == 2
    files = S3Storage(hc["UiConfig"]["UiTemplateS3Uri"].rsplit("/", 1)[0], s)
    page = files.read_text("template.liquid.html")
    assert "<crowd-image-classifier" in page and "crowd-bounding-box" not in page and "initial-value" not in page
    assert json.loads(html.unescape(re.search(r'categories="([^"]*)"', page).group(1))) == ["correct", "incorrect"]
    assert files.read_json("label-categories.json")["labels"] == [{"label": "correct"}, {"label": "incorrect"}, {"label": "Tree"}]
    assert files.read_json("label-categories.json")["auditLabelAttributeName"] == "trees-pre"
    for line, a in zip(lines, anns):  # every worker sees exactly the boxes of their line, in the documented overlay shape
        ov = _render_overlay(page, json.loads(line))["boundingBox"]
        assert ov["labels"] == ["Tree"] and len(ov["value"]) == len(a) > 0
        got = np.array([[v["left"], v["top"], v["left"] + v["width"], v["top"] + v["height"]] for v in ov["value"]])
        np.testing.assert_allclose(got, a.xyxy, atol=0.51)  # GT's integer pixels
        assert {v["label"] for v in ov["value"]} == {"Tree"}
    custom = prepare_labeling_job(st.uri(), ["Tree"], "verify-2", workteam=team, kind="verification", manifest_lines=lines,
                                  audit_attribute="trees-pre", verdicts=["good", "bad", "unsure"], settings=s)[0]
    files2 = S3Storage(custom["HumanTaskConfig"]["UiConfig"]["UiTemplateS3Uri"].rsplit("/", 1)[0], s)
    assert "Answer &#x27;good&#x27; only if" in files2.read_text("template.liquid.html")
    assert [l["label"] for l in files2.read_json("label-categories.json")["labels"]] == ["good", "bad", "unsure", "Tree"]

def test_bad_verification_requests_fail_before_writing(gt_s3):
    s, st, anns = gt_s3
    lines = adjustment_manifest(anns, "trees-pre")
    kw = dict(workteam="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t", kind="verification", manifest_lines=lines, settings=s)
    with pytest.raises(AWSError, match="give audit_attribute"): prepare_labeling_job(st.uri(), ["Tree"], "v1", **kw)
    with pytest.raises(AWSError, match="must write its labels under a new attribute, not 'trees-pre'"):
        prepare_labeling_job(st.uri(), ["Tree"], "v2", audit_attribute="trees-pre", label_attribute="trees-pre", **kw)
    with pytest.raises(AWSError, match="at least two verdicts"): prepare_labeling_job(st.uri(), ["Tree"], "v3", audit_attribute="trees-pre", verdicts=["ok"], **kw)
    with pytest.raises(AWSError, match=r"Verdicts \['tree'\] are also class names"):
        prepare_labeling_job(st.uri(), ["Tree"], "v4", audit_attribute="trees-pre", verdicts=["ok", "tree"], **kw)
    with pytest.raises(AWSError, match="not a Ground Truth label attribute name"): prepare_labeling_job(st.uri(), ["Tree"], "v5", audit_attribute="trees.pre", **kw)
    assert st.ls("") == ["OSBS_029.png", "SOAP_061.png"]  # nothing was written
    assert S3Storage(f"s3://{s.sagemaker_bucket}", s).ls("survey", recursive=True) == []

def _verdict(ann, verdict, attr="trees-verification", failure=None, comments=()):
    line = json.loads(gt_line(ann, "trees-pre", "pre", human_annotated="no"))
    meta = {"type": VERIFICATION_TYPE, "job-name": "labeling-job/v", "human-annotated": "yes"}
    meta.update({"failure-reason": failure} if failure else {"class-name": verdict, "confidence": 0.88})
    if comments: meta["worker-feedback"] = [{"comment": c} for c in comments]
    line[attr], line[f"{attr}-metadata"] = (None if failure else VERDICTS.index(verdict)), meta
    return json.dumps(line)

def test_verification_output_to_dataset(gt_s3):
    s, st, anns = gt_s3
    jobs = S3Storage(f"s3://{s.sagemaker_bucket}/jobs", s)
    extra = anns[0].replace(image=anns[0].image.replace("OSBS_029", "OSBS_029_again"))
    lines = [_verdict(anns[0], "correct"), _verdict(anns[1], "incorrect", comments=["two crowns share a box"]),
             _verdict(extra, None, failure="ClientError: task timed out")]
    jobs.write_text("v.manifest", "\n".join(lines) + "\n")
    rows = read_verification(lines)
    assert [(r["line"], r["verdict"], r["comments"], r["failure"]) for r in rows] == [
        (1, "correct", [], None), (2, "incorrect", ["two crowns share a box"], None), (3, None, [], "ClientError: task timed out")]
    res = output_to_dataset(jobs.uri("v.manifest"), "verified_20261128_1300", settings=s, val_fraction=0.0)
    info = res["dataset"]
    assert info["source"] == {"ground_truth_manifest": jobs.uri("v.manifest"), "label_attribute": "trees-pre",
                              "verification_attribute": "trees-verification", "accepted_verdict": "correct"}
    assert sum(v["images"] for v in info["splits"].values()) == 1 and sum(v["boxes"] for v in info["splits"].values()) == len(anns[0])
    assert [(r["line"], r["verdict"]) for r in res["rejected"]] == [(2, "incorrect")]
    assert res["failed"] == [{"line": 3, "source-ref": extra.image, "reason": "ClientError: task timed out"}]
    res2 = output_to_dataset(jobs.uri("v.manifest"), "rejected_20261128_1300", settings=s, accept="incorrect", val_fraction=0.0)
    assert [r["verdict"] for r in res2["rejected"]] == ["correct"] and res2["dataset"]["source"]["accepted_verdict"] == "incorrect"
    with pytest.raises(AWSError, match=r"no image was judged 'ok' \(verdicts: \['None', 'correct', 'incorrect'\]\)"):
        output_to_dataset(jobs.uri("v.manifest"), "x_20261128_1300", settings=s, accept="ok")
    only = [json.dumps({k: v for k, v in json.loads(l).items() if not k.startswith("trees-pre")}) for l in lines]
    jobs.write_text("only.manifest", "\n".join(only))
    with pytest.raises(AWSError, match="only.manifest is the output of a verification job .* carry no boxes: build the dataset from the output"):
        output_to_dataset(jobs.uri("only.manifest"), "x_20261128_1300", settings=s)
    with pytest.raises(AWSError, match=r"line 1: no verification verdict under 'trees-check'"): read_verification(lines, "trees-check")
    with pytest.raises(AWSError, match="line 2: not valid JSON"): read_verification([lines[0], "{oops"])

def test_chained_outputs_pick_the_right_boxes(gt_s3):
    s, st, anns = gt_s3
    jobs = S3Storage(f"s3://{s.sagemaker_bucket}/jobs", s)
    def adjusted(a, status):
        line = json.loads(gt_line(a, "trees-pre", "pre", human_annotated="no"))
        moved = a.replace(xyxy=a.xyxy + 1)
        new = json.loads(gt_line(moved, "trees-adjustment", "adjust"))
        new["trees-adjustment-metadata"]["adjustment-status"] = status
        return json.dumps({**line, **new}), moved
    (l1, m1), (l2, m2) = adjusted(anns[0], "adjusted"), adjusted(anns[1], "unadjusted")
    jobs.write_text("adj.manifest", l1 + "\n" + l2 + "\n")
    res = output_to_dataset(jobs.uri("adj.manifest"), "adjusted_20261128_1300", settings=s, val_fraction=0.0)
    assert res["dataset"]["source"]["label_attribute"] == "trees-adjustment" and res["rejected"] == []
    both = json.loads(l1); del both["trees-adjustment-metadata"]["adjustment-status"]
    jobs.write_text("two.manifest", json.dumps(both) + "\n")
    with pytest.raises(AWSError, match=r"holds boxes under \['trees-pre', 'trees-adjustment'\]: pass label_attribute"):
        output_to_dataset(jobs.uri("two.manifest"), "x_20261128_1300", settings=s)
    res = output_to_dataset(jobs.uri("two.manifest"), "pre_20261128_1300", settings=s, label_attribute="trees-pre", val_fraction=0.0)
    assert res["dataset"]["source"]["label_attribute"] == "trees-pre"
