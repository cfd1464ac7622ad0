"""Benchmark: a 100k-line SageMaker Ground Truth output manifest -> YOLO label text, against bare json.loads of the same lines.

The reference is the least any converter must do (parse every line's JSON); the goal is <= 2x its time. Lines carry
1-30 boxes (mean ~15) over 3 classes, as a bounding-box job writes them. usage: python bench/bench_gt_manifest.py [--lines 100000]
"""
import argparse, json, time, tracemalloc
import numpy as np
from dronemlops.annotations import Annotations, gt_line, gt_manifest_to_yolo

def make_lines(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    names = {0: "Tree", 1: "Dead", 2: "Alive"}
    out = []
    for i in range(n):
        k = int(rng.integers(1, 31))
        xy = rng.uniform(0, [3500, 2700], (k, 2)); wh = rng.uniform(8, 300, (k, 2))  # top-left corners inside the 4000x3000 image
        a = Annotations(f"s3://survey/frames/f_{i:07d}.jpg", 4000, 3000, np.round(np.hstack([xy, np.minimum(xy + wh, [4000, 3000])])),
                        rng.integers(0, 3, k), score=np.round(rng.uniform(0.5, 1, k), 3), names=names)
        out.append(gt_line(a, "trees", "trees", "2026-11-25T12:00:00.000000"))
    return out

def best(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter(); r = fn(); ts.append(time.perf_counter() - t)
    return min(ts), r

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--lines", type=int, default=100_000); ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    lines = make_lines(a.lines)
    mb = sum(map(len, lines)) / 1e6
    t_json, _ = best(lambda: [json.loads(l) for l in lines], a.repeat)
    t_ours, (labels, read) = best(lambda: gt_manifest_to_yolo(lines), a.repeat)
    assert len(labels) == a.lines and not read.failures
    boxes = sum(t.count("\n") for t in labels.values())
    print(f"manifest: {a.lines} lines, {boxes} boxes, {mb:.0f} MB")
    print(f"bare json.loads:          {t_json:.2f} s ({a.lines/t_json:,.0f} lines/s)")
    print(f"gt_manifest_to_yolo:      {t_ours:.2f} s ({a.lines/t_ours:,.0f} lines/s)")
    print(f"ratio: {t_ours/t_json:.2f}x the time of json.loads (goal <= 2x)")
    tracemalloc.start(); gt_manifest_to_yolo(lines[:a.lines // 10]); p10 = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    tracemalloc.start(); gt_manifest_to_yolo(lines); p100 = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    print(f"peak Python memory: {p10/1e6:.0f} MB at {a.lines//10} lines, {p100/1e6:.0f} MB at {a.lines} lines (output text included)")

if __name__ == "__main__": main()
