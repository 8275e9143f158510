"""The rendered manifests: in step with the code, and valid for every Kubernetes.

Validation runs ``kubernetes-validate --strict`` (its library) against the
schemas of Kubernetes 1.30 up to the newest version the installed package
knows, so an unknown or misspelt field fails as it would on a cluster.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from kubernetes_validate import utils as validate_utils
from packaging.version import Version

from ttglib.config import RunSpec
from ttglib.k8s import objects
from ttglib.k8s.cli import k8s
from ttglib.k8s.render import (
    QUEUE_FILE,
    REDIS_FILE,
    STATIC_FILE,
    RenderOptions,
    manifest_files,
    to_plain,
)

from .conftest import REPO

OLDEST = Version("1.30")
VERSIONS = sorted(
    {v for v in validate_utils.all_versions() if Version(v) >= OLDEST}, key=Version
)


def documents(text: str) -> list[dict[str, Any]]:
    """Every YAML document of a file."""
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def all_manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file, object) for every object of the rendered manifests."""
    return [
        (path, doc)
        for path, text in manifest_files().items()
        if path.startswith("manifests/")
        for doc in documents(text)
    ]


def launcher_objects() -> list[tuple[str, dict[str, Any]]]:
    """Objects only the launcher sends: the Secret and a scale-up Job."""
    base = objects.worker_job(RunSpec("r1", workers=2))
    return [
        ("secret", to_plain(objects.redis_secret("password"))),
        ("scale-job", to_plain(objects.scale_job(base, "ttg-r1-s1", 2, 2))),
    ]


def test_versions_cover_1_30_to_the_newest_known() -> None:
    assert VERSIONS[0] == "1.30.0"
    assert Version(VERSIONS[-1]) >= Version("1.33")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("source", "obj"),
    all_manifests() + launcher_objects(),
    ids=lambda value: value if isinstance(value, str) else value["kind"],
)
def test_objects_are_valid_strictly(
    version: str, source: str, obj: dict[str, Any]
) -> None:
    kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_catches_an_unknown_field() -> None:
    job = copy.deepcopy(dict(all_manifests())[QUEUE_FILE])
    job["spec"]["template"]["spec"]["containers"][0]["securtyContext"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, VERSIONS[0], strict=True)


@pytest.mark.parametrize("relative", sorted(manifest_files()))
def test_committed_files_match_the_code(relative: str) -> None:
    committed = REPO / "k8s" / relative

    assert committed.exists(), f"k8s/{relative} is missing: run 'ttg k8s render'"
    assert committed.read_text(encoding="utf-8") == manifest_files()[relative], (
        f"k8s/{relative} drifted from ttglib/k8s/objects.py: run 'ttg k8s render'"
    )


def test_files_keep_the_original_names() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _path, doc in all_manifests()}
    queue_job = documents(manifest_files()[QUEUE_FILE])[0]
    kind_config = yaml.safe_load(manifest_files()["kind-config.yaml"])

    assert ("Service", "ttg-redis") in kinds
    assert ("Job", "ttg-computation-queue") in kinds
    assert ("Job", "ttg-computation") in kinds
    assert queue_job["metadata"]["labels"]["ttg.io/mode"] == "queue"
    assert (
        documents(manifest_files()[STATIC_FILE])[0]["metadata"]["labels"]["ttg.io/mode"]
        == "static"
    )
    assert kind_config["name"] == "ttg-sandbox"


def test_manifests_submit_in_each_pod_for_kubectl_users() -> None:
    for relative in (QUEUE_FILE, STATIC_FILE):
        pod = documents(manifest_files()[relative])[0]["spec"]["template"]["spec"]
        assert pod["initContainers"][0]["command"] == ["ttg", "submit"]


def test_no_secret_and_no_password_in_the_files() -> None:
    text = "\n".join(manifest_files().values())

    assert "kind: Secret" not in text
    assert "stringData" not in text
    assert all(doc["kind"] != "Secret" for _path, doc in all_manifests())
    assert "redis-server" in manifest_files()[REDIS_FILE]


def test_render_options_shape_the_jobs() -> None:
    options = RenderOptions(workers=5, total_params=100_000, chunk_size=500)
    job = documents(manifest_files(options)[QUEUE_FILE])[0]
    env = {
        var["name"]: var.get("value")
        for var in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }

    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 5
    assert env["TOTAL_PARAMS"] == "100000"
    assert env["CHUNK_SIZE"] == "500"


def test_render_command_writes_the_committed_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(k8s, ["render", "--output-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    for relative, text in manifest_files().items():
        assert (tmp_path / relative).read_text(encoding="utf-8") == text
        assert str(tmp_path / relative) in result.output
