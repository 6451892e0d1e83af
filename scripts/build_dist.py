"""Build the release artefacts: a wheel and an sdist that carry everything a user needs.

    python scripts/build_dist.py                 # needs the built book (book/_build/html)
    python scripts/build_dist.py --without-guide # a development wheel: no built guide
    python scripts/build_dist.py --no-isolation  # build with this venv's setuptools (offline)

Steps: stage the notebooks and the built guide under ``plotpalette/_bundle/`` (git-ignored,
removed again afterwards), check the staged guide's links, run ``python -m build`` (sdist,
then the wheel from the sdist, so both carry the same files), check that every file of
the package tree is in the wheel, and run ``twine check --strict``. Prints the artefacts
and their sizes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import check_links  # scripts/check_links.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plotpalette"
BUNDLE = PACKAGE / "_bundle"
GUIDE = ROOT / "book" / "_build" / "html"


def stage(guide: Path | None) -> None:
    shutil.rmtree(BUNDLE, ignore_errors=True)
    (BUNDLE / "notebooks").mkdir(parents=True)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copyfile(nb, BUNDLE / "notebooks" / nb.name)
    if guide is not None:  # (.buildinfo is Sphinx's cache key, of no use to a reader)
        shutil.copytree(guide, BUNDLE / "guide", ignore=shutil.ignore_patterns(".*"))


def expected_members() -> set[str]:
    """Every file the wheel must carry: the package tree as staged (code, data, bundle)."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", default=str(ROOT / "dist"))
    ap.add_argument("--guide", default=str(GUIDE), help="the built book's HTML folder")
    ap.add_argument("--without-guide", action="store_true", help="leave the guide out")
    ap.add_argument("--no-isolation", action="store_true", help="pass to `python -m build`")
    args = ap.parse_args(argv)

    guide = None if args.without_guide else Path(args.guide)
    if guide is not None and not (guide / "index.html").is_file():
        print(f"{guide}/index.html is missing: build the book first (jupyter-book build book)")
        return 1
    outdir = Path(args.outdir).resolve()
    shutil.rmtree(outdir, ignore_errors=True)
    try:
        stage(guide)
        # The shipped copy must hold together on its own: every local link resolves.
        if guide is not None and check_links.main([str(BUNDLE / "guide")]) != 0:
            return 1
        wanted = expected_members()  # while staged, so the bundle is included
        cmd = [sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)]
        if args.no_isolation:
            cmd.insert(3, "--no-isolation")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wheels = sorted(outdir.glob("*.whl"))
        problems = [] if len(wheels) == 1 else [f"expected one wheel, found {wheels}"]
        if wheels:
            with zipfile.ZipFile(wheels[0]) as zf:
                missing = wanted - set(zf.namelist())
            problems += [f"missing from the wheel: {m}" for m in sorted(missing)]
    finally:
        shutil.rmtree(BUNDLE, ignore_errors=True)
    artefacts = sorted(outdir.iterdir())
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, artefacts)], check=True
    )
    for path in artefacts:
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
