"""Recipe experiments for the starter detector: several training recipes side by side on one machine.

Used to choose the recipe of nbs/workflows/train_starter.ipynb (its table records the results). It needs only
Ultralytics, so it also runs on a GPU machine without the rest of dronemlops:

    python tools/starter_sweep.py DATASET_DIR OUT_DIR [--device 0] [--parallel 4] [--only NAME ...]

DATASET_DIR is a built dataset version (e.g. from `build_sample_dataset`). Each recipe trains YOLO11n from
yolo11n.yaml (no pretrained weights) and is validated on the version's val split; one JSON line per recipe goes to
OUT_DIR/results.jsonl.
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

BASE = dict(model="yolo11n.yaml", epochs=300, imgsz=416, batch=8, nbs=8, seed=0, deterministic=True, workers=2,
            optimizer="SGD", lr0=0.01, cos_lr=False, flipud=0.0, mosaic=1.0, mixup=0.0, scale=0.5, degrees=0.0,
            close_mosaic=10, val=False, plots=False, amp=False, patience=1000, cache="ram")
RECIPES = {
    "defaults_e300_416":      dict(nbs=64),
    "nbs8_e300_416":          dict(),
    "flipud_e300_416":        dict(flipud=0.5),
    "flipud_e300_320":        dict(flipud=0.5, imgsz=320),
    "flipud_e300_640":        dict(flipud=0.5, imgsz=640),
    "flipud_e600_416":        dict(flipud=0.5, epochs=600),
    "flipud_mixup_e300_416":  dict(flipud=0.5, mixup=0.2),
    "flipud_cos_lr02_e300_416": dict(flipud=0.5, cos_lr=True, lr0=0.02),
    "flipud_adamw_e300_416":  dict(flipud=0.5, optimizer="AdamW", lr0=0.002),
    "flipud_scale09_e300_416": dict(flipud=0.5, scale=0.9),
}

def run_one(name, data, out, device):
    from ultralytics import YOLO
    args = {**BASE, **RECIPES[name]}
    model = args.pop("model")
    t0 = time.time()
    y = YOLO(model)
    y.train(data=str(data), device=device, project=str(out), name=name, exist_ok=True, verbose=False, **args)
    minutes = (time.time() - t0) / 60
    m = YOLO(str(Path(out)/name/"weights"/"last.pt")).val(data=str(data), split="val", imgsz=args["imgsz"], batch=8, device=device,
                                                          plots=False, verbose=False, project=str(out), name=f"{name}-val")
    row = {"recipe": name, **RECIPES[name], "imgsz": args["imgsz"], "epochs": args["epochs"], "device": str(device),
           "minutes": round(minutes, 2), "mAP50": round(float(m.box.map50), 4), "mAP50-95": round(float(m.box.map), 4),
           "precision": round(float(m.box.mp), 4), "recall": round(float(m.box.mr), 4)}
    with open(Path(out)/"results.jsonl", "a") as f: f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset"); ap.add_argument("out"); ap.add_argument("--device", default="cpu")
    ap.add_argument("--parallel", type=int, default=1); ap.add_argument("--only", nargs="*"); ap.add_argument("--one")
    ap.add_argument("--epochs", type=int, help="override every recipe's epochs (a smoke test)")
    ap.add_argument("--workers", type=int, default=BASE["workers"])
    a = ap.parse_args()
    BASE["workers"] = a.workers
    if a.epochs:
        for r in RECIPES.values(): r["epochs"] = a.epochs
    out = Path(a.out).resolve(); out.mkdir(parents=True, exist_ok=True)
    if a.one:  # a worker: its own copy of the dataset, so label caches never collide
        work = out/f"{a.one}-data"; shutil.rmtree(work, ignore_errors=True); shutil.copytree(a.dataset, work)
        run_one(a.one, work/"data.yaml", out, a.device); sys.exit(0)
    names = a.only or list(RECIPES)
    procs, todo = [], list(names)
    while todo or procs:
        while todo and len(procs) < a.parallel:
            n = todo.pop(0)
            log = open(out/f"{n}.log", "w")
            procs.append(subprocess.Popen([sys.executable, __file__, a.dataset, str(out), "--device", a.device, "--one", n, "--workers", str(a.workers)]
                                     + (["--epochs", str(a.epochs)] if a.epochs else []), stdout=log, stderr=subprocess.STDOUT))
        time.sleep(2)
        procs = [p for p in procs if p.poll() is None]
    print((out/"results.jsonl").read_text() if (out/"results.jsonl").exists() else "no results")
