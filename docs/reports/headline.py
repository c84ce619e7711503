"""Rewrite the README's headline block from the committed store, with the commands beside it.

    python docs/reports/headline.py          # from the repository root, after the report commands

Runs `mlbench table --paper ...` on `docs/reports/runs` (the store behind docs/reports) and puts
each command and its markdown output between the README's `<!-- headline:start -->` and
`<!-- headline:end -->` markers, so every number there is a command's output printed beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORE = "docs/reports/runs"
TABLES = {  # paper id -> the experiment groups whose runs its headline table shows
    "cgmvae": "main lamp sleec",
    "mulsupcon": "main asl lamp rbcc",
}
TABLE_ARGS = "--metric ex-f1 --protocol paper --datasets yeast scene delicious --format markdown"


def block() -> str:
    parts = []
    env = {**os.environ, "COLUMNS": "200"}
    for paper, groups in TABLES.items():
        table = f"mlbench table --paper {paper} {TABLE_ARGS} --runs-dir {STORE}"
        shown = f"mlbench reproduce --experiment {paper} --groups {groups} --runs-dir {STORE}   # the runs (resumable)"
        args = [sys.executable, "-m", "mlbench", *table.split()[1:]]
        out = subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
        parts.append(f"```bash\n{shown}\n{table}\n```\n\n{out.strip()}\n")
    return "\n".join(parts)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- headline:start -->\n", "<!-- headline:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + start + block() + end + tail)


if __name__ == "__main__":
    main()
