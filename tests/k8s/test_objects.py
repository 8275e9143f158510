"""The objects' contract: the original names, labels and variables, and hardening."""

from __future__ import annotations

from typing import Any

import pytest

from ttglib import __version__
from ttglib.config import RunSpec
from ttglib.errors import UsageError
from ttglib.k8s import objects
from ttglib.k8s.render import to_plain


def plain_job(**spec_fields: Any) -> dict[str, Any]:
    """A worker Job's JSON, for a run shaped by ``spec_fields``."""
    options = spec_fields.pop("options", None)
    spec = RunSpec(**{"run_id": "r1", "workers": 3, **spec_fields})
    return to_plain(objects.worker_job(spec, options))


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's variables: name -> value, or the valueFrom mapping."""
    return {
        var["name"]: var.get("value", var.get("valueFrom")) for var in container["env"]
    }


def test_worker_job_is_indexed_with_one_pod_per_worker() -> None:
    job = plain_job(workers=5)

    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 5
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 6
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600


def test_worker_job_carries_the_original_labels_and_the_run() -> None:
    job = plain_job(mode="queue")
    expected = {
        "app": "ttg-worker",
        "version": f"v{__version__}",
        "ttg.io/mode": "queue",
        "ttg.io/milestone": "2",
        "ttg.io/run": "r1",
    }

    assert expected.items() <= job["metadata"]["labels"].items()
    assert expected.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert plain_job(mode="static")["metadata"]["labels"]["ttg.io/mode"] == "static"


def test_worker_environment_is_the_original_guides() -> None:
    job = plain_job(total_params=500, chunk_size=50, work_ms=2.5)
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)

    assert container["command"] == ["ttg", "worker"]
    assert env["USE_QUEUE"] == "true"
    assert env["REDIS_HOST"] == "ttg-redis"
    assert env["REDIS_PORT"] == "6379"
    assert env["TOTAL_PARAMS"] == "500"
    assert env["CHUNK_SIZE"] == "50"
    assert env["SIMULATE_WORK_MS"] == "2.5"
    assert env["IDLE_TIMEOUT_SECONDS"] == "30"
    assert env["TTG_RUN_ID"] == "r1"
    assert env["WORKER_ID_OFFSET"] == "0"
    assert env["WORKER_ID"] == {
        "fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        }
    }


def test_password_comes_only_from_the_secret() -> None:
    job = plain_job()
    env = env_of(job["spec"]["template"]["spec"]["containers"][0])

    assert env["REDIS_PASSWORD"] == {
        "secretKeyRef": {"name": "ttg-redis-auth", "key": "password"}
    }
    assert "REDIS_URL" not in env


def test_static_mode_says_so_in_use_queue() -> None:
    env = env_of(plain_job(mode="static")["spec"]["template"]["spec"]["containers"][0])

    assert env["USE_QUEUE"] == "false"


def test_worker_options_become_arguments() -> None:
    options = objects.JobOptions(lease_seconds=4, grace_seconds=7.5, max_attempts=5)
    job = plain_job(options=options, task="mypkg.tasks:slow")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]

    assert args == [
        "--lease-seconds", "4",
        "--grace-seconds", "7.5",
        "--max-attempts", "5",
        "--task", "mypkg.tasks:slow",
    ]  # fmt: skip


def test_grace_period_outlasts_the_workers_drain() -> None:
    options = objects.JobOptions(grace_seconds=20)
    pod = plain_job(options=options)["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] > 20


def test_pod_failure_policy_ignores_disruptions() -> None:
    rules = plain_job()["spec"]["podFailurePolicy"]["rules"]

    assert {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    } in rules


def test_worker_resources_have_requests_and_limits() -> None:
    container = plain_job()["spec"]["template"]["spec"]["containers"][0]

    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def every_pod_spec() -> list[dict[str, Any]]:
    """The pod specs of the Redis StatefulSet and of a Job with its init container."""
    job = plain_job(options=objects.JobOptions(submit_in_pod=True))
    return [
        job["spec"]["template"]["spec"],
        to_plain(objects.redis_statefulset())["spec"]["template"]["spec"],
    ]


@pytest.mark.parametrize("pod", every_pod_spec(), ids=["worker", "redis"])
def test_every_container_is_hardened(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}


def test_worker_has_a_writable_tmp_on_its_read_only_root() -> None:
    pod = plain_job()["spec"]["template"]["spec"]

    assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]


def test_submit_init_container_runs_the_same_run() -> None:
    job = plain_job(options=objects.JobOptions(submit_in_pod=True), workers=4)
    pod = job["spec"]["template"]["spec"]
    submit = pod["initContainers"][0]
    worker_env = env_of(pod["containers"][0])

    assert submit["command"] == ["ttg", "submit"]
    assert submit["args"] == ["--workers", "4"]
    for name, value in env_of(submit).items():
        assert worker_env[name] == value


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    stateful_set = to_plain(objects.redis_statefulset())
    container = stateful_set["spec"]["template"]["spec"]["containers"][0]
    script = container["command"][-1]

    assert stateful_set["metadata"]["name"] == "ttg-redis"
    assert "--appendonly yes" in script
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    claim = stateful_set["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_redis_password_stays_out_of_the_spec() -> None:
    container = to_plain(objects.redis_statefulset())["spec"]["template"]["spec"][
        "containers"
    ][0]
    script = container["command"][-1]

    assert env_of(container)["REDIS_PASSWORD"] == {
        "secretKeyRef": {"name": "ttg-redis-auth", "key": "password"}
    }
    # The password reaches redis-server through a file on a memory volume,
    # never as a command-line argument.
    assert "--requirepass" not in script
    assert '"$REDIS_PASSWORD" > /run/redis/auth.conf' in script
    assert "exec redis-server /run/redis/auth.conf" in script


def test_redis_service_is_named_as_in_the_original() -> None:
    service = to_plain(objects.redis_service())

    assert service["metadata"]["name"] == "ttg-redis"
    assert service["spec"]["ports"][0]["port"] == 6379
    assert service["spec"]["selector"] == {"app": "ttg-redis"}


def test_network_policy_admits_only_ttg_pods_to_redis() -> None:
    policy = to_plain(objects.redis_network_policy())
    worker_labels = plain_job()["spec"]["template"]["metadata"]["labels"]
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]

    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "ttg-redis"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert allowed.items() <= worker_labels.items()
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 6379, "protocol": "TCP"}]


def test_secret_holds_the_password_under_its_key() -> None:
    secret = to_plain(objects.redis_secret("s3cret"))

    assert secret["metadata"]["name"] == "ttg-redis-auth"
    assert secret["stringData"] == {"password": "s3cret"}


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [
        ("demo", "ttg-demo"),
        ("run-20250101-120000-ab12", "ttg-run-20250101-120000-ab12"),
    ],
)
def test_job_name_of_a_plain_run_id(run_id: str, expected: str) -> None:
    assert objects.run_job_name(run_id) == expected
    assert objects.run_job_name(run_id, 2) == f"{expected}-s2"


def test_job_names_stay_valid_and_distinct() -> None:
    names = {objects.run_job_name(run_id) for run_id in ("My_Run", "my.run", "my-run")}

    assert len(names) == 3
    for name in names | {objects.run_job_name("x" * 60, 99)}:
        assert len(name) <= 52
        assert name == name.lower()
        assert name.replace("-", "").isalnum()


@pytest.mark.parametrize("run_id", ["x" * 64, "ends-with-dash-", "ends.with.dot."])
def test_run_ids_that_cannot_be_labels_are_refused(run_id: str) -> None:
    with pytest.raises(UsageError, match="cannot label"):
        objects.worker_job(RunSpec(run_id=run_id))


def test_scale_job_copies_the_pods_with_a_new_offset() -> None:
    base = objects.worker_job(RunSpec("r1", workers=3))
    template_labels = base.spec.template.metadata.labels
    template_labels["batch.kubernetes.io/controller-uid"] = "1234"
    template_labels["job-name"] = "ttg-r1"

    scaled = to_plain(objects.scale_job(base, "ttg-r1-s1", 2, offset=3))

    assert scaled["metadata"]["name"] == "ttg-r1-s1"
    assert scaled["spec"]["completions"] == scaled["spec"]["parallelism"] == 2
    labels = scaled["spec"]["template"]["metadata"]["labels"]
    assert "job-name" not in labels
    assert "batch.kubernetes.io/controller-uid" not in labels
    assert labels["ttg.io/run"] == "r1"
    env = env_of(scaled["spec"]["template"]["spec"]["containers"][0])
    assert env["WORKER_ID_OFFSET"] == "3"
    assert objects.job_offset(base) == 0
    assert (
        to_plain(base)["spec"]["template"]["metadata"]["labels"]["job-name"] == "ttg-r1"
    )


def test_job_options_refuse_impossible_values() -> None:
    with pytest.raises(UsageError):
        objects.JobOptions(lease_seconds=0)
    with pytest.raises(UsageError):
        objects.JobOptions(idle_timeout_seconds=-1)
