"""Sliced vs full-frame prediction on the sample's largest labelled frames, and SAHI's own sliced prediction on the same frames and model.

Two frames: 2019_YELL_2_528000_4978000_image_crop2.png (2299 x 2472 px, 574 labelled trees), the largest labelled frame
of the deepforest sample, which the project RESERVES (never copied into the workspace, never trained on): an honest
outside case; and 2019_YELL_2_541000_4977000_image_crop.png (1249 x 1035 px, 279 trees), the largest frame the starter
was TRAINED on (its train and val blocks are regions of it), so its absolute recall is optimistic. Recall and precision are at IoU 0.5 with one-to-one matching (highest score first), confidence 0.25.
SAHI is installed into a cache folder for this benchmark only (`pip install --target`), never into the project.

usage: python bench/bench_sliced.py [--repeat 3] [--no-sahi]
"""
import argparse, subprocess, sys, time
from pathlib import Path
import numpy as np, torch
from torchvision.ops import box_iou
from dronemlops.predict import load_model, predict
from dronemlops.annotations import Annotations, read_voc

FRAMES = {"2019_YELL_2_528000_4978000_image_crop2": "reserved, never trained on", "2019_YELL_2_541000_4977000_image_crop": "a training frame of the starter"}

def recall_precision(gt:Annotations, pred:Annotations, iou:float=0.5) -> tuple[float, float]:
    m = box_iou(torch.tensor(gt.xyxy), torch.tensor(pred.xyxy)).numpy() if len(pred) else np.zeros((len(gt), 0))
    used, tp = set(), 0
    for j in np.argsort(-pred.score):
        cand = [(m[i, j], i) for i in range(len(gt)) if i not in used and m[i, j] >= iou]
        if cand: used.add(max(cand)[1]); tp += 1
    return tp / len(gt), tp / max(1, len(pred))

def best_time(fn, repeat:int):
    out, ts = None, []
    for _ in range(repeat):
        t = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t)
    return out, min(ts)

def sahi_path() -> Path|None:
    d = Path.home()/".cache"/"dronemlops"/"bench-sahi"
    if not (d/"sahi").is_dir():
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(d), "--no-deps", "sahi==0.12.8", "pybboxes", "terminaltables", "fire", "shapely"],
                           capture_output=True, text=True)
        if r.returncode: print("SAHI did not install:", r.stderr.strip().splitlines()[-1:]); return None
    return d

def sahi_predict(weights:Path, frame:Path, window:int, imgsz:int, overlap:float) -> Annotations:
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction
    model = AutoDetectionModel.from_pretrained(model_type="ultralytics", model_path=str(weights), confidence_threshold=0.25, device="cpu", image_size=imgsz)
    r = get_sliced_prediction(str(frame), model, slice_height=window, slice_width=window, overlap_height_ratio=overlap, overlap_width_ratio=overlap, verbose=0)
    ps = r.object_prediction_list
    return Annotations(frame.name, r.image_width, r.image_height, [p.bbox.to_xyxy() for p in ps], [p.category.id for p in ps], [p.score.value for p in ps])

def bench_frame(det, frame:Path, gt:Annotations, repeat:int, sahi_dir) -> dict:
    predict(det, frame)  # warm-up
    rows = {}
    for label, kw in [("full frame", dict(sliced=False)), ("sliced (dronemlops)", dict()), ("sliced + full-frame pass", dict(full_frame=True))]:
        p, t = best_time(lambda: predict(det, frame, **kw), repeat)
        rows[label] = (*recall_precision(gt, p), len(p), t)
    if sahi_dir:
        try:
            p, t = best_time(lambda: sahi_predict(det.path, frame, det.window, det.imgsz, 0.25), repeat)
            rows["sliced (SAHI 0.12.8, its defaults: GREEDYNMM/IOS 0.5)"] = (*recall_precision(gt, p), len(p), t)
        except Exception as e: print(f"SAHI failed: {type(e).__name__}: {e}")
    return rows

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--repeat", type=int, default=3); ap.add_argument("--no-sahi", action="store_true")
    a = ap.parse_args()
    from dronemlops.sample import deepforest_data_dir
    data = deepforest_data_dir()
    det = load_model("starter")
    sahi_dir = None if a.no_sahi else sahi_path()
    if sahi_dir: sys.path.insert(0, str(sahi_dir))
    print(f"starter: window {det.window} px, imgsz {det.imgsz}, overlap 0.25, conf 0.25, IoU 0.5 matching, best of {a.repeat}")
    for name, what in FRAMES.items():
        frame, gt = data/f"{name}.png", read_voc(data/f"{name}.xml", names={0: "Tree"})
        rows = bench_frame(det, frame, gt, a.repeat, sahi_dir)
        print(f"\n{name}.png: {gt.width}x{gt.height}, {len(gt)} labelled trees ({what})")
        print(f"{'mode':<55} {'recall':>7} {'precision':>9} {'boxes':>6} {'seconds':>8}")
        for k, (r, pr, n, t) in rows.items(): print(f"{k:<55} {r:7.3f} {pr:9.3f} {n:6d} {t:8.2f}")
        fr, sr = rows["full frame"], rows["sliced (dronemlops)"]
        print(f"sliced - full frame: recall {100*(sr[0]-fr[0]):+.1f} points (goal >= +20), precision {100*(sr[1]-fr[1]):+.1f} points (goal >= 0); time x{sr[3]/fr[3]:.1f}")
