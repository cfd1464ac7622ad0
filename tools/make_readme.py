"""Write README.md from nbs/index.ipynb (markdown cells as they are, code cells as fenced Python, `#| hide` cells left out).
nbdev's own `nbdev-readme` renders through quarto, which cannot be installed on the project's machines; the docs
workflow on GitHub builds the site with quarto. Usage: python tools/make_readme.py [--check]"""
import json, sys
from pathlib import Path

def readme_text(nb_path: Path) -> str:
    cells = json.loads(nb_path.read_text())["cells"]
    out = ["<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then run `make export`. -->"]
    for c in cells:
        src = "".join(c["source"]).strip()
        if not src or any(l.strip().replace(" ", "") in ("#|hide", "#|exporti", "#|export") for l in src.splitlines()): continue
        out.append(src if c["cell_type"] == "markdown" else f"```python\n{src}\n```")
    return "\n\n".join(out) + "\n"

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    text, readme = readme_text(root/"nbs"/"index.ipynb"), root/"README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `make export` and commit it.")
    else: readme.write_text(text)
