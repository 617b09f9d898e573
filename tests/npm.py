"""npm packages for the tests that run JavaScript: a folder's package.json installed once into
a cache under .jifen/ (reinstalled when the package.json changes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def npm_installed(source: Path, cache_name: str, *files: str) -> Path:
    """``source``'s package.json installed into ``.jifen/<cache_name>``, with ``files`` of
    ``source`` copied beside it; the folder to run node in."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise AssertionError("node and npm are needed for this test")
    target = ROOT / ".jifen" / cache_name
    target.mkdir(parents=True, exist_ok=True)
    wanted = (source / "package.json").read_text()
    installed = target / "package.json"
    if not (target / "node_modules").exists() or (
        not installed.exists() or installed.read_text() != wanted
    ):
        installed.write_text(wanted)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            timeout=180,
            capture_output=True,
        )
    for name in files:
        shutil.copy(source / name, target / name)
    return target
