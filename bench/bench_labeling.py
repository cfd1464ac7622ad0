"""Labeling speed on 20-megapixel frames: next image (record + downscaled display image), save per image, pre-annotation per frame.

The frames are real-looking 5472 x 3648 JPEGs (a DJI Phantom 4 Pro's size): the sample's largest training frame
(2019_YELL_2_541000_4977000_image_crop.png, 1249 x 1035, ~10 cm/px) tiled 5 x 4 with alternate tiles mirrored (so
seams do not repeat exactly), cropped to 5472 x 3648 and written as quality-90 JPEG (about the size a drone writes).
Tree crowns keep their real size in pixels, so the sliced starter sees what it would see on a drone frame.

- next image: `load_record` + `display_image` (default 1368 px side: a quarter-scale draft decode; --max-side 1600 needs the half scale), the dashboard's step to a new
  frame; the reference, measured in the same run, is a full decode + the same resize (what a naive viewer does).
  Goal: <= 300 ms.
- save: `save_record` of a record with 150 boxes (temporary file + rename under the record lock), 200 saves.
- pre-annotation: `pre_annotate_image` with the shipped starter, sliced (the frame is cut into the model's 200 px
  windows), once per runtime (--runtimes torch,onnx).

usage: nice python bench/bench_labeling.py [--frames 3] [--repeat 5] [--saves 200] [--max-side 1368] [--runtimes torch,onnx] [--no-predict]
"""
import argparse, os, statistics, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image, ImageOps
from dronemlops.config import load_settings
from dronemlops.sample import sample_files
from dronemlops.storage import LocalStorage
from dronemlops.labeling import create_project, load_record, save_record, display_image, display_size, draw_box, pre_annotate_image

W, H = 5472, 3648

def make_frame(path:Path, seed:int) -> Path:
    "A 5472 x 3648 JPEG tiled from the sample frame (alternate tiles mirrored; the tiling starts at a seed-dependent offset)."
    src = Image.open(sample_files()["2019_YELL_2_541000_4977000_image_crop.png"]).convert("RGB")
    w, h = src.size
    canvas = Image.new("RGB", (w * 6, h * 5))
    for i in range(6):
        for j in range(5):
            t = src if (i + j) % 2 == 0 else ImageOps.mirror(src)
            canvas.paste(ImageOps.flip(t) if j % 2 else t, (i * w, j * h))
    ox, oy = (seed * 137) % w, (seed * 71) % h
    canvas.crop((ox, oy, ox + W, oy + H)).save(path, quality=90)
    return path

def median_ms(fn, n:int) -> float:
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=3); ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--saves", type=int, default=200); ap.add_argument("--max-side", type=int, default=1368)
    ap.add_argument("--runtimes", default="torch", help="comma-separated: torch, onnx"); ap.add_argument("--no-predict", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-labeling-"))
    (tmp/"frames").mkdir()
    names = [make_frame(tmp/"frames"/f"DJI_{i:04d}.JPG", i).name for i in range(a.frames)]
    print(f"{a.frames} frames {W}x{H}, {np.mean([(tmp/'frames'/n).stat().st_size for n in names])/1e6:.1f} MB each; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    s = load_settings(env={}, cwd=tmp, workspace=str(tmp/"ws"))
    p = create_project("bench", tmp/"frames", ["Tree"], store=LocalStorage(tmp/"ws"), settings=s)

    size = display_size(W, H, a.max_side)
    def next_image(n): load_record(p, n); display_image(p, n, a.max_side)[0]
    def naive(n):
        with Image.open(tmp/"frames"/n) as im: ImageOps.exif_transpose(im).convert("RGB").resize(size, Image.BILINEAR)
    for n in names: next_image(n)  # warm the page cache, as a labeler's second look would
    nxt = statistics.median(median_ms(lambda: next_image(n), a.repeat) for n in names)
    ref = statistics.median(median_ms(lambda: naive(n), a.repeat) for n in names)
    print(f"next image (record + {size[0]}x{size[1]} display image): {nxt:.0f} ms median (goal <= 300 ms); full decode + resize: {ref:.0f} ms ({ref/nxt:.1f}x)")

    rec = load_record(p, names[0])
    for k in range(150): rec = draw_box(rec, [k * 30 % (W - 60), k * 20 % (H - 60), k * 30 % (W - 60) + 50, k * 20 % (H - 60) + 45], "Tree", "bench")
    state = {"rec": rec}
    def save(): state["rec"] = save_record(p, state["rec"], "bench")
    ms = median_ms(save, a.saves)
    print(f"save (150 boxes): {ms:.1f} ms median over {a.saves} saves; record {len(p.store.read_bytes(p.record_key(names[0])))/1e3:.0f} kB")

    if a.no_predict: return
    from dronemlops.predict import load_model, export_onnx
    runtimes = {"torch": lambda: ("PyTorch", load_model("starter", s)),
                "onnx": lambda: ("ONNX Runtime", load_model(str(export_onnx("starter", tmp/"starter.onnx", settings=s)), s))}
    for i, rt in enumerate(a.runtimes.split(",")):
        label, det = runtimes[rt]()
        n = names[(i + 1) % len(names)]
        t = time.perf_counter(); r = pre_annotate_image(p, n, det, conf=0.25); dt = time.perf_counter() - t
        print(f"pre-annotation, starter {label}, sliced ({det.window} px windows at {det.imgsz}): {dt:.1f} s per frame, {len(r['boxes'])} boxes, "
              f"uncertainty {r['scores']['uncertainty']}")

if __name__ == "__main__": main()
