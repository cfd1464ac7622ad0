"""Benchmark: dronemlops.train (validation, working copy, MLflow tracking, ONNX export, pyfunc model) against bare
Ultralytics YOLO.train on the same tiled sample dataset and epochs, plus epoch time with every core vs Ultralytics' default
threads. Each contender runs in a fresh process on CPU (or GPU 0 with --device 0); imports and the one-time creation of the
MLflow store happen before the timers in both, so the ratio is the cost per training run.

usage: python bench/bench_train.py [--epochs 5] [--imgsz 416] [--batch 4] [--workers 0] [--device cpu]
"""
import argparse, json, os, subprocess, sys, tempfile

SETUP = """
import sys, json, time, shutil
from pathlib import Path
from dronemlops.config import load_settings, apply_environment
s = load_settings(env={}, workspace=sys.argv[1], local_dir=sys.argv[2])
apply_environment(s)
from ultralytics import settings as ys; ys.update({"sync": False, "mlflow": False})
epochs, imgsz, device, threads, BATCH, WORKERS = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7]), int(sys.argv[8])
NAME = "bench_trees_20261125_1200"
"""

BARE = """
from ultralytics import YOLO
work = Path(sys.argv[2])/"bare-data"; shutil.rmtree(work, ignore_errors=True)
shutil.copytree(Path(sys.argv[1])/"datasets"/NAME, work)
times = []
m = YOLO("yolo11n.yaml")
m.add_callback("on_train_epoch_start", lambda tr: times.append(time.perf_counter()))
t = time.perf_counter()
m.train(data=str(work/"data.yaml"), epochs=epochs, imgsz=imgsz, batch=BATCH, workers=WORKERS, device=device, seed=0, deterministic=True,
        project=str(Path(sys.argv[2])/"bare-runs"), name="bare", exist_ok=True, plots=True, verbose=False, **({"amp": False} if device != "cpu" else {}))
wall = time.perf_counter() - t
import torch
print("RESULT", json.dumps({"wall": wall, "epoch_times": [b - a for a, b in zip(times, times[1:])], "torch_threads": torch.get_num_threads()}))
"""

OURS = """
from dronemlops.train import train, yolo_class
from dronemlops.tracking import TrainingTracker
yolo_class(s); TrainingTracker(s)  # one-time costs outside the timer, as the bare run imports Ultralytics before its own
times = []
t = time.perf_counter()
r = train(NAME, epochs=epochs, imgsz=imgsz, batch=BATCH, workers=WORKERS, device=device if device == "cpu" else int(device), seed=0, settings=s,
          min_train_images=10, min_val_images=2, threads=None if threads == "all" else int(threads),
          run_name=f"bench-{threads}-{time.time():.0f}", callbacks={"on_train_epoch_start": lambda tr: times.append(time.perf_counter())})
wall = time.perf_counter() - t
print("RESULT", json.dumps({"wall": wall, "epoch_times": [b - a for a, b in zip(times, times[1:])], "minutes_in_run": r.minutes}))
"""

def run(code, ws, local, a, threads):
    r = subprocess.run([sys.executable, "-c", SETUP + code, ws, local, str(a.epochs), str(a.imgsz), a.device, threads, str(a.batch), str(a.workers)], capture_output=True, text=True)
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.split("RESULT", 1)[1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5); ap.add_argument("--imgsz", type=int, default=416); ap.add_argument("--device", default="cpu"); ap.add_argument("--batch", type=int, default=4); ap.add_argument("--workers", type=int, default=0)
    a = ap.parse_args()
    from dronemlops.config import load_settings
    from dronemlops.sample import sample_files
    from dronemlops.annotations import read_voc
    from dronemlops.dataset import build_dataset
    with tempfile.TemporaryDirectory() as d:
        ws, local = f"{d}/ws", f"{d}/local"
        s = load_settings(env={}, workspace=ws, local_dir=local)
        f = sample_files()
        build_dataset([f[n] for n in ("OSBS_029.png", "SOAP_061.png", "2019_YELL_2_541000_4977000_image_crop.png")],
                      [read_voc(f[n]) for n in ("OSBS_029.xml", "SOAP_061.xml", "2019_YELL_2_541000_4977000_image_crop.xml")],
                      "bench_trees_20261125_1200", rename={"Dead": "Tree", "Alive": "Tree"}, tile_size=400, val_fraction=0.25, settings=s)
        bare = run(BARE, ws, local, a, "default")
        same = run(OURS, ws, local, a, str(bare["torch_threads"]))
        allc = run(OURS, ws, local, a, "all")
        ep = lambda r: sum(r["epoch_times"]) / max(1, len(r["epoch_times"]))
        print(f"sample dataset, {a.epochs} epochs, imgsz {a.imgsz}, batch {a.batch}, dataloader workers {a.workers}, device {a.device}, {os.cpu_count()} CPUs")
        print(f"bare Ultralytics YOLO.train ({bare['torch_threads']} torch thread(s), its default): {bare['wall']:.1f} s wall, {ep(bare):.2f} s/epoch")
        print(f"dronemlops.train, same threads:   {same['wall']:.1f} s wall, {ep(same):.2f} s/epoch  -> {same['wall']/bare['wall']:.3f}x bare (goal <= 1.05x)")
        print(f"dronemlops.train, every core:     {allc['wall']:.1f} s wall, {ep(allc):.2f} s/epoch  -> epoch time {ep(allc)/ep(bare):.2f}x the default threads; wall {allc['wall']/bare['wall']:.3f}x bare")

if __name__ == "__main__": main()
