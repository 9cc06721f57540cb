"""Issue 23, item 6: the package builds without a warning and ships the web queue's files.

``make demo`` (``pip install -e .``) printed about 70 lines of setuptools warnings: the page's folders
(``recover/web/static``, ``recover/web/templates``) were package data of ``recover.web`` without being
declared packages, which setuptools says it will stop shipping.  This builds the wheel as pip does
(an isolated build with the ``[build-system]`` requirements, from a copy of the sources so that nothing
is written into the working tree) and reads both what the build printed and what the wheel holds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile

from paths import REPO

SOURCES = ("pyproject.toml", "README.md", "cli.py", "recover", "chains", "chain_configs", "fees", "migrations")
# a Python warning as printed (``SetuptoolsDeprecationWarning: ...``, setuptools' ``_Warning: ...``) or
# setuptools' boxed notice
WARNED = re.compile(r"\w*Warning: |would be ignored|is absent from the `packages` configuration")


def test_the_wheel_builds_without_warnings_and_ships_the_pages(tmp_path):
    src = tmp_path / "src"
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    printed = proc.stdout + proc.stderr
    assert proc.returncode == 0, printed[-4000:]
    warned = [line.strip() for line in printed.splitlines() if WARNED.search(line)]
    assert warned == [], "\n".join(warned)

    [wheel] = out.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = REPO / "recover" / "web"
    for folder in ("templates", "static"):
        shipped = {f"recover/web/{folder}/{p.name}" for p in (web / folder).iterdir() if p.is_file()}
        assert shipped and shipped <= names, shipped - names
    assert "recover/web/static/favicon.ico" in names and "recover/web/templates/enroll.html" in names
    assert any(n.startswith("chains/configs/") and n.endswith(".toml") for n in names)
