"""What a run looks like from the cluster: its pods, its Jobs, its progress.

:class:`Snapshot` joins one look at a run's worker pods and Jobs with its
queue's :class:`~ttglib.queue.Progress`. :func:`check_pods` and
:func:`check_jobs` name the states a run does not get out of by waiting: an
image the node cannot get, a missing Secret, a failed Job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubernetes import client

from ttglib.k8s import objects
from ttglib.k8s.errors import JobFailedError, PodStartError
from ttglib.queue import Progress

# Waiting reasons that a pod does not get out of by waiting: name -> the fix.
IMAGE_HINT = (
    "load the image into the cluster (kind load docker-image IMAGE --name "
    "ttg-sandbox) or push it to a registry the cluster pulls from"
)
STUCK_REASONS = {
    "ErrImageNeverPull": IMAGE_HINT,
    "ImagePullBackOff": IMAGE_HINT,
    "InvalidImageName": "check the --image name",
    "CreateContainerConfigError": (
        f"check that the Secret {objects.REDIS_SECRET} exists ('ttg k8s up')"
    ),
}


@dataclass(frozen=True)
class PodState:
    """One worker pod, as the launcher reports it.

    Attributes:
        name: the pod's name.
        phase: Pending, Running, Succeeded, Failed or Unknown.
        index: the Job completion index (the worker id before its offset).
        reason: why its container waits or ended, when it does.
        message: the detail that comes with ``reason``.
    """

    name: str
    phase: str
    index: str | None = None
    reason: str | None = None
    message: str | None = None

    @classmethod
    def from_pod(cls, pod: client.V1Pod) -> PodState:
        """Read phase, index and the first waiting or ended container's reason."""
        meta = pod.metadata or client.V1ObjectMeta()
        status = pod.status or client.V1PodStatus()
        reason = message = None
        every = [
            *(status.init_container_statuses or []),
            *(status.container_statuses or []),
        ]
        for container in every:
            state = container.state or client.V1ContainerState()
            detail = state.waiting or state.terminated
            if detail is not None and detail.reason:
                reason, message = detail.reason, detail.message
                break
        annotations = meta.annotations or {}
        return cls(
            name=str(meta.name),
            phase=str(status.phase or "Pending"),
            index=annotations.get("batch.kubernetes.io/job-completion-index"),
            reason=reason,
            message=message,
        )


@dataclass(frozen=True)
class JobState:
    """One worker Job's counts and its final condition, if any."""

    name: str
    workers: int
    active: int
    succeeded: int
    failed: int
    complete: bool
    failure: str | None

    @classmethod
    def from_job(cls, job: client.V1Job) -> JobState:
        """Read the counts and the Complete / Failed conditions."""
        status = job.status or client.V1JobStatus()
        complete, failure = False, None
        for condition in status.conditions or []:
            if condition.status != "True":
                continue
            if condition.type == "Complete":
                complete = True
            elif condition.type == "Failed":
                failure = f"{condition.reason}: {condition.message}"
        spec = job.spec
        return cls(
            name=objects.name_of(job),
            workers=int(spec.completions or 0) if spec else 0,
            active=int(status.active or 0),
            succeeded=int(status.succeeded or 0),
            failed=int(status.failed or 0),
            complete=complete,
            failure=failure,
        )


@dataclass(frozen=True)
class Snapshot:
    """One look at a run: its queue's progress, its Jobs and its pods."""

    run_id: str
    progress: Progress
    jobs: tuple[JobState, ...]
    pods: tuple[PodState, ...]
    seconds: float

    @property
    def finished(self) -> bool:
        """The queue says every chunk is settled."""
        return self.progress.finished

    def pod_counts(self) -> dict[str, int]:
        """Pods per phase, lowercase, in a stable order."""
        counts: dict[str, int] = {}
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            number = sum(1 for pod in self.pods if pod.phase == phase)
            if number:
                counts[phase.lower()] = number
        return counts

    def describe(self) -> str:
        """``run r: 40/100 chunks, 4,000/10,000 params | pods: 3 running | 12 s``."""
        done = self.progress
        pods = ", ".join(f"{n} {phase}" for phase, n in self.pod_counts().items())
        return (
            f"run {self.run_id}: {done.chunks_settled}/{done.chunks_total} chunks, "
            f"{done.params_done:,}/{done.params_total:,} params | "
            f"pods: {pods or 'none yet'} | {self.seconds:.0f} s"
        )


def check_pods(pods: Iterable[PodState]) -> None:
    """Raise :class:`PodStartError` for a pod that waiting will not start."""
    for pod in pods:
        if pod.reason in STUCK_REASONS:
            detail = f"{pod.reason} ({pod.message})" if pod.message else pod.reason
            raise PodStartError(pod.name, detail, STUCK_REASONS[pod.reason])


def check_jobs(run_id: str, jobs: Iterable[JobState]) -> None:
    """Raise :class:`JobFailedError` for a Job that failed."""
    for job in jobs:
        if job.failure is not None:
            raise JobFailedError(
                run_id,
                f"Job {job.name} failed ({job.failure}); see 'ttg k8s logs {run_id}'",
            )
