"""Run monitoring/prometheus/prometheus-kubernetes.yml on Debian's Prometheus, which is built without Kubernetes
service discovery: each `kubernetes_sd_configs` block becomes file discovery fed with the target groups the
Kubernetes discovery would produce for the pods and nodes given (the same `__meta_kubernetes_*` labels, one
target per container port, init containers flagged, namespace filters applied as the API server would).
Everything else, relabelling included, runs as written. Label names follow
https://prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config
"""
import json
import re
import subprocess
from pathlib import Path

import yaml

from .obslib import MON


def _sanitize(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_target_groups(pods, namespaces=None):
    groups = []
    for pod in pods:
        if namespaces and pod["namespace"] not in namespaces:
            continue
        base = {
            "__meta_kubernetes_namespace": pod["namespace"],
            "__meta_kubernetes_pod_name": pod["name"],
            "__meta_kubernetes_pod_ip": pod["ip"],
            "__meta_kubernetes_pod_phase": pod.get("phase", "Running"),
            "__meta_kubernetes_pod_ready": "true" if pod.get("phase", "Running") == "Running" else "false",
            "__meta_kubernetes_pod_node_name": pod.get("node", "k3d-dev-agent-0"),
            "__meta_kubernetes_pod_host_ip": pod.get("host_ip", "172.18.0.3"),
            "__meta_kubernetes_pod_uid": pod.get("uid", pod["name"] + "-uid"),
            "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
            "__meta_kubernetes_pod_controller_name": pod["name"].rsplit("-", 1)[0],
        }
        for k, v in pod.get("labels", {}).items():
            base["__meta_kubernetes_pod_label_" + _sanitize(k)] = v
            base["__meta_kubernetes_pod_labelpresent_" + _sanitize(k)] = "true"
        for k, v in pod.get("annotations", {}).items():
            base["__meta_kubernetes_pod_annotation_" + _sanitize(k)] = v
            base["__meta_kubernetes_pod_annotationpresent_" + _sanitize(k)] = "true"
        for c in pod["containers"]:
            cl = dict(base)
            cl["__meta_kubernetes_pod_container_name"] = c["name"]
            cl["__meta_kubernetes_pod_container_image"] = c.get("image", "example/" + c["name"] + ":1")
            cl["__meta_kubernetes_pod_container_init"] = "true" if c.get("init") else "false"
            if not c.get("ports"):
                groups.append({"targets": [pod["ip"]], "labels": cl})
            for p in c.get("ports", []):
                pl = dict(cl)
                pl["__meta_kubernetes_pod_container_port_name"] = p.get("name", "")
                pl["__meta_kubernetes_pod_container_port_number"] = str(p["port"])
                pl["__meta_kubernetes_pod_container_port_protocol"] = "TCP"
                groups.append({"targets": [f"{pod['ip']}:{p['port']}"], "labels": pl})
    return groups


def node_target_groups(nodes):
    groups = []
    for n in nodes:
        labels = {"__meta_kubernetes_node_name": n["name"], "instance": n["name"],
                  "__meta_kubernetes_node_address_InternalIP": n["ip"]}
        for k, v in n.get("labels", {}).items():
            labels["__meta_kubernetes_node_label_" + _sanitize(k)] = v
            labels["__meta_kubernetes_node_labelpresent_" + _sanitize(k)] = "true"
        groups.append({"targets": [f"{n['ip']}:{n.get('port', 10250)}"], "labels": labels})
    return groups


def transform(tmp, pods, nodes, scrape_interval=None, static=None):
    """Write the transformed config (and its discovery files) under `tmp` and return its path.
    `static` maps a static job name to the target list to use instead (None keeps the file's)."""
    tmp = Path(tmp)
    cfg = yaml.safe_load((MON / "prometheus/prometheus-kubernetes.yml").read_text())
    assert cfg["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    cfg["rule_files"] = [str(MON / "rules" / "*.yml")]
    if scrape_interval:
        cfg["global"]["scrape_interval"] = scrape_interval
        cfg["global"]["evaluation_interval"] = scrape_interval
    # The ServiceAccount files a pod would have mounted.
    token, ca = tmp / "token", tmp / "ca.crt"
    token.write_text("not-a-real-token\n")
    # Prometheus refuses a scrape pool whose CA file holds no certificate: make a throwaway one.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=test-cluster-ca", "-keyout", str(tmp / "ca.key"), "-out", str(ca)],
                   check=True, capture_output=True, timeout=60)
    for job in cfg["scrape_configs"]:
        auth = job.get("authorization", {})
        if "credentials_file" in auth:
            auth["credentials_file"] = str(token)
        if "ca_file" in job.get("tls_config", {}):
            job["tls_config"]["ca_file"] = str(ca)
        if "kubernetes_sd_configs" in job:
            (sd,) = job.pop("kubernetes_sd_configs")
            if sd["role"] == "pod":
                groups = pod_target_groups(pods, sd.get("namespaces", {}).get("names"))
            elif sd["role"] == "node":
                groups = node_target_groups(nodes)
            else:
                raise AssertionError(f"role {sd['role']} is not simulated")
            f = tmp / f"sd-{job['job_name']}.json"
            f.write_text(json.dumps(groups, indent=1))
            job["file_sd_configs"] = [{"files": [str(f)], "refresh_interval": "5s"}]
        elif static is not None and job["job_name"] in static:
            job["static_configs"] = [{"targets": static[job["job_name"]]}]
    if static is not None and "alertmanagers" in static:
        cfg["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": static["alertmanagers"]}]}]
    out = tmp / "prometheus-kubernetes.yml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out
