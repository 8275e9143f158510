"""``ttg notebook``: list the numbered notebooks, run them in batch with reports.

Registered on the ``ttg`` group by :mod:`ttglib.cli`. Importing this module
costs only click: papermill and nbconvert load when a notebook runs, so a
worker that starts through ``ttg`` never pays for them.
"""

from __future__ import annotations

from pathlib import Path

import click

from ttglib.errors import UsageError

NOTEBOOKS_DIR_OPTION = click.option(
    "--notebooks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("notebooks"),
    show_default=True,
    help="Folder of the numbered notebooks.",
)


@click.group()
def notebook() -> None:
    """Run the numbered notebooks with papermill and export HTML reports."""


@notebook.command("list")
@NOTEBOOKS_DIR_OPTION
def list_command(notebooks_dir: Path) -> None:
    """List the notebooks, the question each answers, and their parameters."""
    from ttglib.notebook import list_notebooks

    for info in list_notebooks(notebooks_dir):
        click.echo(f"{info.name}: {info.question}")
        for parameter in info.parameters:
            note = f"  # {parameter.help}" if parameter.help else ""
            click.echo(f"    {parameter.name} = {parameter.default!r}{note}")


@notebook.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every numbered notebook.")
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="KEY VALUE",
    help="Override a parameter; VALUE is read as a Python literal, else as text.",
)
@NOTEBOOKS_DIR_OPTION
@click.option(
    "--reports-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where the executed notebooks and HTML reports go.",
)
@click.option("--show-code", is_flag=True, help="Keep the code in the HTML reports.")
@click.option(
    "--cell-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds one cell may run (no limit by default).",
)
def run_command(
    names: tuple[str, ...],
    run_all: bool,
    parameters: tuple[tuple[str, str], ...],
    notebooks_dir: Path,
    reports_dir: Path,
    show_code: bool,
    cell_timeout: float | None,
) -> None:
    """Run notebooks NAMES (e.g. 02 or 02-chunk-size-sweep) and write their reports.

    With several notebooks, a parameter goes to those that declare it.
    """
    from ttglib.notebook import find_notebook, list_notebooks, parse_value, run_notebook

    if run_all == bool(names):
        raise UsageError("name one or more notebooks, or give --all")
    infos = (
        list_notebooks(notebooks_dir)
        if run_all
        else [find_notebook(name, notebooks_dir) for name in names]
    )
    values = {key: parse_value(text) for key, text in parameters}
    declared = {p.name for info in infos for p in info.parameters}
    unknown = sorted(set(values) - declared)
    if unknown:
        raise UsageError(f"no notebook chosen declares {', '.join(unknown)}")

    for info in infos:
        click.echo(f"running {info.name} ...", err=True)
        done = run_notebook(
            info.name,
            values,
            notebooks_dir=notebooks_dir,
            reports_dir=reports_dir,
            show_code=show_code,
            cell_timeout=cell_timeout,
            strict=False,
        )
        click.echo(f"{done.name}: {done.html} ({done.seconds:.1f} s)")
