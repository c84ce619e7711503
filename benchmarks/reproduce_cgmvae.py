"""Reproduce C-GMVAE's Tables 1-3 (and Table 4's ablation on one dataset) with mlbench.

Trains BR, MLkNN, HARAM, C2AE, MPVAE and C-GMVAE (both presets) with 3 seeds on every Table 1
dataset that is fetched, plus the C-GMVAE ablations on one dataset, then writes a markdown
report: our mean +- std under the ``paper`` protocol (each metric maximised over test thresholds,
as the official evaluation code does) and under ``fixed`` (threshold 0.5), the paper's value and
the difference.

    python benchmarks/reproduce_cgmvae.py                       # train what is missing, report
    python benchmarks/reproduce_cgmvae.py --report-only         # report the runs that exist
    python benchmarks/reproduce_cgmvae.py --datasets yeast --methods cgmvae mpvae --seeds 0

Runs live in ``benchmarks/runs`` (git-ignored; a run that is complete is never redone, so the
command can be interrupted and restarted, and runs made with ``mlbench train --runs-dir
benchmarks/runs`` with the same settings are picked up); only the report is committed.
Set OMP_NUM_THREADS=1 when several of these share a small machine.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlbench.io import read_json  # noqa: E402
from mlbench.papers import paper_value  # noqa: E402
from mlbench.runs.runner import RunSpec, run_state, train_run, versions  # noqa: E402

TABLE1_DATASETS = ["ebird", "mirflickr", "nus-vec", "yeast", "scene", "sider", "reuters", "bookmarks", "delicious"]
METRICS = ["ex-f1", "mi-f1", "ma-f1", "ha", "p@1"]
METRIC_LABELS = {"ex-f1": "ex-F1", "mi-f1": "mi-F1", "ma-f1": "ma-F1", "ha": "HA", "p@1": "P@1"}


@dataclass(frozen=True)
class Row:
    key: str  # command-line name
    method: str  # registered method id
    overrides: tuple[tuple[str, object], ...]
    label: str
    paper_method: str | None  # method id in mlbench.papers (None: not in the paper)


MAIN_ROWS = [
    Row("br", "br", (), "BR", "br"),
    Row("mlknn", "mlknn", (), "MLkNN", "mlknn"),
    Row("haram", "haram", (), "HARAM", "haram"),
    Row("c2ae", "c2ae", (), "C2AE", "c2ae"),
    Row("mpvae", "mpvae", (), "MPVAE", "mpvae"),
    Row("cgmvae", "cgmvae", (("preset", "paper"),), "C-GMVAE (preset=paper)", "cgmvae"),
    Row("cgmvae-official", "cgmvae", (("preset", "official"),), "C-GMVAE (preset=official)", "cgmvae"),
    Row(
        "cgmvae-xz",
        "cgmvae",
        (("decoder_input", "xz"), ("preset", "paper")),
        "C-GMVAE (preset=paper, decoder_input=xz)",
        "cgmvae",
    ),
]
ABLATION_ROWS = [
    Row(
        "cgmvae-unigauss",
        "cgmvae-unigauss",
        (("preset", "official"),),
        "uni-Gaussian (official preset)",
        "cgmvae-unigauss",
    ),
    Row("cgmvae-gm-only", "cgmvae-gm-only", (("preset", "official"),), "GM only (official preset)", "cgmvae-gm-only"),
    Row(
        "cgmvae-contrastive-only",
        "cgmvae-contrastive-only",
        (("preset", "official"),),
        "contrastive only (official preset)",
        "cgmvae-contrastive-only",
    ),
]
# Longer training than the 100 epochs: the official main.py default (200 epochs, same
# cosine-restart schedule), to test whether the 100-epoch runs are under-trained.
LONGER_TRAINING_ROWS = [
    Row(
        "cgmvae-official-200",
        "cgmvae",
        (("epochs", 200), ("preset", "official")),
        "C-GMVAE (preset=official, epochs=200)",
        "cgmvae",
    ),
]

NOTES = """\
## Why our numbers can differ from the paper's

* **Split.** The paper uses the authors' own `<name>_{train,val,test}_idx.npy` splits (80/10/10
  by the paper's text), distributed with their npy files; those downloads are dead, so we use
  mlbench's seeded iterative-stratification 80/10/10 split of the Mulan data (a different split
  per seed). The test sets are ~240 samples on yeast and scene, so one split-to-split standard
  deviation is about 0.01 on the F1 scores: differences of that size are noise.
* **Seeds.** The paper reports C-GMVAE as the mean of 3 seeds on one fixed split; our std is
  over 3 (split, initialisation) seeds, so it includes split-to-split variation.
* **The baseline rows are not comparable one-to-one.** The paper quotes BR, MLkNN, HARAM, C2AE,
  LaMP and MPVAE from earlier papers ("most numbers are also directly quoted from their
  papers"): other splits, and not necessarily the test-threshold oracle. Ours run under exactly
  the same protocol as C-GMVAE, which favours them; on scene every one of our baselines is
  0.02-0.10 above its quoted value, on yeast most are. Under one protocol and one split the
  paper's ranking is not reproduced on these two small datasets: C-GMVAE (official preset) is
  within one std of C2AE, MPVAE, BR and MLkNN on the F1 scores.
* **Model selection noise.** Validation sets have ~240 samples; the epoch with the best
  validation macro-F1 varies a lot between seeds (see "selected epochs"; MPVAE on yeast picked
  epoch 68 of 800). P@1 is not what is selected on and has a std of ~0.04 on yeast.
* **Preprocessing.** The official code feeds the npy features as stored (whether they were
  standardised beforehand is unknown); mlbench standardises every neural method's inputs with
  the training mean/std (`standardize=True`). Yeast's raw features are already centred; scene's
  are in [0, 1].
* **Protocol.** The paper's numbers come from the official evaluation code: each metric is
  maximised separately over thresholds 0.1..0.9 *on the test set*. That is what the `paper`
  columns reproduce; the `fixed` columns (one threshold, 0.5, honest metric definitions) are
  what a user should expect on new data. The paper protocol is optimistic by construction.
* **Model selection.** As in the official code: the epoch with the best validation macro-F1
  (maximised over thresholds) is kept (the `val` grid 0.05..0.95).
* **C-GMVAE paper preset.** With the decoder seeing only z (the paper's text), the posterior
  collapses on yeast and scene within the first epochs (KL -> 0, the posterior means of all samples become
  identical), and the model is the constant predictor: the KL estimate's pull towards the
  label components outweighs the weak gradient that reaches z through the decoder. The official
  code avoids this by concatenating the raw features x to z at the decoder; its latent collapses
  just the same (KL ~ 0.01), but x carries the information. `--set decoder_input=xz` gives the
  paper preset the official decoder input. See docs/methods-latent.md.
* **Ablation.** The paper ran Table 4 on ebird, mirflickr and nus-vec, which need the authors'
  npy files; we ran its rows on yeast with the official preset (the paper preset collapses, see
  above). The variants are within noise of the full model, consistent with the collapsed latent:
  in the official architecture the mixture prior hardly influences the predictions.
* **MPVAE.** Official per-dataset scripts (800 epochs on yeast, 400 on scene); prediction uses the
  exact probit marginals instead of 10 000 Monte-Carlo draws (same limit, no MC noise).
* **C2AE.** The paper's C2AE numbers are quoted from earlier work; our C2AE follows the authors'
  MATLAB demo where the paper is silent (sizes, penalty, ranking scale) but trains with Adam.
* **delicious (983 labels).** C-GMVAE (official preset) is 0.03-0.04 below the paper on ex-F1
  and mi-F1 and about 0.11 below on P@1, while its macro-F1 (the selection metric) matches the
  paper. Its selected epochs are at the very end of the 100 epochs the issue asks for (see
  "selected epochs"; the official main.py defaults to 200, its one public script uses 90), so it
  may be under-trained: the diagnostic section trains seed 0 for 200 epochs. MPVAE (200 epochs,
  official script) is within 0.02 of the paper except mi-F1 (-0.021) and P@1 (-0.037, std
  0.021); it selects early epochs (35-42 of 200). Both VAEs lose most on P@1, which model
  selection does not look at. One more untested difference: we standardise delicious's binary
  bag-of-words features (the official code feeds its npy as stored), which turns a word seen in
  few training documents into a large input value; we have not measured its effect.
"""


def fetched_datasets(data_dir: Path) -> list[str]:
    from mlbench.data import load_dataset

    out = []
    for name in TABLE1_DATASETS:
        try:
            load_dataset(name, data_dir)
        except Exception:  # not fetched (bundles need the authors' npy files)
            continue
        out.append(name)
    return out


def spec_for(row: Row, dataset: str, seed: int) -> RunSpec:
    return RunSpec(row.method, dataset, seed, "iterative", tuple(sorted(row.overrides)))


def collect(runs_dir: Path, row: Row, dataset: str, seeds: list[int]) -> dict:
    values: dict[str, dict[str, list[float]]] = {"paper": {}, "fixed": {}}
    fit_seconds, best_epochs, done = [], [], []
    for seed in seeds:
        run_dir = runs_dir / spec_for(row, dataset, seed).run_id()
        if run_state(run_dir) != "complete":
            continue
        done.append(seed)
        metrics = read_json(run_dir / "metrics.json")
        for protocol in values:
            for m in METRICS:
                values[protocol].setdefault(m, []).append(metrics[protocol]["metrics"][m])
        fit_seconds.append(read_json(run_dir / "status.json").get("fit_seconds", math.nan))
        log = train_log(run_dir)
        if log["best_epoch"] is not None:
            best_epochs.append(log["best_epoch"])
    return {"values": values, "seeds": done, "fit_seconds": fit_seconds, "best_epochs": best_epochs}


def train_log(run_dir: Path) -> dict:
    """The epochs logged so far, and the selected (best validation) epoch and its value."""
    import csv

    path = run_dir / "train_log.csv"
    rows = list(csv.DictReader(path.open())) if path.is_file() else []
    best = [r for r in rows if r.get("best") == "True"]
    return {
        "rows": rows,
        "best_epoch": int(best[-1]["epoch"]) if best else None,
        "best_value": float(best[-1]["val_value"]) if best else None,
    }


def fmt_mean_std(vals: list[float]) -> str:
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.3f}"
    return f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}"


def paper_number(row: Row, metric: str, dataset: str, table: str | None = None) -> float | None:
    if row.paper_method is None:
        return None
    return paper_value("cgmvae", metric, row.paper_method, dataset, table=table)


def dataset_section(runs_dir, dataset, rows, seeds, table=None, title=None) -> tuple[list[str], list]:
    results = {row.key: collect(runs_dir, row, dataset, seeds) for row in rows}
    metric_head = " | ".join(METRIC_LABELS[m] for m in METRICS)
    lines = [
        f"### {title or dataset}",
        "",
        "Paper protocol: ours (mean ± std) / paper / Δ",
        "",
        f"| method | seeds | {metric_head} |",
        "|" + "---|" * (2 + len(METRICS)),
    ]
    summary = []
    for row in rows:
        res = results[row.key]
        cells = [row.label, ",".join(map(str, res["seeds"])) or "not run"]
        for m in METRICS:
            ours = res["values"]["paper"].get(m, [])
            ref = paper_number(row, m, dataset, table)
            cell = fmt_mean_std(ours)
            if ref is not None:
                cell += f" / {ref:.3f}"
                if ours:
                    cell += f" / **{np.mean(ours) - ref:+.3f}**"
                    summary.append((dataset, row.label, m, float(np.mean(ours)), ref))
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if any(results[row.key]["seeds"] for row in rows):
        lines += [
            "Fixed protocol (threshold 0.5): ours (mean ± std)",
            "",
            f"| method | {metric_head} |",
            "|" + "---|" * (1 + len(METRICS)),
        ]
        for row in rows:
            res = results[row.key]
            if res["seeds"]:
                lines.append(
                    "| "
                    + " | ".join([row.label] + [fmt_mean_std(res["values"]["fixed"].get(m, [])) for m in METRICS])
                    + " |"
                )
        lines.append("")
    timing = []
    for row in rows:
        res = results[row.key]
        if res["seeds"]:
            be = f", selected epochs {', '.join(map(str, res['best_epochs']))}" if res["best_epochs"] else ""
            timing.append(f"{row.label}: fit {np.mean(res['fit_seconds']):.0f} s/run{be}")
    if timing:
        lines += [
            "Fit time (shared, heavily loaded 2-core CPU, 1 thread per run; not a speed "
            "benchmark): " + "; ".join(timing) + ".",
            "",
        ]
    return lines, summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", help="default: every fetched Table 1 dataset")
    ap.add_argument(
        "--methods",
        nargs="*",
        default=[r.key for r in MAIN_ROWS],
        help="rows to train: " + " ".join(r.key for r in MAIN_ROWS),
    )
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--ablation-dataset", default="yeast", help="'' to skip the ablation runs")
    ap.add_argument("--runs-dir", type=Path, default=REPO / "benchmarks" / "runs")
    ap.add_argument("--data-dir", type=Path, default=REPO / "data")
    ap.add_argument(
        "--longer-dataset",
        default="delicious",
        help="dataset for the 200-epoch C-GMVAE diagnostic, when it is among --datasets ('' to skip)",
    )
    ap.add_argument("--longer-seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--report", type=Path, default=REPO / "benchmarks" / "reports" / "cgmvae.md")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--report-only", action="store_true", help="train nothing; report existing runs")
    ap.add_argument("--note", default="", help="text for the report's 'Not run' section (why)")
    args = ap.parse_args(argv)

    datasets = args.datasets or fetched_datasets(args.data_dir)
    rows = [r for r in MAIN_ROWS if r.key in args.methods]
    plan = [(r, d, s) for d in datasets for r in rows for s in args.seeds]
    if args.ablation_dataset:
        plan += [(r, args.ablation_dataset, s) for r in ABLATION_ROWS for s in args.seeds]
    longer = args.longer_dataset if args.longer_dataset in datasets else ""
    if longer:
        plan += [(r, longer, s) for r in LONGER_TRAINING_ROWS for s in args.longer_seeds]
    if not args.report_only:
        for i, (row, dataset, seed) in enumerate(plan, 1):
            start = time.perf_counter()
            run_dir, what = train_run(
                spec_for(row, dataset, seed),
                runs_dir=args.runs_dir,
                data_dir=args.data_dir,
                device=args.device,
                resume=True,
            )
            print(
                f"[{i}/{len(plan)}] {row.label} {dataset} seed {seed}: {what} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )

    command = "python " + shlex.join(
        [
            str(Path(sys.argv[0]).relative_to(REPO)) if Path(sys.argv[0]).is_absolute() else sys.argv[0],
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    lines = [
        "# C-GMVAE reproduction (Tables 1-4)",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{command}` "
        "(from the repository root)."
        + (
            " With `--report-only` it trains nothing: the runs were trained earlier into "
            f"`{args.runs_dir.relative_to(REPO) if args.runs_dir.is_relative_to(REPO) else args.runs_dir}` "
            "(by this script, or by equivalent `mlbench train --runs-dir benchmarks/runs` calls, "
            "which give the same run ids), one thread per run (OMP_NUM_THREADS=1)."
            if args.report_only
            else ""
        ),
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "Columns per metric: ours under the **paper** protocol (mean ± std over the seeds listed; "
        "each metric maximised over thresholds 0.1..0.9 on the test set, paper metric "
        "definitions), the paper's value, Δ = ours − paper, and ours under the **fixed** "
        "protocol (threshold 0.5, honest definitions). Split: mlbench iterative 80/10/10, one "
        "split per seed.",
        "",
        "## Tables 1-3",
        "",
    ]
    summary = []
    for dataset in datasets:
        section, s = dataset_section(args.runs_dir, dataset, rows, args.seeds)
        lines += section
        summary += s
    if args.ablation_dataset:
        ab_rows = ABLATION_ROWS + [r for r in MAIN_ROWS if r.key == "cgmvae-official"]
        section, _ = dataset_section(
            args.runs_dir,
            args.ablation_dataset,
            ab_rows,
            args.seeds,
            table="4",
            title=f"Table 4 ablation on {args.ablation_dataset}",
        )
        lines += ["## Ablation (Table 4 rows; the paper ran it on ebird, mirflickr, nus-vec only)", ""]
        lines += section
    if longer:
        official = [r for r in MAIN_ROWS if r.key == "cgmvae-official"]
        section, _ = dataset_section(
            args.runs_dir,
            longer,
            official + LONGER_TRAINING_ROWS,
            args.longer_seeds,
            title=f"Longer training on {longer} (diagnostic)",
        )
        lines += [
            "## Diagnostic: is C-GMVAE under-trained at 100 epochs?",
            "",
            "Same seeds, same split; 200 epochs is the official main.py default (the "
            "issue asks for 100). Not part of the Table 1-3 rows above.",
            "",
        ]
        lines += section
        for seed in args.longer_seeds:
            logs = []
            for row in official + LONGER_TRAINING_ROWS:
                run_dir = args.runs_dir / spec_for(row, longer, seed).run_id()
                log = train_log(run_dir)
                logs.append(log)
                if log["best_epoch"] is None:
                    continue
                state = (
                    "complete" if run_state(run_dir) == "complete" else f"in progress, {len(log['rows'])} epochs so far"
                )
                lines.append(
                    f"* {row.label}, seed {seed} ({state}): best validation macro-F1 "
                    f"{log['best_value']:.4f} at epoch {log['best_epoch']}."
                )
            short, long_ = logs
            common = min(len(short["rows"]), len(long_["rows"]))
            if common:
                same = [
                    a["train_loss"] == b["train_loss"] and a["val_value"] == b["val_value"]
                    for a, b in zip(short["rows"][:common], long_["rows"][:common])
                ]
                lines.append(
                    f"* Seed {seed}: the two runs' training loss and validation macro-F1 are "
                    + (
                        f"identical over the {common} epochs both have logged (the cosine-restart "
                        "schedule does not depend on the epoch count), so the longer run can only "
                        "change the result by a better epoch after epoch 100."
                        if all(same)
                        else f"different from epoch {same.index(False) + 1} on."
                    )
                )
        lines.append("")
    close = [
        f"| {d} | {label} | {METRIC_LABELS[m]} | {o:.3f} | {p:.3f} | {o - p:+.3f} |"
        for d, label, m, o, p in summary
        if abs(o - p) > 0.02
    ]
    lines += ["## Cells more than 0.02 from the paper (paper protocol)", ""]
    if close:
        lines += ["| dataset | method | metric | ours | paper | Δ |", "|---|---|---|---|---|---|", *close]
    else:
        lines.append("None.")
    lines += [""]
    missing = [(r, d, s) for r, d, s in plan if run_state(args.runs_dir / spec_for(r, d, s).run_id()) != "complete"]
    lines += ["## Not run", ""]
    if missing:
        lines += [f"{len(missing)} of {len(plan)} planned runs are missing:", ""]
        by = {}
        for r, d, s in missing:
            by.setdefault((r.label, d), []).append(s)
        lines += [f"* {label} on {d}: seeds {', '.join(map(str, s))}" for (label, d), s in by.items()]
        if args.note:
            lines += ["", args.note]
        lines += [
            "",
            "Run them (skips everything complete) with "
            "`OMP_NUM_THREADS=1 python benchmarks/reproduce_cgmvae.py` "
            "(add `--datasets ...` / `--methods ...` to restrict).",
            "",
        ]
    else:
        lines += ["Nothing: every planned run is complete.", ""]
    lines += [NOTES]
    text = "\n".join(lines)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
