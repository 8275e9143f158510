"""The launcher against a mock API server, through the real Kubernetes client.

The test plays the controllers (see ``conftest.py``): it marks Redis ready,
creates each Job's pods, runs their worker containers on this machine with
the Job's own command and environment, and ends the Jobs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from ttglib.config import RunSpec
from ttglib.embedded import EmbeddedRedis, free_port
from ttglib.errors import UsageError
from ttglib.k8s import objects
from ttglib.k8s.cluster import connect_cluster
from ttglib.k8s.errors import (
    ClusterUnavailableError,
    FollowTimeoutError,
    JobFailedError,
    NamespaceNotFoundError,
    PermissionDeniedError,
    PodStartError,
    RedisNotDeployedError,
    RunJobNotFoundError,
)
from ttglib.k8s.launcher import KubeLauncher
from ttglib.k8s.observe import Snapshot
from ttglib.queue import RunQueue
from ttglib.workloads import reference_value

from .conftest import (
    Controllers,
    KubeEmulator,
    in_thread,
    wait_for,
    write_kubeconfig,
)

FAST = objects.JobOptions(idle_timeout_seconds=10, lease_seconds=2, grace_seconds=1)


def local_launcher(launcher: KubeLauncher, server: EmbeddedRedis) -> KubeLauncher:
    """The same launcher, reaching the test's Redis instead of a port-forward."""
    return KubeLauncher(
        launcher.cluster, poll_seconds=launcher.poll_seconds, redis_url=server.url
    )


def protect(server: EmbeddedRedis, password: str) -> None:
    """Give the test's Redis the password from the Secret, as the pod would have."""
    redis.Redis(port=server.port).config_set("requirepass", password)


# --- Redis -----------------------------------------------------------------------


def test_up_creates_redis_with_a_generated_password(
    launcher: KubeLauncher, controllers: Controllers
) -> None:
    outcome = launcher.up(wait_seconds=None)

    assert outcome.secret_created
    assert outcome.applied == (
        "service/ttg-redis",
        "statefulset/ttg-redis",
        "networkpolicy/ttg-redis",
    )
    password = controllers.password()
    assert len(password) >= 40
    assert launcher.redis_password() == password
    stateful_set = controllers.apps.read_namespaced_stateful_set(
        "ttg-redis", controllers.namespace
    )
    assert stateful_set.spec.volume_claim_templates[0].metadata.name == "data"


def test_up_again_keeps_the_password_and_updates_the_pod_template(
    launcher: KubeLauncher, controllers: Controllers, emulator: KubeEmulator
) -> None:
    launcher.up(wait_seconds=None)
    password = controllers.password()
    seen_before = len(list(emulator))

    again = launcher.up(
        objects.RedisOptions(image="redis:7.4-alpine", storage="5Gi"), wait_seconds=None
    )

    assert not again.secret_created
    assert controllers.password() == password
    stateful_set = controllers.apps.read_namespaced_stateful_set(
        "ttg-redis", controllers.namespace
    )
    assert stateful_set.spec.template.spec.containers[0].image == "redis:7.4-alpine"
    # Kubernetes forbids changing volumeClaimTemplates: the patch leaves them out.
    sent = [
        r.data
        for r in list(emulator)[seen_before:]
        if str(r.method.value) == "PATCH"
        and r.resource
        and r.resource.plural == "statefulsets"
    ]
    assert sent and all("volumeClaimTemplates" not in body["spec"] for body in sent)
    claim = stateful_set.spec.volume_claim_templates[0]
    assert claim.spec.resources.requests["storage"] == "1Gi"


def test_up_waits_until_redis_is_ready(
    launcher: KubeLauncher, controllers: Controllers
) -> None:
    def ready_soon() -> None:
        time.sleep(0.2)
        controllers.redis_ready()

    thread, _ = in_thread(ready_soon)
    launcher.up(wait_seconds=10)
    thread.join()

    status = controllers.apps.read_namespaced_stateful_set_status(
        "ttg-redis", controllers.namespace
    ).status
    assert status.ready_replicas == 1


def test_redis_not_ready_in_time_names_the_pod(launcher: KubeLauncher) -> None:
    launcher.up(wait_seconds=None)

    with pytest.raises(RedisNotDeployedError, match="ttg-redis-0 not created yet"):
        launcher.wait_for_redis(timeout=0.2)


def test_run_without_redis_says_to_run_up(launcher: KubeLauncher) -> None:
    with pytest.raises(RedisNotDeployedError, match="ttg k8s up"):
        launcher.run(RunSpec("r1"))


def test_down_deletes_jobs_and_redis_and_keeps_the_data(
    launcher: KubeLauncher, controllers: Controllers
) -> None:
    launcher.up(wait_seconds=None)
    launcher.start_job(RunSpec("r1", workers=2), FAST)

    deleted = launcher.down()

    assert deleted == [
        "job/ttg-r1",
        "statefulset/ttg-redis",
        "service/ttg-redis",
        "networkpolicy/ttg-redis",
    ]
    assert controllers.password()
    assert launcher.down() == []


def test_down_purge_deletes_the_secret(
    launcher: KubeLauncher, controllers: Controllers
) -> None:
    launcher.up(wait_seconds=None)

    deleted = launcher.down(purge=True)

    assert "secret/ttg-redis-auth" in deleted
    with pytest.raises(RedisNotDeployedError):
        launcher.redis_password()


# --- runs ------------------------------------------------------------------------


def test_run_follows_the_job_to_the_report(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("contract", total_params=2_000, chunk_size=100, workers=2, work_ms=0)
    seen: list[Snapshot] = []

    thread, outcome = in_thread(lambda: local.run(spec, FAST, on_progress=seen.append))
    job = controllers.job("ttg-contract")
    pods = controllers.start_pods(job)
    workers = controllers.run_workers(job, private_redis.port, controllers.password())
    wait_for(workers)
    for pod in pods:
        controllers.set_pod(pod, {"phase": "Succeeded"})
    controllers.finish(job)
    thread.join(30)

    assert "error" not in outcome, outcome.get("error")
    report = outcome["result"]
    assert report.verification.ok
    assert report.chunks_processed == 20
    assert report.grand_sum == pytest.approx(sum(map(reference_value, range(2_000))))
    assert {share.worker_id for share in report.worker_distribution} <= {
        "worker-0",
        "worker-1",
    }
    assert seen[-1].finished
    assert any(snapshot.pod_counts().get("running") == 2 for snapshot in seen)


def test_a_run_is_complete_when_its_queue_says_so(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("early", total_params=300, chunk_size=100, workers=1, work_ms=0)

    thread, outcome = in_thread(lambda: local.run(spec, FAST, timeout=20))
    job = controllers.job("ttg-early")
    controllers.start_pods(job)
    wait_for(controllers.run_workers(job, private_redis.port, controllers.password()))
    thread.join(30)

    # The pods still show Running and the Job is not complete: the queue decided.
    assert outcome["result"].verification.ok
    assert controllers.batch.read_namespaced_job("ttg-early", controllers.namespace)


def test_job_that_ends_before_the_run_is_reported(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("orphan", total_params=500, chunk_size=100, workers=1, work_ms=0)
    client = redis.Redis(port=private_redis.port, password=controllers.password())
    RunQueue(client, "orphan").submit(spec)

    local.start_job(spec, FAST)
    controllers.finish(controllers.job("ttg-orphan"))
    with local.redis_client() as connection:
        following = local.follow(RunQueue(connection, "orphan"), "orphan")
        with pytest.raises(JobFailedError, match="5 chunks are unsettled"):
            list(following)


def test_failed_job_stops_the_follow(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("failing", total_params=500, chunk_size=100, workers=1, work_ms=0)
    client = redis.Redis(port=private_redis.port, password=controllers.password())
    RunQueue(client, "failing").submit(spec)

    local.start_job(spec, FAST)
    controllers.finish(
        controllers.job("ttg-failing"),
        "Failed",
        reason="BackoffLimitExceeded",
        message="Job has reached the specified backoff limit",
    )
    with (
        local.redis_client() as connection,
        pytest.raises(JobFailedError, match="BackoffLimitExceeded"),
    ):
        list(local.follow(RunQueue(connection, "failing"), "failing"))


def test_missing_image_fails_before_submitting(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("noimage", workers=1)

    thread, outcome = in_thread(lambda: local.run(spec, FAST))
    job = controllers.job("ttg-noimage")
    pod = controllers.start_pods(job, phase="Pending")[0]
    controllers.set_pod(
        pod,
        {
            "containerStatuses": [
                {
                    "name": "worker",
                    "image": "ttg-worker:v2.0.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "waiting": {
                            "reason": "ErrImageNeverPull",
                            "message": "image not present",
                        }
                    },
                }
            ]
        },
    )
    thread.join(30)

    assert isinstance(outcome.get("error"), PodStartError)
    assert "kind load docker-image" in str(outcome["error"])
    client = redis.Redis(port=private_redis.port, password=controllers.password())
    assert not RunQueue(client, "noimage").exists()


def test_follow_gives_up_after_its_timeout(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("slow", total_params=500, chunk_size=100, workers=1)
    client = redis.Redis(port=private_redis.port, password=controllers.password())
    RunQueue(client, "slow").submit(spec)
    local.start_job(spec, FAST)

    with (
        local.redis_client() as connection,
        pytest.raises(FollowTimeoutError, match=r"did not finish within 0\.2 s"),
    ):
        list(local.follow(RunQueue(connection, "slow"), "slow", timeout=0.2))


def test_run_again_follows_the_existing_job(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    protect(private_redis, controllers.password())
    local = local_launcher(launcher, private_redis)
    spec = RunSpec("again", total_params=200, chunk_size=100, workers=1, work_ms=0)
    client = redis.Redis(port=private_redis.port, password=controllers.password())
    RunQueue(client, "again").submit(spec)
    local.start_job(spec, FAST)
    job = controllers.job("ttg-again")
    controllers.start_pods(job)
    wait_for(controllers.run_workers(job, private_redis.port, controllers.password()))

    report = local.run(spec, FAST)

    assert report.verification.ok
    assert [objects.name_of(j) for j in launcher.jobs("again")] == ["ttg-again"]


# --- scale, logs -------------------------------------------------------------------


def test_scale_adds_a_job_with_new_worker_ids(
    launcher: KubeLauncher, controllers: Controllers
) -> None:
    launcher.start_job(RunSpec("grow", workers=3), FAST)

    first = launcher.scale("grow", 2)
    second = launcher.scale("grow", 1)

    assert (first, second) == ("ttg-grow-s1", "ttg-grow-s2")
    jobs = {objects.name_of(job): job for job in launcher.jobs("grow")}
    assert objects.job_offset(jobs["ttg-grow-s1"]) == 3
    assert objects.job_offset(jobs["ttg-grow-s2"]) == 5
    assert jobs["ttg-grow-s1"].spec.completions == 2
    template = jobs["ttg-grow-s2"].spec.template
    assert template.metadata.labels["ttg.io/run"] == "grow"
    assert template.spec.containers[0].image == FAST.image


def test_scale_of_an_unknown_run_is_refused(launcher: KubeLauncher) -> None:
    with pytest.raises(RunJobNotFoundError, match="no worker Job for run 'ghost'"):
        launcher.scale("ghost", 2)


def test_static_runs_cannot_scale(launcher: KubeLauncher) -> None:
    launcher.start_job(RunSpec("fixed", mode="static", workers=2), FAST)

    with pytest.raises(UsageError, match="static mode"):
        launcher.scale("fixed", 1)


def test_logs_of_every_pod_in_worker_order(
    launcher: KubeLauncher, controllers: Controllers, emulator: KubeEmulator
) -> None:
    launcher.start_job(RunSpec("talk", workers=3), FAST)
    pods = controllers.start_pods(controllers.job("ttg-talk"))
    emulator.logs[(controllers.namespace, pods[0])] = "worker 0 says hi\n"
    emulator.logs[(controllers.namespace, pods[2])] = "worker 2 says hi\n"

    logs = launcher.logs("talk")

    assert [entry.pod for entry in logs] == pods
    assert logs[0].text == "worker 0 says hi\n"
    assert "waiting to start" in logs[1].text
    assert logs[2].text == "worker 2 says hi\n"


def test_logs_of_an_unknown_run_are_refused(launcher: KubeLauncher) -> None:
    with pytest.raises(RunJobNotFoundError):
        launcher.logs("ghost")


# --- errors --------------------------------------------------------------------------


def test_forbidden_verb_names_the_action_and_namespace(
    launcher: KubeLauncher, emulator: KubeEmulator, namespace: str
) -> None:
    emulator.denied.add((namespace, "create", "jobs"))

    with pytest.raises(PermissionDeniedError) as caught:
        launcher.start_job(RunSpec("r1"), FAST)

    message = str(caught.value)
    assert f"not allowed to create jobs in namespace {namespace!r}" in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_missing_namespace_says_how_to_create_it(
    launcher: KubeLauncher, emulator: KubeEmulator, namespace: str
) -> None:
    emulator.missing_namespaces.add(namespace)

    with pytest.raises(NamespaceNotFoundError, match="--create-namespace"):
        launcher.up(wait_seconds=None)


def test_missing_kubeconfig_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailableError) as caught:
        connect_cluster(kubeconfig=str(tmp_path / "nowhere"))

    assert "no kubeconfig at" in str(caught.value)
    assert "kind create cluster" in str(caught.value)
    assert caught.value.exit_code == 2


def test_unknown_context_is_refused(kubeconfig: Path) -> None:
    with pytest.raises(ClusterUnavailableError, match="no such context"):
        connect_cluster(context="elsewhere", kubeconfig=str(kubeconfig))


def test_unreachable_cluster_is_one_clear_line(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{free_port()}", "x")
    launcher = KubeLauncher(connect_cluster(kubeconfig=str(path)))

    with pytest.raises(ClusterUnavailableError) as caught:
        launcher.up(wait_seconds=None)

    assert "cannot reach the Kubernetes API" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_namespace_comes_from_the_context(
    kubeconfig: Path, namespace: str, tmp_path: Path, mock_server: object
) -> None:
    assert connect_cluster(kubeconfig=str(kubeconfig)).namespace == namespace
    assert connect_cluster(kubeconfig=str(kubeconfig), namespace="other").namespace == (
        "other"
    )
    bare = write_kubeconfig(tmp_path / "bare", "http://127.0.0.1:1", None)
    assert connect_cluster(kubeconfig=str(bare)).namespace == "default"
