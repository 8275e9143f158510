"""The ``ttg`` command as users run it: real processes, real Redis."""

from __future__ import annotations

import json
import subprocess

import pytest
import redis

from tests.helpers import ttg_command, ttg_env
from ttglib.config import RunSpec
from ttglib.embedded import EmbeddedRedis, free_port
from ttglib.queue import RunQueue


def ttg(
    url: str, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ttg_command(*args),
        env=ttg_env(url, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line of a failed command (and nothing like a traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_run_on_the_embedded_redis_prints_the_reference_report() -> None:
    env = ttg_env("")
    del env["REDIS_URL"]
    result = subprocess.run(
        ttg_command(
            "run", "--workers", "2", "--work-ms", "0", "--run-id", "cli-embedded"
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Grand Sum:                            5,000,355.00" in result.stdout
    assert "Global Min:                                   0.41" in result.stdout
    assert "Overall Average:                          500.0355" in result.stdout
    assert "started embedded redis-server" in result.stderr


def test_run_json_gives_the_reports_figures(redis_url: str, run_id: str) -> None:
    result = ttg(
        redis_url, "run", "--json", "-w", "2", "--work-ms", "0.05", "--run-id", run_id
    )

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["grand_sum"] == pytest.approx(5_000_355.0)
    assert data["params_processed"] == 10_000
    assert data["verification"]["chunks_missing"] == 0
    assert {"params_per_second", "efficiency", "parallelism_factor"} <= data.keys()
    assert data["efficiency"] > 0


def test_static_run_from_the_command_line(redis_url: str, run_id: str) -> None:
    result = ttg(
        redis_url,
        "run",
        "--json",
        "--mode",
        "static",
        "-w",
        "3",
        "--work-ms",
        "0",
        "--run-id",
        run_id,
    )

    data = json.loads(result.stdout)
    assert data["mode"] == "static" and data["grand_sum"] == pytest.approx(5_000_355.0)
    assert [w["params"] for w in data["worker_distribution"]] == [3333, 3333, 3334]


def test_submit_worker_status_report_runs_clean(
    client: redis.Redis, redis_url: str, run_id: str
) -> None:
    submitted = ttg(
        redis_url,
        "submit",
        "--total-params",
        "1000",
        "--chunk-size",
        "100",
        TTG_RUN_ID=run_id,
    )
    again = ttg(
        redis_url,
        "submit",
        "--total-params",
        "1000",
        "--chunk-size",
        "100",
        TTG_RUN_ID=run_id,
    )
    status_before = ttg(redis_url, "status", run_id)
    worker = ttg(
        redis_url,
        "worker",
        USE_QUEUE="true",
        WORKER_ID="7",
        TTG_RUN_ID=run_id,
        SIMULATE_WORK_MS="0",
        TOTAL_PARAMS="1000",
        CHUNK_SIZE="100",
    )
    report = ttg(redis_url, "report", run_id, "--json")
    listing = ttg(redis_url, "runs")
    cleaned = ttg(redis_url, "clean", run_id)

    assert "10 chunks" in submitted.stdout
    assert "nothing added" in again.stdout
    assert "queued 10" in status_before.stdout
    assert worker.returncode == 0, worker.stderr
    assert "FINAL SUMMARY" in worker.stdout
    assert (
        json.loads(worker.stdout.split("FINAL SUMMARY")[1])["worker_id"] == "worker-7"
    )
    assert (
        json.loads(report.stdout)["worker_distribution"][0]["worker_id"] == "worker-7"
    )
    assert run_id in listing.stdout
    assert cleaned.returncode == 0
    assert not RunQueue(client, run_id).exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["run", "--chunk-size", "0"],
            {},
            "'--chunk-size': 0 is not in the range x>=1",
        ),
        (
            ["run", "--total-params", "-5"],
            {},
            "'--total-params': -5 is not in the range",
        ),
        (["run", "--workers", "0"], {}, "'-w' / '--workers': 0 is not in the range"),
        (["run"], {"CHUNK_SIZE": "abc"}, "'abc' is not a valid integer"),
        (
            ["run", "--task", "nosuch.module:f"],
            {},
            "cannot import task module 'nosuch.module'",
        ),
        (["run", "--task", "tests.tasks:missing"], {}, "has no function 'missing'"),
        (["run", "--task", "plain"], {}, "must be 'reference' or 'module:function'"),
        (["run", "--run-id", "bad id!"], {}, "run id 'bad id!' must be"),
        (["report", "no-such-run"], {}, "no run 'no-such-run'"),
        (["status", "no-such-run"], {}, "no run 'no-such-run'"),
        (["clean", "no-such-run"], {}, "no run 'no-such-run'"),
        (["worker"], {"USE_QUEUE": "maybe"}, "USE_QUEUE must be true or false"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    redis_url: str, args: list[str], env: dict[str, str], message: str
) -> None:
    result = ttg(redis_url, *args, **env)

    assert result.returncode == 2
    assert message in one_error_line(result)


def test_a_worker_whose_variables_contradict_its_run_is_refused(
    client: redis.Redis, redis_url: str, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=1_000, chunk_size=100))

    result = ttg(redis_url, "worker", TTG_RUN_ID=run_id, TOTAL_PARAMS="5000")

    assert result.returncode == 2
    assert "TOTAL_PARAMS is 5000 but run" in one_error_line(result)


def test_unreachable_redis_exits_2() -> None:
    result = ttg(f"redis://127.0.0.1:{free_port()}/0", "status")

    assert result.returncode == 2
    assert "cannot reach Redis at redis://127.0.0.1:" in one_error_line(result)


def test_a_worker_never_given_its_run_says_so(redis_url: str, run_id: str) -> None:
    result = ttg(redis_url, "worker", "--idle-timeout", "0.3", TTG_RUN_ID=run_id)

    assert result.returncode == 1
    assert f"run '{run_id}' was not submitted" in result.stderr.splitlines()[-1]


def test_the_password_stays_out_of_logs_errors_and_arguments(run_id: str) -> None:
    secret = "s3cret-Pa55word"
    with EmbeddedRedis() as server:
        redis.Redis(port=server.port).config_set("requirepass", secret)
        url = f"redis://127.0.0.1:{server.port}/0"

        wrong = ttg(url, "status", REDIS_PASSWORD="wrong-password")
        process = subprocess.Popen(
            ttg_command(
                "--log-level",
                "DEBUG",
                "run",
                "-w",
                "2",
                "--work-ms",
                "0.2",
                "--run-id",
                run_id,
                "--worker-log-level",
                "DEBUG",
            ),
            env=ttg_env(url, REDIS_PASSWORD=secret),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        arguments = worker_arguments(run_id)
        out, err = process.communicate(timeout=120)

    assert wrong.returncode == 2
    assert "refused the password" in one_error_line(wrong)
    assert "wrong-password" not in wrong.stderr
    assert process.returncode == 0, err
    assert arguments and all(secret not in line for line in arguments)
    assert secret not in out and secret not in err


def worker_arguments(run_id: str) -> list[str]:
    """The command lines of this run's worker processes, read from /proc."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if run_id in text and " worker " in text:
                found.append(text)
        if found:
            return found
        time.sleep(0.02)
    return []


def test_a_worker_waits_for_its_redis_to_come_up(run_id: str) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    worker = subprocess.Popen(
        ttg_command("worker", "--idle-timeout", "5", "--work-ms", "0"),
        env=ttg_env(url, TTG_RUN_ID=run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import time

    time.sleep(1.0)
    with EmbeddedRedis(port=port) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        RunQueue(client, run_id).submit(
            RunSpec(run_id, total_params=100, chunk_size=10)
        )
        out, err = worker.communicate(timeout=60)

    assert worker.returncode == 0, err
    assert "cannot reach Redis" in err and "trying again" in err
    assert '"status": "completed"' in out


@pytest.mark.parametrize("plan", ["guided", "adaptive"])
def test_run_takes_a_plan(redis_url: str, run_id: str, plan: str) -> None:
    result = ttg(
        redis_url,
        "run",
        "--json",
        "-w",
        "2",
        "--work-ms",
        "0.05",
        "--plan",
        plan,
        "--run-id",
        run_id,
    )

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["plan"] == plan and data["verification"]["ok"]
    assert data["grand_sum"] == pytest.approx(5_000_355.0)
