"""Drift over N capture records vs just reading them with `iter_captures` (goal: ratio <= 2x at 100,000), and peak memory
at N and 10N records (goal: flat).

Records are written with `CaptureWriter` as the server writes them: 64x64 JPEG crops of the sample frames as the
request bodies, and the starter's detections on 40 of those crops (computed once, reused) as the responses. Each
measurement runs in a fresh process that reports its own peak RSS, read first and drift second, so both see the same
page cache. usage: nice python bench/bench_drift.py [--n 10000]
"""
import argparse, io, json, random, subprocess, sys, tempfile, time
from pathlib import Path

CODE = """
import sys, json, time
def hwm_mb():
    "This process's own peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent that forked it)."
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
mode, folder, baseline = sys.argv[1], sys.argv[2], sys.argv[3]
from dronemlops.capture import iter_captures
from dronemlops.monitor import sample_captures, drift_report, BadLines
import dronemlops.serve, scipy.stats, pandas  # imports outside the timing
base = hwm_mb()
t = time.perf_counter()
if mode == "read":
    n = sum(1 for _ in iter_captures(folder)); sev = None
else:
    bad = BadLines(); fs = sample_captures(folder, bad=bad)
    r = drift_report(json.load(open(baseline)), fs, "bench", folder, bad); n, sev = r.records, r.severity
dt = time.perf_counter() - t
print("RESULT", json.dumps({"records": n, "seconds": dt, "severity": sev, "base_mb": base,
                            "peak_mb": hwm_mb()}))
"""

def crops(k:int, seed:int=0) -> list[bytes]:
    "k JPEG bytes of 64x64 crops of the sample frames."
    from PIL import Image
    from dronemlops.sample import sample_files, SAMPLE_FRAMES
    frames = [Image.open(sample_files()[n]).convert("RGB") for n in SAMPLE_FRAMES]
    rng, out = random.Random(seed), []
    for i in range(k):
        im = frames[i % len(frames)]; x, y = rng.randint(0, im.width - 64), rng.randint(0, im.height - 64)
        b = io.BytesIO(); im.crop((x, y, x + 64, y + 64)).save(b, format="JPEG", quality=90); out.append(b.getvalue())
    return out

def write_records(ws:Path, n:int, bodies:list[bytes], outputs:list[str]) -> Path:
    "n capture records through CaptureWriter, into ws/captures/bench/."
    from dronemlops.config import load_settings
    from dronemlops.capture import CaptureWriter
    settings = load_settings(env={}, cwd=ws, workspace=str(ws))
    with CaptureWriter("bench", settings=settings) as w:
        for i in range(n): w.record(bodies[i % len(bodies)], "image/jpeg", outputs[i % len(outputs)])
    return ws/"captures"/"bench"

def baseline_doc(bodies:list[bytes], outputs:list[str], path:Path) -> None:
    "A baseline from the same kind of crops: the drift check runs its whole comparison, as in production."
    from dronemlops.capture import capture_record
    from dronemlops.monitor import FeatureSample, capture_features, _jsonable
    fs = FeatureSample()
    for i in range(len(bodies)): fs.add(capture_features(capture_record(bodies[i], "image/jpeg", outputs[i % len(outputs)])))
    path.write_text(json.dumps({"model": "bench", "dataset": "crops", "features": {k: _jsonable(v) for k, v in fs.frame().to_dict("list").items()}}))

def run(mode:str, folder:Path, baseline:Path) -> dict:
    r = subprocess.run([sys.executable, "-c", CODE, mode, str(folder), str(baseline)], capture_output=True, text=True)
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.split("RESULT", 1)[1])

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=10_000); a = ap.parse_args()
    from dronemlops.predict import load_model, predict
    from dronemlops.serve import detections_json
    t = time.perf_counter()
    bodies = crops(400)
    det = load_model("starter")
    outputs = [json.dumps(detections_json(predict(det, b))) for b in bodies[:40]]
    with tempfile.TemporaryDirectory() as d:
        baseline = Path(d)/"baseline.json"; baseline_doc(bodies[200:], outputs, baseline)
        res = {}
        for k in (1, 10):
            folder = write_records(Path(d)/f"ws{k}", k * a.n, bodies[:200], outputs)
            size = sum(f.stat().st_size for f in folder.rglob("*.jsonl"))
            res[k] = {m: run(m, folder, baseline) for m in ("read", "drift")}
            r, q = res[k]["read"], res[k]["drift"]
            print(f"{r['records']:>7} records ({size/1e6:.0f} MB): read {r['seconds']:.2f} s, drift {q['seconds']:.2f} s "
                  f"(ratio {q['seconds']/r['seconds']:.2f}x, goal <= 2x), severity {q['severity']}; "
                  f"peak RSS read {r['peak_mb']:.0f} MB, drift {q['peak_mb']:.0f} MB ({q['base_mb']:.0f} MB after imports)")
        print(f"drift peak RSS for 10x the records: {res[10]['drift']['peak_mb']/res[1]['drift']['peak_mb']:.2f}x (flat means ~1.0x); "
              f"setup and writing took {time.perf_counter() - t:.0f} s")

if __name__ == "__main__": main()
