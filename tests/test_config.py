"""Settings, key names, chunk plans and the server version check."""

from __future__ import annotations

import pytest

from ttglib.chunks import plan_chunks, static_ranges
from ttglib.config import RedisSettings, RunSpec, WorkerSettings, mode_from_use_queue
from ttglib.connection import check_version
from ttglib.errors import RedisVersionError, UsageError
from ttglib.keys import RunKeys, consumer_name


def test_the_password_never_shows_in_display_or_repr() -> None:
    with_url = RedisSettings(url="redis://:hunter2@cache.example:6380/1")
    with_host = RedisSettings(host="ttg-redis", password="hunter2")

    assert with_url.display() == "redis://cache.example:6380/1"
    assert with_host.display() == "redis://ttg-redis:6379"
    assert "hunter2" not in repr(with_url.display()) + repr(with_host)


def test_settings_come_from_the_original_variables() -> None:
    settings = RedisSettings.from_env(
        {"REDIS_HOST": "ttg-redis", "REDIS_PORT": "16379", "REDIS_PASSWORD": "pw"}
    )

    assert settings == RedisSettings(host="ttg-redis", port=16379, password="pw")
    assert RedisSettings.from_env({}) is None
    assert RedisSettings.from_options(
        None, None, None, default_host=True, environ={}
    ) == (RedisSettings())


def test_a_url_must_be_redis_or_rediss() -> None:
    with pytest.raises(UsageError, match="must start with redis:// or rediss://"):
        RedisSettings(url="http://localhost:6379")


def test_the_url_for_workers_carries_the_password_quoted() -> None:
    settings = RedisSettings(host="h", port=1, password="p@ss word")

    assert settings.url_with_password() == "redis://:p%40ss%20word@h:1/0"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_params": 0}, "total params must be a whole number above 0"),
        ({"chunk_size": -1}, "chunk size must be a whole number above 0"),
        ({"workers": 0}, "workers must be a whole number above 0"),
        ({"work_ms": -1.0}, "work ms must be 0 or more"),
        ({"mode": "fast"}, "mode must be 'queue' or 'static'"),
        ({"run_id": "has space"}, "run id 'has space' must be"),
    ],
)
def test_a_bad_run_spec_says_what_to_fix(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        RunSpec(**{"run_id": "r", **changes})  # type: ignore[arg-type]


def test_a_spec_survives_its_json_form() -> None:
    spec = RunSpec(
        "r", 1_000, 10, "static", 4, 0.5, "m:f", cost_model={"name": "constant"}
    )

    assert RunSpec.from_json(spec.to_json()) == spec


def test_bad_worker_settings_say_what_to_fix() -> None:
    with pytest.raises(UsageError, match="lease seconds must be above 0"):
        WorkerSettings(lease_seconds=0)
    with pytest.raises(UsageError, match="max attempts"):
        WorkerSettings(max_attempts=0)


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("true", "queue"),
        ("TRUE", "queue"),
        ("1", "queue"),
        ("false", "static"),
        ("", None),
    ],
)
def test_use_queue_maps_to_a_mode(value: str, mode: str | None) -> None:
    assert mode_from_use_queue(value) == mode


def test_redis_older_than_6_2_is_refused() -> None:
    assert check_version("6.2.0", "here") == (6, 2, 0)
    assert check_version("7.0.15", "here") == (7, 0, 15)
    with pytest.raises(
        RedisVersionError, match=r"is 6\.0\.16; ttglib needs 6\.2 or newer"
    ):
        check_version("6.0.16", "here")
    with pytest.raises(RedisVersionError):
        check_version("5.0.7", "here")


@pytest.mark.parametrize(
    ("total", "size"), [(10_000, 100), (1_050, 100), (7, 10), (1, 1)]
)
def test_fixed_chunks_cover_the_range_exactly_once(total: int, size: int) -> None:
    chunks = plan_chunks(RunSpec("r", total, size))

    covered = [p for chunk in chunks for p in chunk.params()]
    assert covered == list(range(total))
    assert all(0 < chunk.size <= size for chunk in chunks)
    assert [c.chunk_id for c in chunks] == sorted({c.chunk_id for c in chunks})


def test_static_ranges_give_the_remainder_to_the_last_worker() -> None:
    assert static_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    chunks = plan_chunks(RunSpec("r", 1_003, 100, mode="static", workers=3))
    assert [p for c in chunks for p in c.params()] == list(range(1_003))
    assert {c.owner for c in chunks} == {0, 1, 2}
    assert all(c.size <= 100 for c in chunks)


def test_chunk_ids_have_five_digits_at_least() -> None:
    assert plan_chunks(RunSpec("r", 10_000, 100))[42].chunk_id == "00042"
    assert plan_chunks(RunSpec("r", 200_000, 1))[-1].chunk_id == "199999"


def test_consumer_names_follow_the_original_guide() -> None:
    assert consumer_name("0") == "worker-0"
    assert consumer_name("worker-3") == "worker-3"
    assert RunKeys.for_run("abc").tasks == "ttg:{abc}:tasks"


def test_resubmission_compares_what_cuts_the_range() -> None:
    guided = RunSpec("r", 1_000, 10, plan="guided", workers=2)
    adaptive = RunSpec("r", 1_000, 10, plan="adaptive", cost_model={"name": "constant"})

    assert guided.same_work(RunSpec("r", 1_000, 10, plan="guided", workers=2))
    assert not guided.same_work(RunSpec("r", 1_000, 10, plan="guided", workers=3))
    assert not adaptive.same_work(RunSpec("r", 1_000, 10, plan="adaptive"))
    assert RunSpec("r", 1_000, 10, workers=2).same_work(
        RunSpec("r", 1_000, 10, workers=5)
    )


def test_without_any_redis_server_the_error_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ttglib import embedded
    from ttglib.errors import EmbeddedRedisError

    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    monkeypatch.setattr(embedded, "bundled_redis_server", lambda: None)

    with pytest.raises(EmbeddedRedisError, match="apt-get install redis-server"):
        embedded.find_redis_server()


def test_the_worker_never_imports_pandas() -> None:
    import subprocess
    import sys

    probe = "import sys, ttglib.worker, ttglib.cli; print('pandas' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"


def test_the_adaptive_plan_follows_the_measured_cost_of_the_task() -> None:
    from tests.tasks import slow_upper_half
    from ttglib.chunks import measure_task, with_measured_pilot

    spec = RunSpec("r", 10_000, 100, plan="adaptive", work_ms=0.0)

    measured = with_measured_pilot(spec, slow_upper_half)
    chunks = plan_chunks(measured)

    timings = measure_task(spec, slow_upper_half)
    assert (
        min(timings[len(timings) // 2 + 1 :]) >= 2.0 > max(timings[: len(timings) // 2])
    )
    assert [p for c in chunks for p in c.params()] == list(range(10_000))
    # The cheap half fits in one chunk; the slow half (2 ms a parameter,
    # target 100 x the 1 ms mean) is cut into chunks of about 50.
    assert chunks[0].start_param == 0 and chunks[0].end_param >= 5_000
    upper = [c.size for c in chunks if c.start_param >= 5_000]
    assert 40 <= sum(upper) / len(upper) <= 60
    assert measured.same_work(spec) and plan_chunks(measured) == chunks


def test_the_adaptive_plan_aims_at_its_target_duration() -> None:
    spec = RunSpec(
        "r",
        10_000,
        100,
        plan="adaptive",
        work_ms=1.0,
        plan_options={"target_seconds": 0.025},
    )

    chunks = plan_chunks(spec)

    assert {c.size for c in chunks} == {25}
    assert not spec.same_work(RunSpec("r", 10_000, 100, plan="adaptive", work_ms=1.0))
