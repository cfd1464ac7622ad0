"""Benchmark: the image profiler's memory stays flat as the number of images grows (bounded in-flight window).

Profiles N and 10N real aerial tiles (random crops of the sample frames, half PNG half JPEG), each run in a fresh process
that reports its own peak RSS, and prints the ratio. usage: python bench/bench_profile.py [--n 100]
"""
import argparse, json, subprocess, sys, tempfile, random
from pathlib import Path

CODE = """
import sys, json, time, resource
from dronemlops.images import profile_images
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter(); df = profile_images(sys.argv[1], workers=2); dt = time.perf_counter() - t
print("RESULT", json.dumps({"images": len(df), "errors": int(df["error"].notna().sum()), "seconds": dt, "base_mb": base,
                            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

def tiles(folder: Path, n: int, seed: int) -> None:
    from PIL import Image
    from dronemlops.sample import sample_files
    im = Image.open(sample_files()["2019_YELL_2_541000_4977000_image_crop.png"]).convert("RGB")
    rng = random.Random(seed); folder.mkdir(parents=True)
    for i in range(n):
        x, y, side = rng.randint(0, im.width - 480), rng.randint(0, im.height - 480), rng.randint(320, 480)
        t = im.crop((x, y, x + side, y + side))
        t.save(folder/f"t_{i:06d}.jpg", quality=90) if i % 2 else t.save(folder/f"t_{i:06d}.png")

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=100); a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = {}
        for k in (1, 10):
            tiles(Path(d)/f"x{k}", k * a.n, k)
            r = subprocess.run([sys.executable, "-c", CODE, str(Path(d)/f"x{k}")], capture_output=True, text=True)
            if r.returncode: sys.exit(r.stderr[-2000:])
            out[k] = json.loads(r.stdout.split("RESULT", 1)[1])
            o = out[k]
            print(f"{o['images']:>6} images: {o['images']/o['seconds']:.0f} images/s, peak RSS {o['peak_mb']:.0f} MB ({o['base_mb']:.0f} MB after imports)")
        print(f"peak RSS ratio for 10x the images: {out[10]['peak_mb']/out[1]['peak_mb']:.2f}x (flat means ~1.0x; rows of the table are the only growth)")

if __name__ == "__main__": main()
