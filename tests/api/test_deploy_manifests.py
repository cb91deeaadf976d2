"""The deployment files against the app they deploy: every probe and health check names a real GET route,
ports and names line up, every JINDAN_ variable is a real setting, every Secret and ConfigMap a Pod reads is
defined, and the grace periods cover the longest stop the service allows itself."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from jindan.api.app import INDEX_STOP_WAIT_S, create_app
from jindan.cli.graceful import CLOSE_MARGIN_S
from jindan.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s_objects() -> list[dict[str, Any]]:
    return [d for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml" for d in documents(p)]


def get_routes() -> set[str]:
    """The app's GET paths, as its OpenAPI document lists them (the routes it really serves)."""
    schema = create_app(Settings(profile="embedded")).openapi()
    return {path for path, ops in schema["paths"].items() if "get" in ops}


def is_setting(name: str) -> bool:
    """JINDAN_A__B__C names settings.a.b.c."""
    model: Any = Settings
    for part in name.removeprefix("JINDAN_").lower().split("__"):
        fields = model.model_fields
        if part not in fields:
            return False
        annotation = fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return True


def shutdown_bound_s(settings: Settings) -> float:
    """The longest stop the service allows itself: streams' grace + the close margin (uvicorn's limit), then
    the index's stop wait and the shadow drain, plus a few seconds for the last writes and PostgreSQL."""
    return (
        math.ceil(settings.server.shutdown_grace_s + CLOSE_MARGIN_S)
        + INDEX_STOP_WAIT_S
        + settings.server.shadow_drain_s
        + 5
    )


def deployment() -> dict[str, Any]:
    return next(d for d in k8s_objects() if d["kind"] == "Deployment")


def test_probes_and_health_checks_are_real_routes() -> None:
    routes = get_routes()
    assert {"/health", "/ready"} <= routes
    container = deployment()["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {k: container[k] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        assert probe["httpGet"]["path"] in routes, kind
        assert probe["httpGet"]["port"] in ports, kind
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health"  # liveness never depends on other services
    assert probes["readinessProbe"]["httpGet"]["path"] == "/ready"
    config = next(d for d in k8s_objects() if d["kind"] == "ConfigMap")["data"]
    assert int(config["JINDAN_SERVER__PORT"]) == ports["http"] and config["JINDAN_SERVER__HOST"] == "0.0.0.0"
    service = next(d for d in k8s_objects() if d["kind"] == "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    assert service["spec"]["selector"] == deployment()["spec"]["template"]["metadata"]["labels"]

    for compose in ("compose.yml", "compose.replicas.yml"):
        for name, svc in documents(DEPLOY / compose)[0]["services"].items():
            test = " ".join(svc.get("healthcheck", {}).get("test", []))
            for path in re.findall(r"http://127\.0\.0\.1:8000(/[a-z]*)", test):
                assert path in routes, (compose, name, path)
    nginx = (DEPLOY / "nginx.conf").read_text()
    for path in re.findall(r"location = (/\S+)", nginx):
        assert path in routes, path


def test_every_variable_is_a_setting_and_every_reference_is_defined() -> None:
    objects = k8s_objects()
    config = next(d for d in objects if d["kind"] == "ConfigMap")
    secret = next(d for d in objects if d["kind"] == "Secret")
    container = deployment()["spec"]["template"]["spec"]["containers"][0]
    assert [r["configMapRef"]["name"] for r in container["envFrom"]] == [config["metadata"]["name"]]
    for env in container["env"]:
        ref = env["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"], ref
    names = [e["name"] for e in container["env"]] + list(config["data"])
    for compose in ("compose.yml", "compose.replicas.yml"):
        names += [n for svc in documents(DEPLOY / compose)[0]["services"].values() for n in svc.get("environment", {})]
    wrong = [n for n in names if n.startswith("JINDAN_") and n != "JINDAN_HOME" and not is_setting(n)]
    assert not wrong, wrong
    Settings.model_validate(  # the ConfigMap's values are valid settings
        {
            "profile": config["data"]["JINDAN_PROFILE"],
            "qdrant": {"write_ordering": config["data"]["JINDAN_QDRANT__WRITE_ORDERING"]},
        }
    )


@pytest.mark.parametrize("tier", ["", "tiers/minimum", "tiers/recommended", "tiers/optimal"])
def test_grace_periods_cover_the_longest_stop(tier: str) -> None:
    settings = Settings(profile="local")
    spec = deployment()["spec"]["template"]["spec"]
    container = spec["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    needed = int(pre_stop[1]) + shutdown_bound_s(settings)
    assert spec["terminationGracePeriodSeconds"] >= needed, (spec["terminationGracePeriodSeconds"], needed)
    compose = documents(DEPLOY / "compose.replicas.yml")[0]["services"]["jindan"]
    assert int(compose["stop_grace_period"].removesuffix("s")) >= shutdown_bound_s(settings)
    if tier:
        patch = documents(K8S / tier / "kustomization.yaml")[0]["patches"][0]
        ops = {op["path"]: op["value"] for op in yaml.safe_load(patch["patch"])}
        resources = ops["/spec/template/spec/containers/0/resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
        assert ops["/spec/replicas"] >= 2  # one replica down (a drain, a rollout) never takes the service down
