"""Running the numbered notebooks in batch, and exporting them as HTML reports.

The notebooks in ``notebooks/`` (``01-quickstart.ipynb`` ...) each hold one
cell tagged ``parameters``. :func:`run_notebook` runs one with papermill,
overriding any of those parameters, and writes two files under ``reports/``:
the executed notebook and an HTML report made by nbconvert, with the code
hidden (unless asked for), the charts inlined as images, and a header
stating what was measured: the parameters, the ttglib and Redis versions,
the machine's cores and the date. The Redis version comes from the
notebook's own environment cell (:func:`ttglib.experiments.environment`),
so the header names the server the notebook really used.

papermill and nbconvert are imported only when a notebook runs; listing the
notebooks and reading their parameters needs neither.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import html
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttglib import __version__
from ttglib.errors import TtgError, UsageError

logger = logging.getLogger(__name__)

NOTEBOOKS_DIR = Path("notebooks")
REPORTS_DIR = Path("reports")
NAME_PATTERN = re.compile(r"^\d{2}-[a-z0-9-]+\.ipynb$")
PARAMETERS_TAG = "parameters"
ENVIRONMENT_MIME = "application/vnd.ttglib.environment+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
INSTALL_HINT = (
    "running notebooks needs papermill and nbconvert: pip install 'ttglib[notebooks]'"
)


class NotebookFailedError(TtgError):
    """A notebook raised while it ran; the message names the cell and the error.

    Part of the :class:`~ttglib.errors.TtgError` tree (exit code 1). The
    executed notebook is kept, with the failing cell's traceback, for reading.
    """

    def __init__(self, name: str, executed: Path, detail: str) -> None:
        super().__init__(f"notebook {name} failed: {detail} (see {executed})")
        self.name = name
        self.executed = executed


@dataclass(frozen=True)
class Parameter:
    """One parameter of a notebook, from its ``parameters`` cell.

    Attributes:
        name: the variable's name.
        default: its value in the cell.
        help: the comment after it on the same line, if any.
    """

    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class NotebookInfo:
    """A numbered notebook: its file, the question it answers, its parameters."""

    name: str
    path: Path
    question: str
    parameters: list[Parameter]


@dataclass(frozen=True)
class NotebookRun:
    """What :func:`run_notebook` produced.

    Attributes:
        name: the notebook's name, e.g. ``02-chunk-size-sweep``.
        executed: the executed notebook.
        html: the HTML report.
        parameters: the parameters that were overridden.
        seconds: how long the notebook ran.
    """

    name: str
    executed: Path
    html: Path
    parameters: dict[str, Any]
    seconds: float


# --- finding notebooks and their parameters ----------------------------------


def list_notebooks(directory: Path = NOTEBOOKS_DIR) -> list[NotebookInfo]:
    """The numbered notebooks in ``directory``, in order.

    Raises:
        UsageError: the folder does not exist.
    """
    if not directory.is_dir():
        raise UsageError(f"no notebooks folder at {directory} (see --notebooks-dir)")
    paths = sorted(p for p in directory.iterdir() if NAME_PATTERN.match(p.name))
    return [describe_notebook(path) for path in paths]


def describe_notebook(path: Path) -> NotebookInfo:
    """Read a notebook's question (first markdown cell) and its parameters."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    question = ""
    for cell in cells:
        if cell["cell_type"] == "markdown":
            question = first_sentence(cell_source(cell))
            break
    return NotebookInfo(path.stem, path, question, read_parameters(cells, path))


def find_notebook(name: str, directory: Path = NOTEBOOKS_DIR) -> NotebookInfo:
    """The notebook named ``name``: ``02``, ``02-chunk-size-sweep`` or ``chunk-size-sweep``.

    Raises:
        UsageError: no notebook, or more than one, answers to the name.
    """
    stem = name.removesuffix(".ipynb")
    notebooks = list_notebooks(directory)
    found = [
        info for info in notebooks if stem in (info.name, info.name[:2], info.name[3:])
    ]
    if len(found) != 1:
        known = ", ".join(info.name for info in notebooks) or "none"
        raise UsageError(f"no notebook {name!r} in {directory}; there are: {known}")
    return found[0]


def read_parameters(cells: list[dict[str, Any]], path: Path) -> list[Parameter]:
    """The assignments of the one cell tagged ``parameters``.

    Raises:
        UsageError: no cell, or several, carry the tag; or a parameter's value
            is not a literal.
    """
    tagged = [
        cell
        for cell in cells
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])
    ]
    if len(tagged) != 1:
        raise UsageError(
            f"{path.name} must have exactly one cell tagged 'parameters', "
            f"not {len(tagged)}"
        )
    source = cell_source(tagged[0])
    lines = source.splitlines()

    parameters = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if not isinstance(target, ast.Name) or node.value is None:
            continue
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise UsageError(
                f"parameter {target.id} of {path.name} must be a literal value"
            ) from None
        parameters.append(Parameter(target.id, default, comment_after(lines, node)))
    return parameters


def comment_after(lines: list[str], node: ast.stmt) -> str:
    """The ``# comment`` that follows a statement on its last line, if any."""
    assert node.end_lineno is not None and node.end_col_offset is not None
    rest = lines[node.end_lineno - 1][node.end_col_offset :].strip()
    return rest.removeprefix("#").strip() if rest.startswith("#") else ""


def parse_value(text: str) -> Any:
    """A command-line value as Python: ``10`` -> 10, ``[1, 10]`` -> a list, else text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (it is stored as a string or a list)."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def first_sentence(markdown: str) -> str:
    """The first sentence (up to ``?`` or ``.``) of the first paragraph that is not a heading."""
    paragraph: list[str] = []
    for line in markdown.splitlines():
        text = line.strip()
        if text.startswith("#") or (not text and not paragraph):
            continue
        if not text:
            break
        paragraph.append(text)
    plain = " ".join(paragraph).replace("**", "")
    match = re.search(r"[?.](\s|$)", plain)
    return plain[: match.start() + 1] if match else plain


# --- running -------------------------------------------------------------------


def run_notebook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    reports_dir: Path = REPORTS_DIR,
    show_code: bool = False,
    cell_timeout: float | None = None,
    strict: bool = True,
) -> NotebookRun:
    """Run a notebook with papermill and export its HTML report.

    Args:
        name: the notebook, as :func:`find_notebook` takes it.
        parameters: values for the notebook's parameters.
        notebooks_dir: where the notebooks are.
        reports_dir: where the executed notebook and the report go.
        show_code: keep the code cells in the report.
        cell_timeout: seconds one cell may run; no limit when None.
        strict: refuse parameters the notebook does not declare; when False
            they are left out (for one value given to several notebooks).

    Raises:
        UsageError: unknown notebook or parameter.
        NotebookFailedError: a cell raised.
        ImportError: papermill or nbconvert is missing.
    """
    try:
        import papermill
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError(INSTALL_HINT) from error

    info = find_notebook(name, notebooks_dir)
    chosen = choose_parameters(info, parameters or {}, strict)
    reports_dir.mkdir(parents=True, exist_ok=True)
    executed = reports_dir / f"{info.name}.ipynb"

    logger.info("running notebook=%s parameters=%s", info.name, chosen)
    began = time.monotonic()
    try:
        papermill.execute_notebook(
            str(info.path),
            str(executed),
            parameters=chosen,
            cwd=str(Path.cwd()),
            progress_bar=False,
            execution_timeout=cell_timeout,
        )
    except papermill.PapermillExecutionError as error:
        detail = f"cell {error.exec_count}: {error.ename}: {error.evalue}"
        raise NotebookFailedError(info.name, executed, detail) from None
    seconds = time.monotonic() - began

    report = export_html(executed, reports_dir / f"{info.name}.html", show_code)
    logger.info("ran notebook=%s seconds=%.1f report=%s", info.name, seconds, report)
    return NotebookRun(info.name, executed, report, chosen, seconds)


def choose_parameters(
    info: NotebookInfo, parameters: Mapping[str, Any], strict: bool
) -> dict[str, Any]:
    """Keep the parameters ``info`` declares; refuse the others when ``strict``."""
    known = {parameter.name for parameter in info.parameters}
    unknown = sorted(set(parameters) - known)
    if unknown and strict:
        raise UsageError(
            f"notebook {info.name} has no parameter {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(known)) or 'none'}"
        )
    return {key: value for key, value in parameters.items() if key in known}


# --- exporting -------------------------------------------------------------------


def export_html(executed: Path, target: Path, show_code: bool = False) -> Path:
    """Export an executed notebook as a standalone HTML report.

    Images stay inlined (``data:`` URIs), so the file travels alone. The
    notebook's environment output becomes the report's header (see
    :func:`header_markdown`); a notebook without one gets the header after
    its first cell. Progress widgets, which need a live kernel to show
    anything, are left out.

    Args:
        executed: an executed notebook.
        target: the HTML file to write.
        show_code: keep the code cells; by default only outputs and text show.
    """
    try:
        import nbformat
        from nbconvert import HTMLExporter
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError(INSTALL_HINT) from error

    # nbformat and nbconvert ship without type hints, hence the ignores.
    notebook = nbformat.read(str(executed), as_version=4)  # type: ignore[no-untyped-call]
    report = copy.deepcopy(notebook)
    header = header_markdown(notebook, executed.stem)
    if not place_header(report, header):
        cell = nbformat.v4.new_markdown_cell(  # type: ignore[no-untyped-call]
            f"## What was measured\n\n{header}"
        )
        report.cells.insert(min(1, len(report.cells)), cell)

    exporter = HTMLExporter(template_name="lab")  # type: ignore[no-untyped-call]
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(report)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def place_header(report: Any, header: str) -> bool:
    """Put ``header`` in place of the environment output; drop widget outputs.

    Returns:
        Whether an environment output was found and replaced.
    """
    placed = False
    for cell in report.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data", {})
            if WIDGET_MIME in data:
                continue
            if ENVIRONMENT_MIME in data:
                output["data"] = {"text/markdown": header}
                placed = True
            kept.append(output)
        cell.outputs = kept
    return placed


def header_markdown(notebook: Any, name: str) -> str:
    """The report's header: parameters, versions, cores, date.

    Values come from the notebook's environment output where it has one
    (written while it ran); otherwise from this process, with the Redis
    version marked as not recorded.
    """
    recorded = find_environment(notebook)
    papermill_meta = notebook.get("metadata", {}).get("papermill", {})
    overridden = papermill_meta.get("parameters", {})
    configuration = recorded.get("configuration") or overridden
    rows = [
        ("notebook", name),
        *[(f"`{key}`", json.dumps(value)) for key, value in configuration.items()],
        ("ttglib", recorded.get("ttglib_version", __version__)),
        ("Redis", recorded.get("redis_version", "not recorded")),
        ("Python", recorded.get("python_version", "")),
        ("cores", str(recorded.get("cores", os.cpu_count() or 1))),
        ("machine", recorded.get("machine", "")),
        ("measured", recorded.get("date", papermill_meta.get("start_time", ""))),
        ("report written", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
    ]
    if papermill_meta.get("duration") is not None:
        rows.append(("run time", f"{float(papermill_meta['duration']):.1f} s"))
    if overridden:
        rows.append(("overridden", ", ".join(f"`{key}`" for key in overridden)))
    lines = ["| | |", "|---|---|"]
    lines += [f"| {label} | {escape_cell(value)} |" for label, value in rows if value]
    return "\n".join(lines)


def find_environment(notebook: Any) -> dict[str, Any]:
    """The environment a notebook recorded while it ran, or an empty mapping."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if ENVIRONMENT_MIME in data:
                value = data[ENVIRONMENT_MIME]
                return dict(json.loads(value) if isinstance(value, str) else value)
    return {}


def escape_cell(value: str) -> str:
    """Text safe inside a markdown table cell."""
    return html.escape(str(value)).replace("|", "\\|")
