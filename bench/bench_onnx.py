"""ONNX Runtime vs PyTorch on CPU: the same starter weights, the same image size (416) and the same pre/post-processing.

Both runtimes use the same number of CPU threads (torch's). Times: best of --repeat runs of `predict` on a 200 px
window (one network pass) and on the sample's largest frame (sliced: many passes). Detections are compared box by box.

usage: python bench/bench_onnx.py [--repeat 20]
"""
import argparse, time
import numpy as np, torch
from torchvision.ops import box_iou
from PIL import Image
from dronemlops.predict import load_model, predict
from dronemlops.sample import sample_files

def best(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t)
    return out, min(ts), float(np.median(ts))

def agreement(a, b) -> str:
    if not len(a) or not len(b): return f"{len(a)} vs {len(b)} boxes"
    m = box_iou(torch.tensor(a.xyxy), torch.tensor(b.xyxy)).numpy()
    j = m.argmax(1)
    same = (m.max(1) > 0.99) & (a.cls == b.cls[j])
    return f"{len(a)} vs {len(b)} boxes, {same.sum()} matched at IoU>0.99, max score diff {np.abs(a.score[same] - b.score[j[same]]).max():.1e}"

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--repeat", type=int, default=20); a = ap.parse_args()
    files = sample_files()
    frame = files["2019_YELL_2_541000_4977000_image_crop.png"]
    window = Image.open(frame).convert("RGB").crop((400, 400, 600, 600))
    pt = load_model("starter"); ox = load_model(pt.path.with_suffix(".onnx"))
    print(f"threads {torch.get_num_threads()}, imgsz {pt.imgsz}, best/median of {a.repeat}")
    for label, src, rep in [("200 px window (1 pass)", window, a.repeat), ("1249x1035 frame, sliced", frame, max(3, a.repeat // 5))]:
        predict(pt, src); predict(ox, src)
        p, tp, mp = best(lambda: predict(pt, src), rep)
        o, to, mo = best(lambda: predict(ox, src), rep)
        print(f"{label:<26} torch {tp*1000:7.1f} ms (median {mp*1000:7.1f})   onnxruntime {to*1000:7.1f} ms (median {mo*1000:7.1f})   "
              f"speed-up x{tp/to:.2f} (median x{mp/mo:.2f}; goal >= 1.3)   {agreement(p, o)}")
