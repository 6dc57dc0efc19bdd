"""Deployment manifests: parse, reference each other consistently, and match what the server exposes."""

from __future__ import annotations

from pathlib import Path

import yaml

from fitmirror.config import REPO_ROOT, Settings

K8S = REPO_ROOT / "deploy" / "k8s"


def _docs() -> list[dict]:
    out = []
    for p in sorted(K8S.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(p.read_text()) if d]
    return out


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_manifests_are_consistent():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _docs() if d["kind"] != "Kustomization"}
    dep = docs[("Deployment", "fitmirror")]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    # Drain must finish inside the grace period.
    cfg = docs[("ConfigMap", "fitmirror-config")]["data"]
    assert pod["terminationGracePeriodSeconds"] > float(cfg["FITMIRROR_DRAIN_TIMEOUT_S"])
    # Every FITMIRROR_* variable names a real setting.
    env_names = set(cfg) | {e["name"] for e in c.get("env", [])}
    unknown = [n for n in env_names if n.startswith("FITMIRROR_") and n[10:].lower() not in Settings.model_fields]
    assert not unknown, unknown
    svc = docs[("Service", "fitmirror")]
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
    ing = docs[("Ingress", "fitmirror")]
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    hpa = docs[("HorizontalPodAutoscaler", "fitmirror")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "fitmirror"
    assert ("Deployment", "coturn") in docs


def test_docs_exist():
    assert Path(REPO_ROOT / "docs" / "operations.md").exists()
