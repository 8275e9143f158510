"""``ttg k8s``: commands against the mock API server, and errors as one line.

Error paths run the real ``ttg`` entry point in a subprocess, since that is
where an error becomes one ``error:`` line and an exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from ttglib.embedded import EmbeddedRedis, free_port
from ttglib.k8s import objects
from ttglib.k8s.cli import k8s

from .conftest import (
    REPO,
    Controllers,
    KubeEmulator,
    in_thread,
    wait_for,
    write_kubeconfig,
)


def ttg(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ttglib`` with a clean home and no cluster in the environment."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    }
    environment.update(HOME=str(home), PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "ttglib", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run the real ``ttg`` entry point in-process; return its exit code."""
    from ttglib.cli import main as ttg_main

    monkeypatch.setattr(sys, "argv", ["ttg", *args])
    with pytest.raises(SystemExit) as done:
        ttg_main()
    return int(done.value.code or 0)


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line a failed command printed, and nothing else."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_no_kubeconfig_anywhere(tmp_path: Path) -> None:
    result = ttg("k8s", "up", home=tmp_path)

    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert "no kubeconfig found" in line
    assert "not running inside a cluster" in line


def test_no_kubeconfig_at_the_given_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        monkeypatch, "k8s", "--kubeconfig", str(tmp_path / "gone"), "logs", "r1"
    )

    assert code == 2
    assert "no kubeconfig at" in one_error_line(capsys.readouterr().err)


def test_no_cluster_behind_the_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_kubeconfig(
        tmp_path / "config", f"http://127.0.0.1:{free_port()}", "x"
    )

    code = main(monkeypatch, "k8s", "--kubeconfig", str(config), "up")

    assert code == 2
    assert "cannot reach the Kubernetes API" in one_error_line(capsys.readouterr().err)


def test_no_permission(
    kubeconfig: Path,
    emulator: KubeEmulator,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.denied.add((namespace, "create", "secrets"))

    code = main(monkeypatch, "k8s", "--kubeconfig", str(kubeconfig), "up")

    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"not allowed to create secrets in namespace '{namespace}'" in line


WITHOUT_KUBERNETES = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "kubernetes":
            raise ImportError("No module named 'kubernetes'")

sys.meta_path.insert(0, Block())
sys.argv = ["ttg", *sys.argv[1:]]
from ttglib.cli import main
main()
"""


def test_without_the_kubernetes_client(tmp_path: Path) -> None:
    def ttg_bare(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_KUBERNETES, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=60,
            check=False,
        )

    assert "k8s" in ttg_bare("--help").stdout
    assert "render" in ttg_bare("k8s", "--help").stdout
    failed = ttg_bare("k8s", "--kubeconfig", str(tmp_path / "none"), "up")
    assert failed.returncode == 2
    assert "pip install 'ttglib[k8s]'" in one_error_line(failed.stderr)


def test_k8s_group_is_part_of_ttg() -> None:
    from ttglib.cli import cli

    result = CliRunner().invoke(cli, ["k8s", "--help"])

    assert result.exit_code == 0
    for command in ("up", "run", "scale", "logs", "down", "render"):
        assert f"  {command} " in result.output


def invoke(kubeconfig: Path, *args: str) -> str:
    """Run a ``ttg k8s`` command in-process; return its output."""
    result = CliRunner().invoke(k8s, ["--kubeconfig", str(kubeconfig), *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_up_and_down_never_show_the_password(
    kubeconfig: Path, controllers: Controllers
) -> None:
    output = invoke(kubeconfig, "up", "--wait-seconds", "0", "--storage", "2Gi")
    password = controllers.password()

    assert "secret created with a new password" in output
    assert "applied statefulset/ttg-redis" in output
    assert password not in output

    output = invoke(kubeconfig, "down")
    assert "deleted statefulset/ttg-redis" in output
    assert password not in output


def test_scale_and_logs(
    kubeconfig: Path, controllers: Controllers, emulator: KubeEmulator
) -> None:
    from ttglib.config import RunSpec
    from ttglib.k8s.cluster import connect_cluster
    from ttglib.k8s.launcher import KubeLauncher

    KubeLauncher(connect_cluster(kubeconfig=str(kubeconfig))).start_job(
        RunSpec("cli-run", workers=2), objects.JobOptions()
    )
    pod = controllers.start_pods(controllers.job("ttg-cli-run"))[0]
    emulator.logs[(controllers.namespace, pod)] = "line one\nline two\n"

    assert "added 3 workers to run cli-run (job ttg-cli-run-s1)" in invoke(
        kubeconfig, "scale", "cli-run", "3"
    )
    output = invoke(kubeconfig, "logs", "cli-run")
    assert f"==> {pod} <==\nline one\nline two\n" in output


def test_run_prints_the_report(
    kubeconfig: Path, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    invoke(kubeconfig, "up", "--wait-seconds", "0")
    password = controllers.password()
    redis.Redis(port=private_redis.port).config_set("requirepass", password)
    args = [
        "run", "--run-id", "cli-report", "--workers", "1", "--total-params", "1000",
        "--work-ms", "0", "--image", "registry.example/ttg-worker:test", "--cpu", "500m",
        "--idle-timeout", "10", "--redis-url", private_redis.url, "--plan", "adaptive",
    ]  # fmt: skip

    thread, outcome = in_thread(lambda: invoke(kubeconfig, *args))
    job = controllers.job("ttg-cli-report")
    controllers.start_pods(job)
    wait_for(controllers.run_workers(job, private_redis.port, password))
    thread.join(30)

    container = objects.pod_spec(job).containers[0]
    assert container.image == "registry.example/ttg-worker:test"
    assert container.resources.requests["cpu"] == "500m"
    assert "error" not in outcome, outcome.get("error")
    assert "Grand Sum" in outcome["result"]
    assert "adaptive plan" in outcome["result"]
    assert password not in outcome["result"]


@pytest.mark.parametrize("command", [["scale", "r1", "0"], ["logs"]])
def test_usage_errors_are_clicks(kubeconfig: Path, command: list[str]) -> None:
    result = CliRunner().invoke(k8s, ["--kubeconfig", str(kubeconfig), *command])

    assert result.exit_code == 2
