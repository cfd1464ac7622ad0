"""/invocations latency over HTTP on 127.0.0.1 vs bare in-process `predict` on the same image (goal: P95 ratio <= 1.15).

The image is a 200 px JPEG window of a sample frame (one network pass). Requests are sent one at a time on a kept-alive
connection to `dronemlops serve --model starter` (capture on, as in production); the in-process reference decodes the
same JPEG bytes and predicts with the same starter in this process, with the same number of torch threads.

usage: python bench/bench_serve.py [--n 200]
"""
import argparse, http.client, io, sys, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image
from dronemlops.predict import load_model, predict
from dronemlops.sample import sample_files
from dronemlops.serve import background_server

def pcts(ts): return {p: float(np.percentile(ts, p)) * 1000 for p in (50, 95, 99)}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=200); a = ap.parse_args()
    im = Image.open(sample_files()["2019_YELL_2_541000_4977000_image_crop.png"]).convert("RGB").crop((400, 400, 600, 600))
    buf = io.BytesIO(); im.save(buf, format="JPEG", quality=90); body = buf.getvalue()
    det = load_model("starter")
    ws = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    with background_server("starter", workspace=ws/"ws") as (url, proc):
        host, port = url.split("//")[1].split(":")
        c = http.client.HTTPConnection(host, int(port))
        http_ts, local_ts = [], []
        for i in range(a.n + 10):  # interleave, so both see the same machine load
            t = time.perf_counter(); c.request("POST", "/invocations", body=body, headers={"Content-Type": "image/jpeg"})
            r = c.getresponse(); r.read(); assert r.status == 200, r.status
            d = time.perf_counter() - t
            t = time.perf_counter(); predict(det, body); e = time.perf_counter() - t
            if i >= 10: http_ts.append(d); local_ts.append(e)
    h, l = pcts(http_ts), pcts(local_ts)
    print(f"{a.n} requests, 200 px JPEG ({len(body)} bytes), one at a time")
    print(f"{'':<22} {'P50 ms':>8} {'P95 ms':>8} {'P99 ms':>8}")
    print(f"{'/invocations (HTTP)':<22} {h[50]:8.1f} {h[95]:8.1f} {h[99]:8.1f}")
    print(f"{'in-process predict':<22} {l[50]:8.1f} {l[95]:8.1f} {l[99]:8.1f}")
    print(f"ratio HTTP / in-process: P50 x{h[50]/l[50]:.2f}, P95 x{h[95]/l[95]:.2f} (goal <= 1.15), P99 x{h[99]/l[99]:.2f}")
