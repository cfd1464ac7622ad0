"Storage: the same test code against a local folder and a real S3 API (moto server on 127.0.0.1)."
import os, sys, signal, subprocess, textwrap, pytest
from dronemlops.config import load_settings
from dronemlops.storage import (StorageError, NotFoundError, PublishError, ConditionError, LocalStorage, S3Storage, MARKER,
                                open_storage, fetch_version, sha256_file, tree_files)

def test_bytes_text_json(store):
    store.write_bytes("a/b.bin", b"\x00\x01")
    store.write_text("a/c.txt", "héllo")
    store.write_json("a/d.json", {"x": [1, 2]})
    assert store.read_bytes("a/b.bin") == b"\x00\x01"
    assert store.read_text("a/c.txt") == "héllo"
    assert store.read_json("a/d.json") == {"x": [1, 2]}
    store.write_bytes("a/b.bin", b"new")  # overwrite of a plain file is allowed
    assert store.read_bytes("a/b.bin") == b"new"

def test_ls_exists(store):
    for k in ["x/1.txt", "x/y/2.txt", "x/y/z/3.txt", "top.txt"]: store.write_text(k, k)
    assert store.ls("x") == ["x/1.txt", "x/y/"]
    assert store.ls("x", recursive=True) == ["x/1.txt", "x/y/2.txt", "x/y/z/3.txt"]
    assert store.ls("") == ["top.txt", "x/"]
    assert store.ls("nothing/here") == []
    assert store.exists("x/y/2.txt") and not store.exists("x/y") and not store.exists("x/4.txt")

def test_missing_file_names_it(store):
    with pytest.raises(NotFoundError, match="nope.txt does not exist"): store.read_bytes("dir/nope.txt")
    with pytest.raises(NotFoundError): store.get_file("dir/nope.txt", "/tmp/never")

@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/passwd", "a/../../b", "s3://other/x"])
def test_paths_outside_workspace_are_refused(store, bad, src):
    for op in (lambda: store.read_bytes(bad), lambda: store.write_bytes(bad, b"x"), lambda: store.delete(bad),
               lambda: store.publish(src, bad), lambda: store.ls(bad)):
        with pytest.raises(StorageError, match="outside the workspace"): op()

def test_symlink_escape_is_refused(tmp_path):
    ws = tmp_path/"ws"; ws.mkdir(); (tmp_path/"secret.txt").write_text("s")
    (ws/"link").symlink_to(tmp_path)
    with pytest.raises(StorageError, match="outside the workspace"): LocalStorage(ws).read_bytes("link/secret.txt")

def test_tree_roundtrip(store, src, tmp_path):
    keys = store.upload_tree(src, "trees/one", workers=4, progress=False)
    assert sorted(keys) == ["trees/one/OSBS_029.png", "trees/one/SOAP_061.png", "trees/one/labels/OSBS_029.xml", "trees/one/labels/SOAP_061.xml"]
    paths = store.download_tree("trees/one", tmp_path/"back", workers=4, progress=False)
    assert len(paths) == 4
    back = tree_files(tmp_path/"back")
    assert {k: sha256_file(p) for k, p in back.items()} == {k: sha256_file(p) for k, p in tree_files(src).items()}
    with pytest.raises(NotFoundError, match="Nothing to download"): store.download_tree("trees/none", tmp_path/"x", progress=False)

def test_delete_dry_run_then_real(store):
    for k in ["d/1.txt", "d/e/2.txt", "keep.txt"]: store.write_text(k, k)
    assert store.delete("d", dry_run=True) == ["d/1.txt", "d/e/2.txt"]
    assert store.ls("d", recursive=True) == ["d/1.txt", "d/e/2.txt"]
    assert store.delete("d") == ["d/1.txt", "d/e/2.txt"]
    assert store.ls("", recursive=True) == ["keep.txt"]
    assert store.delete("keep.txt") == ["keep.txt"] and store.ls("") == []
    with pytest.raises(StorageError, match="Refusing to delete the whole workspace"): store.delete("")

def test_publish_and_immutability(store, src):
    man = store.publish(src, "datasets/forest_v1", metadata={"classes": ["Tree"]}, workers=3)
    assert store.versions("datasets") == ["forest_v1"]
    assert store.is_published("datasets/forest_v1")
    assert store.manifest("datasets/forest_v1") == man
    assert man["metadata"] == {"classes": ["Tree"]}
    assert man["files"]["OSBS_029.png"]["sha256"] == sha256_file(src/"OSBS_029.png")
    assert store.read_bytes("datasets/forest_v1/labels/SOAP_061.xml") == (src/"labels"/"SOAP_061.xml").read_bytes()
    (src/"OSBS_029.png").write_bytes(b"changed")
    with pytest.raises(PublishError, match="already published"): store.publish(src, "datasets/forest_v1")
    assert store.manifest("datasets/forest_v1") == man  # nothing changed
    assert store.read_bytes("datasets/forest_v1/OSBS_029.png") != b"changed"

def test_publish_refuses_empty_and_reserved(store, tmp_path, src):
    (tmp_path/"empty").mkdir()
    with pytest.raises(PublishError, match="holds no files"): store.publish(tmp_path/"empty", "v/empty")
    (src/MARKER).write_text("{}")
    with pytest.raises(PublishError, match="reserved"): store.publish(src, "v/marker")
    with pytest.raises(NotFoundError): store.publish(tmp_path/"missing", "v/missing")

def test_interrupted_publish_leaves_no_version(store, src, tmp_path):
    (src/"stale.bin").write_bytes(b"only in the first attempt")
    n = len(tree_files(src))
    seen = []
    def fail_at_last(key):
        seen.append(key)
        if len(seen) == n: raise RuntimeError("simulated crash before the manifest")
    with pytest.raises(RuntimeError, match="simulated crash"): store.publish(src, "models/m1", callback=fail_at_last, workers=1)
    assert store.versions("models") == [] and not store.is_published("models/m1")
    with pytest.raises(NotFoundError, match="not a published version"): store.manifest("models/m1")
    with pytest.raises(NotFoundError, match="not a published version"): fetch_version(store, "models/m1", cache_dir=tmp_path/"c")
    if isinstance(store, LocalStorage): assert store.clean_partial("") == []  # the temporary folder was removed
    (src/"stale.bin").unlink()
    man = store.publish(src, "models/m1")  # a retry succeeds, and holds exactly the new files
    assert "stale.bin" not in man["files"]
    assert store.ls("models/m1", recursive=True) == sorted(f"models/m1/{k}" for k in [*man["files"], MARKER])

KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from dronemlops.config import load_settings
    from dronemlops.storage import open_storage
    root, src, key, endpoint = sys.argv[1:5]
    s = load_settings(env={}, aws_endpoint_url=endpoint or None, local_dir=src + "_local")
    store = open_storage(root, settings=s)
    def slow(k): print("wrote", k, flush=True); time.sleep(0.3)
    store.publish(src, key, callback=slow, workers=1)
    print("DONE", flush=True)
""")

def test_sigkill_during_publish_leaves_no_version(store, src, tmp_path):
    for i in range(12): (src/f"extra_{i:02d}.bin").write_bytes(os.urandom(20_000))
    endpoint = getattr(store, "client", None) and store.client.meta.endpoint_url or ""
    root = store.root if isinstance(store, LocalStorage) else store.root
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, root, str(src), "datasets/killed", endpoint],
                            stdout=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline() for _ in range(3)]  # three files written, many to go
    assert all(l.startswith("wrote") for l in lines), lines
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert store.versions("datasets") == []
    assert not store.is_published("datasets/killed")
    if isinstance(store, LocalStorage):
        assert store.ls("datasets") == []  # the partial folder is hidden from readers
        leftovers = store.clean_partial("datasets")
        assert len(leftovers) == 1 and ".killed.partial-" in leftovers[0]
    else:
        assert len(store.ls("datasets/killed", recursive=True)) >= 3  # uploaded objects, but no manifest: not a version
    store.publish(src, "datasets/killed")
    assert store.versions("datasets") == ["killed"]

def test_fetch_version_verifies(store, src, tmp_path):
    store.publish(src, "models/m2")
    local = fetch_version(store, "models/m2", cache_dir=tmp_path/"cache")
    store.verify("models/m2", local)
    assert sha256_file(local/"OSBS_029.png") == sha256_file(src/"OSBS_029.png")
    if isinstance(store, S3Storage):
        assert fetch_version(store, "models/m2", cache_dir=tmp_path/"cache") == local  # cached copy reused
        store.write_bytes("models/m2/OSBS_029.png", b"tampered")
        with pytest.raises(StorageError, match="Checksum mismatch"): fetch_version(store, "models/m2", cache_dir=tmp_path/"cache2")
    else:
        (local/"OSBS_029.png").write_bytes(b"tampered")
        with pytest.raises(StorageError, match=r"Checksum mismatch.*OSBS_029.png"): store.verify("models/m2", local)

def test_s3_without_credentials_is_a_clear_error(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("AWS_"): monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path/"none")); monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path/"none"))
    s = load_settings(env={}, cwd=tmp_path, workspace="s3://survey-bucket/drone")
    with pytest.raises(StorageError, match=r"s3://survey-bucket/drone needs AWS credentials.*aws_endpoint_url"): open_storage(settings=s)
    s = load_settings(env={}, cwd=tmp_path, workspace="s3://survey-bucket/drone", aws_profile="nosuchprofile")
    with pytest.raises(StorageError, match="AWS profile 'nosuchprofile' \\(setting aws_profile, argument\\)"): open_storage(settings=s)

def test_s3_missing_bucket_is_named(s3_settings):
    st = S3Storage("s3://no-such-bucket-here/ws", s3_settings)
    with pytest.raises(StorageError, match="Bucket 'no-such-bucket-here'.*does not exist"): st.write_bytes("a.txt", b"x")

# --- conditional writes: read_versioned + write_if, on both backends ---
import json, threading, time
from concurrent.futures import ThreadPoolExecutor

def test_conditional_write_refuses_stale_tags(store):
    t0 = store.write_if("rec/a.json", b'{"n": 0}', None)
    data, tag = store.read_versioned("rec/a.json")
    assert (data, tag) == (b'{"n": 0}', t0)
    t1 = store.write_if("rec/a.json", b'{"n": 1}', tag)
    assert t1 != t0 and store.read_versioned("rec/a.json") == (b'{"n": 1}', t1)
    with pytest.raises(ConditionError, match=r"rec/a.json was changed by another writer since it was read: read it again"):
        store.write_if("rec/a.json", b'{"n": 99}', t0)
    with pytest.raises(ConditionError, match="was created by another writer since it was found missing"): store.write_if("rec/a.json", b"{}", None)
    store.write_bytes("rec/a.json", b'{"n": 5}')  # a plain write is not checked, but it changes the tag
    with pytest.raises(ConditionError, match="was changed"): store.write_if("rec/a.json", b'{"n": 2}', t1)
    store.delete("rec/a.json")
    with pytest.raises(ConditionError, match="was deleted by another writer"): store.write_if("rec/a.json", b"{}", t1)
    with pytest.raises(NotFoundError, match="rec/a.json does not exist"): store.read_versioned("rec/a.json")
    with pytest.raises(StorageError, match="outside the workspace"): store.write_if("../a.json", b"{}", None)

def test_lock_files_stay_hidden(store, tmp_path):
    store.write_if("rec/b.json", b"{}", None)
    assert store.ls("rec") == ["rec/b.json"] and store.ls("", recursive=True) == ["rec/b.json"]
    if isinstance(store, LocalStorage):
        assert (tmp_path/"ws"/"rec"/".b.json.lock").is_file()
        assert list(tree_files(tmp_path/"ws")) == ["rec/b.json"]  # never published with a folder
        assert store.delete("rec") == ["rec/.b.json.lock", "rec/b.json"] and not (tmp_path/"ws"/"rec").exists()

def _increment(store, key, who, barrier=None):
    "Append `who` to the JSON list in `key`, re-reading after every refusal; returns the refusals it met."
    refused = 0
    while True:
        data, tag = store.read_versioned(key)
        if barrier: barrier.wait(); barrier = None  # every writer has read the same version before anyone writes
        try: store.write_if(key, json.dumps(json.loads(data) + [who]).encode(), tag); return refused
        except ConditionError: refused += 1

def test_concurrent_conditional_writers_lose_nothing(store):
    store.write_if("rec/c.json", b"[]", None)
    n = 8
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as ex:  # round 1: all read version 0, then all write: exactly one wins
        refused = list(ex.map(lambda i: _increment(store, "rec/c.json", f"w{i}", barrier), range(n)))
    assert sum(r > 0 for r in refused) == n - 1 and sum(r == 0 for r in refused) == 1
    with ThreadPoolExecutor(n) as ex:  # round 2: free-running writers, three increments each
        list(ex.map(lambda i: [_increment(store, "rec/c.json", f"v{i}-{j}") for j in range(3)], range(n)))
    got = json.loads(store.read_bytes("rec/c.json"))
    assert sorted(got) == sorted([f"w{i}" for i in range(n)] + [f"v{i}-{j}" for i in range(n) for j in range(3)])  # no lost write

LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dronemlops.storage import _flock
    with _flock(Path(sys.argv[1])):
        print("locked", flush=True); time.sleep(60)
""")

def test_killed_lock_holder_blocks_nobody(tmp_path):
    st = LocalStorage(tmp_path/"ws")
    tag = st.write_if("rec/d.json", b"1", None)
    proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path/"ws"/"rec"/".d.json.lock")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    done = []
    writer = threading.Thread(target=lambda: done.append(st.write_if("rec/d.json", b"2", tag))); writer.start()
    time.sleep(0.5)
    assert done == [] and st.read_bytes("rec/d.json") == b"1"  # waits for the lock holder
    proc.send_signal(signal.SIGKILL); proc.wait()
    writer.join(10)
    assert len(done) == 1 and st.read_bytes("rec/d.json") == b"2"  # the kernel released the dead process's lock

def test_conditional_write_to_missing_bucket_is_named(s3_settings):
    st = S3Storage("s3://no-such-bucket-here/ws", s3_settings)
    with pytest.raises(StorageError, match="Bucket 'no-such-bucket-here'.*does not exist") as e: st.write_if("a.json", b"{}", None)
    assert not isinstance(e.value, ConditionError)
    with pytest.raises(StorageError, match="Bucket 'no-such-bucket-here'.*does not exist"): st.read_versioned("a.json")
