"""Notebooks: thin and output-free as committed; run by nbval and by papermill; exported as HTML."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from ttglib.cli import cli
from ttglib.errors import UsageError
from ttglib.notebook import (
    NotebookFailedError,
    export_html,
    find_notebook,
    list_notebooks,
    parse_value,
    run_notebook,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = [
    "01-quickstart",
    "02-chunk-size-sweep",
    "03-static-vs-queue",
    "04-fault-recovery",
]
CODE_CELL = 'class="highlight hl-ipython3"'
ALL = sorted(path.stem for path in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
INLINE_PNG = re.compile(r'<img[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}')


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)


# --- as committed ----------------------------------------------------------------


def test_the_numbered_notebooks_are_there() -> None:
    names = [info.name for info in list_notebooks(NOTEBOOKS)]

    assert names[: len(EXPECTED)] == EXPECTED
    assert names == ALL


@pytest.mark.parametrize("name", ALL)
def test_notebook_is_committed_thin_and_without_outputs(name: str) -> None:
    notebook = read(name)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert notebook.cells[0].cell_type == "markdown"
    assert "?" in notebook.cells[0].source
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in code:
        assert not re.search(r"^\s*(def|class) ", cell.source, re.MULTILINE), (
            cell.source
        )
        imports = re.findall(r"^(?:from|import) (\S+)", cell.source, re.MULTILINE)
        assert all(module.startswith(("ttglib", "IPython")) for module in imports)


def test_notebooks_are_found_by_number_or_name() -> None:
    assert find_notebook("02", NOTEBOOKS).name == "02-chunk-size-sweep"
    assert find_notebook("fault-recovery", NOTEBOOKS).name == "04-fault-recovery"
    assert find_notebook("01-quickstart.ipynb", NOTEBOOKS).name == "01-quickstart"
    with pytest.raises(UsageError, match="there are: 01-quickstart"):
        find_notebook("99", NOTEBOOKS)


def test_parameters_are_read_from_the_tagged_cell_with_their_comments() -> None:
    info = find_notebook("02", NOTEBOOKS)

    parameters = {p.name: p for p in info.parameters}

    assert parameters["chunk_sizes"].default == [1, 10, 100]
    assert parameters["redis_url"].default is None
    assert "chunk sizes" in parameters["chunk_sizes"].help


def test_a_parameter_spread_over_lines_keeps_its_comment() -> None:
    parameters = {p.name: p for p in find_notebook("03", NOTEBOOKS).parameters}

    assert parameters["cost_models"].help == "cost models to compare"
    assert parameters["cost_models"].default[0] == {"name": "constant"}


def test_export_without_an_environment_output_still_gets_a_header(
    tmp_path: Path,
) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(2000)).decode()
    notebook = nbformat.v4.new_notebook()
    chart = nbformat.v4.new_code_cell("chart", execution_count=1)
    chart.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png}),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/plain": "  0%|   | 0/10",
                "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
            },
        ),
    ]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title\n\nWhy?"), chart]
    nbformat.write(notebook, str(tmp_path / "01-plain.ipynb"))

    page = export_html(tmp_path / "01-plain.ipynb", tmp_path / "01-plain.html")

    text = page.read_text(encoding="utf-8")
    assert "What was measured" in text and "not recorded" in text
    assert text.index("Title") < text.index("What was measured")
    assert len(INLINE_PNG.findall(text)) == 1
    assert "0/10" not in text


def test_command_line_values_are_python_literals_or_text() -> None:
    assert parse_value("10") == 10
    assert parse_value("[1, 10]") == [1, 10]
    assert parse_value("None") is None
    assert parse_value("reports/sweep.csv") == "reports/sweep.csv"


def test_notebook_list_command_shows_questions_and_parameters() -> None:
    result = CliRunner().invoke(
        cli, ["notebook", "list", "--notebooks-dir", str(NOTEBOOKS)]
    )

    assert result.exit_code == 0, result.output
    questions = [
        line for line in result.output.splitlines() if not line.startswith(" ")
    ]
    assert [line.split(": ", 1)[0] for line in questions] == ALL
    assert all(line.endswith("?") and "**" not in line for line in questions)
    assert (
        "    total_params = 2000  # parameters 0 .. total_params - 1" in result.output
    )


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "notebook",
            "run",
            "01",
            "-p",
            "colour",
            "blue",
            "--notebooks-dir",
            str(NOTEBOOKS),
            "--reports-dir",
            str(tmp_path),
        ],
    )

    assert isinstance(result.exception, UsageError)
    assert "colour" in str(result.exception)
    assert not list(tmp_path.iterdir())


def test_the_command_line_maps_a_bad_parameter_to_exit_code_2(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "ttglib",
        "notebook",
        "run",
        "01",
        "-p",
        "colour",
        "blue",
        "--notebooks-dir",
        str(NOTEBOOKS),
        "--reports-dir",
        str(tmp_path),
    ]

    completed = subprocess.run(command, capture_output=True, text=True, check=False)

    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1] == (
        "error: no notebook chosen declares colour"
    )


def test_loading_the_command_line_loads_no_notebook_or_table_library() -> None:
    probe = (
        "import sys, ttglib.cli; "
        "print(sorted({'pandas', 'papermill', 'nbconvert', 'matplotlib'} & set(sys.modules)))"
    )

    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "[]"
    assert "notebook" in cli.commands


# --- executed --------------------------------------------------------------------


@pytest.mark.timeout(420)
def test_every_notebook_passes_nbval_with_its_defaults() -> None:
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-q", str(NOTEBOOKS)]
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=400, check=False
    )

    assert completed.returncode == 0, (
        completed.stdout[-4000:] + completed.stderr[-2000:]
    )
    cells = sum(cell.cell_type == "code" for name in ALL for cell in read(name).cells)
    assert f"{cells} passed" in completed.stdout


@pytest.mark.timeout(240)
def test_papermill_run_with_overrides_writes_a_report_with_inlined_charts(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "notebook",
            "run",
            "01",
            "-p",
            "total_params",
            "600",
            "-p",
            "workers",
            "1",
            "-p",
            "chunk_size",
            "60",
            "--notebooks-dir",
            str(NOTEBOOKS),
            "--reports-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)

    executed = nbformat.read(str(tmp_path / "01-quickstart.ipynb"), as_version=4)
    page = (tmp_path / "01-quickstart.html").read_text(encoding="utf-8")

    assert executed.metadata.papermill.parameters == {
        "total_params": 600,
        "workers": 1,
        "chunk_size": 60,
    }
    outputs = json.dumps([cell.get("outputs", []) for cell in executed.cells])
    assert "600 of 600 parameters were counted" in outputs
    assert len(INLINE_PNG.findall(page)) >= 3
    assert CODE_CELL not in page
    for fact in ("Redis", "7.", "cores", "ttglib", "total_params", "measured"):
        assert fact in page


@pytest.mark.timeout(120)
def test_show_code_keeps_the_code_in_the_report(tmp_path: Path) -> None:
    run = run_notebook(
        "01",
        {"total_params": 200, "workers": 1},
        notebooks_dir=NOTEBOOKS,
        reports_dir=tmp_path,
        show_code=True,
    )

    page = run.html.read_text(encoding="utf-8")

    assert (
        page.count(CODE_CELL)
        == len(
            [cell for cell in read("01-quickstart").cells if cell.cell_type == "code"]
        )
        + 1
    )


@pytest.mark.timeout(120)
def test_a_failing_notebook_names_the_cell_and_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Broken\n\nDoes an error surface?"),
        nbformat.v4.new_code_cell("limit = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise ValueError(f'over the limit {limit}')"),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, str(folder / "01-broken.ipynb"))

    with pytest.raises(
        NotebookFailedError, match="ValueError: over the limit 7"
    ) as caught:
        run_notebook(
            "01", {"limit": 7}, notebooks_dir=folder, reports_dir=tmp_path / "r"
        )

    assert caught.value.executed.exists()
