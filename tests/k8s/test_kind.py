"""The cluster tier: ``k8s/kind-e2e.sh`` on a real kind cluster.

It runs only with ``-m kind`` and where Docker (with a running engine), kind
and kubectl exist; elsewhere it skips and says which one is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO

SCRIPT = REPO / "k8s" / "kind-e2e.sh"


def missing_tools() -> str | None:
    """Why the cluster tier cannot run here, or None when it can."""
    for tool in ("docker", "kind", "kubectl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    engine = subprocess.run(
        ["docker", "info"], capture_output=True, text=True, timeout=30, check=False
    )
    if engine.returncode != 0:
        return "the Docker engine is not running"
    return None


def test_e2e_script_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")

    result = subprocess.run(
        ["shellcheck", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout


@pytest.mark.kind
@pytest.mark.timeout(1800)
def test_reference_sweep_survives_a_deleted_worker_pod() -> None:
    reason = missing_tools()
    if reason is not None:
        pytest.skip(f"no kind cluster possible here: {reason}")

    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={
            **os.environ,
            "TTG": f"{sys.executable} -m ttglib",
            "PYTHONPATH": str(REPO),
        },
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    assert "PASS: grand sum 5,000,355.00" in result.stdout
