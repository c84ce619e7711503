"""What every command shares: the Typer app, the consoles, option types, the entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core
import typer.main
from rich.console import Console
from rich.markup import escape

from mlbench.errors import MlbenchError

_display_type = typer.core.TyperOption.display_type_rich


def _display_type_of_valued_options(self, ctx):
    # Typer 0.2x prints `<bool>` beside every on/off flag, which takes no value: show nothing.
    return None if getattr(self, "is_flag", False) else _display_type(self, ctx)


typer.core.TyperOption.display_type_rich = _display_type_of_valued_options

app = typer.Typer(
    help="Benchmark multi-label classification methods on the standard datasets.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    options_metavar="[OPTIONS]",
)
console = Console()
err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from mlbench import __version__

        print(f"mlbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Benchmark multi-label classification methods on the standard datasets."""


# Options that take several values after one flag (`--seeds 0 1 2`); click wants the flag
# repeated, so `expand_argv` rewrites the former into the latter.
MULTI_VALUE_OPTIONS = {
    "--seeds",
    "--seed",
    "--ratios",
    "--datasets",
    "--methods",
    "--metrics",
    "--metric",
    "--set",
    "--protocols",
    "--method",
    "-m",
    "--dataset",
    "-d",
    "--fold",
    "--groups",
}

# One convention for every command: each spelling of a pair means the same option, whichever of
# the two a command declares (`mlbench table --method br` and `mlbench train --methods br`).
SPELLINGS = [
    ("--method", "--methods"),
    ("--dataset", "--datasets"),
    ("--seed", "--seeds"),
    ("--metric", "--metrics"),
    ("--split-strategy", "--strategy"),
]

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Data directory (env MLBENCH_DATA, default ./data).")
]
Mirror = Annotated[
    Optional[str],
    typer.Option(
        "--mirror",
        help="Fetch https://<host>/<path> from BASE/<host>/<path> (env MLBENCH_MIRROR); BASE is a URL or a directory.",
    ),
]
RunsDir = Annotated[
    Optional[Path], typer.Option("--runs-dir", help="Runs directory (env MLBENCH_RUNS, default ./runs).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def expand_argv(argv: list[str], multiple: set[str] | None = None) -> list[str]:
    """``multiple``: the options to expand (default :data:`MULTI_VALUE_OPTIONS`); :func:`main`
    passes those of the invoked command that take several values, so that a single-valued
    ``--metric a b`` is an error ("unexpected extra argument") rather than silently ``b``."""
    multiple = MULTI_VALUE_OPTIONS if multiple is None else multiple
    out: list[str] = []
    current: str | None = None
    for arg in argv:
        if arg.startswith("-"):
            current = arg if arg in multiple else None
            out.append(arg)
        elif current is not None and out and out[-1] != current:
            out.extend([current, arg])
        else:
            out.append(arg)
    return out


def _invoked_command(argv: list[str]):
    """The click (sub)command that ``argv`` invokes."""
    command = typer.main.get_command(app)
    for arg in argv:
        if arg.startswith("-") or not hasattr(command, "list_commands"):  # not a group
            break
        sub = command.get_command(None, arg)
        if sub is None:
            break
        command = sub
    return command


def _declared_options(argv: list[str], command=None) -> set[str]:
    """The option names of the (sub)command that ``argv`` invokes."""
    command = _invoked_command(argv) if command is None else command
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def _multiple_options(command) -> set[str]:
    """The options of :data:`MULTI_VALUE_OPTIONS` that ``command`` declares as taking several values."""
    return {
        opt
        for param in command.params
        if getattr(param, "multiple", False)
        for opt in getattr(param, "opts", [])
        if opt in MULTI_VALUE_OPTIONS
    }


def normalize_spellings(argv: list[str], command=None) -> list[str]:
    """Rewrite each option of :data:`SPELLINGS` to the spelling its command declares."""
    declared = _declared_options(argv, command)
    rename = {}
    for a, b in SPELLINGS:
        if a in declared and b not in declared:
            rename[b] = a
        elif b in declared and a not in declared:
            rename[a] = b
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        out.append(rename[name] + eq + value if name in rename else arg)
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: click handles usage errors and --help; MlbenchError becomes one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _invoked_command(argv)
    argv = expand_argv(normalize_spellings(argv, command), _multiple_options(command))
    try:
        app(args=argv, prog_name="mlbench")
    except MlbenchError as exc:
        # Escaped: a message may hold brackets (pip extras, lists) that rich would take as markup.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


Paper = Annotated[str, typer.Option("--paper", help="Paper id: cgmvae, mulsupcon (see mlbench.papers).")]
Protocol = Annotated[
    str, typer.Option("--protocol", help="fixed | val | paper (paper = oracle threshold, as the papers computed it).")
]
SplitStrategy = Annotated[
    Optional[str],
    typer.Option(
        "--split-strategy",
        help="Only runs of this split strategy (iterative | random | official | kfold5: every fold of 5-fold runs).",
    ),
]
Methods = Annotated[Optional[list[str]], typer.Option("--methods", help="Methods, in order (`--methods br mlknn`).")]
Datasets = Annotated[Optional[list[str]], typer.Option("--datasets", help="Datasets, in order.")]
# One --format for every command that renders result tables (table, reproduce): the set is
# mlbench.results.tables.FORMATS (not imported here: it would load pandas for --help).
OutputFormat = Annotated[
    str,
    typer.Option(
        "--format",
        help="rich | markdown | latex | html (laid out to read) | csv | json (records: one row per cell, plain numbers).",
    ),
]
TrainFraction = Annotated[
    float, typer.Option("--train-fraction", help="Runs trained on this fraction of the training part.")
]


def check_protocol(protocol: str) -> None:
    from mlbench.metrics.protocols import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise MlbenchError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")


def check_format(fmt: str, as_json: bool = False) -> str:
    """The output format of ``--format`` and ``--json`` together (``--json`` = ``--format json``)."""
    from mlbench.results.tables import FORMATS

    if as_json and fmt not in ("rich", "json"):
        raise MlbenchError(f"--json is --format json; give one of them, not --json with --format {fmt}.")
    fmt = "json" if as_json else fmt
    if fmt not in FORMATS:
        raise MlbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    return fmt


def read_runs_store(runs_dir):
    from mlbench.runs.spec import resolve_runs_dir
    from mlbench.runs.store import read_store

    return read_store(resolve_runs_dir(runs_dir))


def print_rendered(out, fmt: str) -> None:
    if fmt == "rich":
        console.print(out)
    else:
        print(out, end="")


def print_paper_tables(
    store, paper: str, tables, protocol: str, fmt: str, split=None, data_dir=None, datasets=None, methods=None
) -> None:
    """(table, metric) renderings of a paper's tables: the grid formats one after another, the
    record formats one document (``table --paper``, and ``reproduce`` after its runs)."""
    from mlbench.results.paper_tables import render_paper_tables

    renderings = render_paper_tables(
        store, paper, tables, protocol, fmt, split, data_dir=data_dir, datasets=datasets, methods=methods
    )
    for i, out in enumerate(renderings):
        if i and fmt != "rich":
            print()
        print_rendered(out, fmt)
