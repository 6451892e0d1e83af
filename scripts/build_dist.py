"""Build the release artefacts: a wheel and an sdist that carry everything a user needs.

    python scripts/build_dist.py                 # needs the built book (book/_build/html)
    python scripts/build_dist.py --without-guide # a development wheel: no built guide
    python scripts/build_dist.py --no-isolation  # build with this venv's setuptools (offline)

Steps: copy the checkout (the files git tracks or would track) to a temporary folder,
bundle the notebooks and the built guide into its ``plotpalette/_bundle/``, check the
bundled guide's links, run ``python -m build`` there (sdist, then the wheel from the
sdist, so both carry the same files), check that every file of the package tree is in
the wheel, and run ``twine check --strict``. Prints the artefacts and their sizes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import check_links  # scripts/check_links.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "book" / "_build" / "html"


def source_files() -> list[str]:
    """The checkout's files that git tracks or would track (not ignored: no venv, no
    build output); every file but caches when this is not a git checkout (an sdist)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [f for f in out.split("\0") if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", "_build", "__pycache__"}
        return [
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]


def stage(src: Path, guide: Path | None) -> None:
    """A copy of the checkout to build from, with the notebooks (and the guide) bundled
    into the package. The checkout itself is never written to, so builds can run side
    by side (tests, benchmarks) and an editable install never sees a half-staged bundle."""
    for rel in source_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    bundle = src / "plotpalette" / "_bundle"
    (bundle / "notebooks").mkdir(parents=True)
    for nb in sorted((src / "notebooks").glob("*.ipynb")):
        shutil.copyfile(nb, bundle / "notebooks" / nb.name)
    if guide is not None:  # (.buildinfo is Sphinx's cache key, of no use to a reader)
        shutil.copytree(guide, bundle / "guide", ignore=shutil.ignore_patterns(".*"))


def expected_members(src: Path) -> set[str]:
    """Every file the wheel must carry: the staged package tree (code, data, bundle)."""
    return {
        p.relative_to(src).as_posix()
        for p in (src / "plotpalette").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def build(src: Path, outdir: Path, no_isolation: bool) -> list[str]:
    """Build sdist + wheel from ``src`` into ``outdir``; the problems found in the wheel."""
    cmd = [sys.executable, "-m", "build", "--outdir", str(outdir), str(src)]
    if no_isolation:
        cmd.insert(3, "--no-isolation")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wheels = sorted(outdir.glob("*.whl"))
    if len(wheels) != 1:
        return [f"expected one wheel, found {wheels}"]
    with zipfile.ZipFile(wheels[0]) as zf:
        missing = expected_members(src) - set(zf.namelist())
    return [f"missing from the wheel: {m}" for m in sorted(missing)]


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
    with tempfile.TemporaryDirectory(prefix="plotpalette-build-") as tmp:
        src = Path(tmp) / "src"
        stage(src, guide)
        # The shipped copy must hold together on its own: every local link resolves.
        shipped = src / "plotpalette" / "_bundle" / "guide"
        if guide is not None and check_links.main([str(shipped)]) != 0:
            return 1
        problems = build(src, outdir, args.no_isolation)
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
