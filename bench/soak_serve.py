"""Soak the real server: N invocations over HTTP on 127.0.0.1, a share of them malformed, with bounded concurrency.

Starts `dronemlops serve --model starter` in a fresh workspace, sends a 200 px JPEG window of a sample frame (and, for
`--malformed` of the requests, one of: garbage bytes, an unsupported content type, an empty body, JSON without an image,
broken base64), then stops the server and checks: no 5xx, every malformed request a 4xx with a JSON error, every 200
captured exactly once (one record per answered request, unique event ids), and the server's RSS after warm-up and at
the end. Prints a JSON summary (--json) or a table.

usage: python bench/soak_serve.py [--n 10000] [--concurrency 8] [--malformed 0.1] [--json]
"""
import argparse, base64, collections, http.client, io, json, random, sys, tempfile, threading, time
from pathlib import Path
from PIL import Image
from dronemlops.sample import sample_files
from dronemlops.serve import background_server
from dronemlops.capture import iter_captures

def rss_kb(pid:int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"): return int(line.split()[1])
    return -1

def requests_plan(n:int, malformed:float, seed:int=0) -> list[tuple[str, bytes, str]]:
    im = Image.open(sample_files()["2019_YELL_2_541000_4977000_image_crop.png"]).convert("RGB").crop((400, 400, 600, 600))
    buf = io.BytesIO(); im.save(buf, format="JPEG", quality=90); good = buf.getvalue()
    bad = [("garbage", b"\x00garbage" * 50, "image/jpeg"), ("content type", good, "text/csv"), ("empty", b"", "image/png"),
           ("json without image", b'{"conf": 0.3}', "application/json"), ("bad base64", b'{"image": "***"}', "application/json")]
    rng = random.Random(seed)
    return [bad[rng.randrange(len(bad))] if rng.random() < malformed else ("good", good, "image/jpeg") for _ in range(n)]

def send_all(url:str, plan:list, concurrency:int) -> list[tuple[str, int, bool]]:
    host, port = url.split("//")[1].split(":")
    out, lock, it = [], threading.Lock(), iter(enumerate(plan))
    def worker():
        c = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                try: i, (kind, body, ct) = next(it)
                except StopIteration: break
            try:
                c.request("POST", "/invocations", body=body, headers={"Content-Type": ct})
                r = c.getresponse(); data = r.read()
            except (OSError, http.client.HTTPException):  # counted as status -1, never a silently missing request
                with lock: out.append((kind, -1, False))
                c.close(); c = http.client.HTTPConnection(host, int(port), timeout=120); continue
            try: is_json = isinstance(json.loads(data), dict)
            except ValueError: is_json = False
            with lock: out.append((kind, r.status, is_json))
    ts = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in ts: t.start()
    for t in ts: t.join()
    return out

def soak(n:int, concurrency:int, malformed:float) -> dict:
    ws = Path(tempfile.mkdtemp(prefix="soak-"))
    plan = requests_plan(n, malformed)
    with background_server("starter", workspace=ws/"ws", args=("--max-queue", str(2 * concurrency))) as (url, proc):
        warm = sum(s == 200 for _, s, _ in send_all(url, plan[:20], 2))  # warm-up (its answers are captured too)
        rss0, t0 = rss_kb(proc.pid), time.perf_counter()
        res = send_all(url, plan, concurrency)
        secs, rss1 = time.perf_counter() - t0, rss_kb(proc.pid)
    caps = list(iter_captures(ws/"ws"/"captures", bad := []))
    ids = [c["eventMetadata"]["eventId"] for c in caps]
    status = collections.Counter((k if k == "good" else "malformed", s) for k, s, _ in res)
    return {"requests": n, "concurrency": concurrency, "seconds": round(secs, 1), "per_second": round(n / secs, 1),
            "status": {f"{k} {s}": v for (k, s), v in sorted(status.items())},
            "server_errors": sum(1 for _, s, _ in res if s >= 500), "connection_errors": sum(1 for _, s, _ in res if s == -1),
            "malformed_not_4xx_json": sum(1 for k, s, j in res if k != "good" and not (400 <= s < 500 and j)),
            "answered_200": sum(1 for _, s, _ in res if s == 200) + warm, "captured": len(caps), "unique_event_ids": len(set(ids)),
            "bad_capture_lines": len(bad), "rss_mb_after_warmup": round(rss0 / 1024, 1), "rss_mb_end": round(rss1 / 1024, 1)}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000); ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--malformed", type=float, default=0.1); ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = soak(a.n, a.concurrency, a.malformed)
    print(json.dumps(r) if a.json else "\n".join(f"{k:<26} {v}" for k, v in r.items()))
