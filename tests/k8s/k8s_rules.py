"""Offline re-implementations of the Kubernetes rules the tests need: label selectors and the Pod Security
Standards (baseline + restricted, in pod_rules.py), NetworkPolicy evaluation, and strict models of the CRDs
we ship (Argo CD, cert-manager) that reject unknown fields.
"""
from typing import Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from .pod_rules import selector_matches


# ------------------------------------------------------------------------------------- network policies
class Endpoint:
    """A pod somewhere in the cluster, for flow evaluation."""

    def __init__(self, namespace, labels, ports=None, name=None):
        self.namespace = namespace
        self.labels = labels
        self.ports = ports or {}  # container port name -> number
        self.name = name or f"{namespace}/{labels}"

    def __repr__(self):
        return self.name


def _ns_labels(ns):
    return {"kubernetes.io/metadata.name": ns}


def _peer_matches(peer, policy_ns, other: Endpoint):
    if "ipBlock" in peer:
        return False  # we only evaluate pod-to-pod flows; ipBlocks never name a pod here
    ns_sel = peer.get("namespaceSelector")
    pod_sel = peer.get("podSelector")
    if ns_sel is None:
        if other.namespace != policy_ns:
            return False
    elif not selector_matches(ns_sel, _ns_labels(other.namespace)):
        return False
    if pod_sel is not None and not selector_matches(pod_sel, other.labels):
        return False
    return True


def _port_matches(rule_ports, port, protocol, target: Endpoint):
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        want = p["port"]
        if isinstance(want, str):
            want = target.ports.get(want)
        end = p.get("endPort", want)
        if want is not None and want <= port <= end:
            return True
    return False


def _direction_allows(policies, subject: Endpoint, other: Endpoint, port, protocol, direction):
    """Whether `subject`'s policies allow traffic from/to `other` (direction 'Ingress' or 'Egress').
    For Ingress the port is the subject's; for Egress it is the other's."""
    selecting = []
    for pol in policies:
        if pol["metadata"].get("namespace") != subject.namespace:
            continue
        spec = pol["spec"]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        if direction in types and selector_matches(spec.get("podSelector", {}), subject.labels):
            selecting.append(spec)
    if not selecting:
        return True  # not isolated in this direction
    target = subject if direction == "Ingress" else other
    for spec in selecting:
        for rule in spec.get("ingress" if direction == "Ingress" else "egress") or []:
            peers = rule.get("from" if direction == "Ingress" else "to")
            if peers is not None and not any(_peer_matches(p, subject.namespace, other) for p in peers):
                continue
            if _port_matches(rule.get("ports"), port, protocol, target):
                return True
    return False


def flow_allowed(policies, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
    return (_direction_allows(policies, src, dst, port, protocol, "Egress")
            and _direction_allows(policies, dst, src, port, protocol, "Ingress"))


# ------------------------------------------------------------------------------ CRD models (strict)
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectMeta(Strict):
    name: str
    namespace: Optional[str] = None
    labels: Optional[Dict[str, str]] = None
    annotations: Optional[Dict[str, str]] = None
    finalizers: Optional[List[str]] = None


class GroupKind(Strict):
    group: str
    kind: str
    name: Optional[str] = None


class OrphanedKey(Strict):
    group: Optional[str] = None
    kind: Optional[str] = None
    name: Optional[str] = None


class OrphanedResources(Strict):
    warn: Optional[bool] = None
    ignore: Optional[List[OrphanedKey]] = None


class Destination(Strict):
    server: Optional[str] = None
    name: Optional[str] = None
    namespace: Optional[str] = None


class AppProjectSpec(Strict):
    description: Optional[str] = None
    sourceRepos: List[str]
    destinations: List[Destination]
    clusterResourceWhitelist: Optional[List[GroupKind]] = None
    clusterResourceBlacklist: Optional[List[GroupKind]] = None
    namespaceResourceWhitelist: Optional[List[GroupKind]] = None
    namespaceResourceBlacklist: Optional[List[GroupKind]] = None
    orphanedResources: Optional[OrphanedResources] = None
    sourceNamespaces: Optional[List[str]] = None


class AppProject(Strict):
    apiVersion: Literal["argoproj.io/v1alpha1"]
    kind: Literal["AppProject"]
    metadata: ObjectMeta
    spec: AppProjectSpec


class SourceDirectory(Strict):
    recurse: Optional[bool] = None
    include: Optional[str] = None
    exclude: Optional[str] = None


class ApplicationSource(Strict):
    repoURL: str
    path: str
    targetRevision: str
    directory: Optional[SourceDirectory] = None


class Backoff(Strict):
    duration: Optional[str] = None
    factor: Optional[int] = None
    maxDuration: Optional[str] = None


class Retry(Strict):
    limit: Optional[int] = None
    backoff: Optional[Backoff] = None


class Automated(Strict):
    prune: Optional[bool] = None
    selfHeal: Optional[bool] = None
    allowEmpty: Optional[bool] = None
    enabled: Optional[bool] = None


KNOWN_SYNC_OPTIONS = {
    "Validate", "CreateNamespace", "PruneLast", "ApplyOutOfSyncOnly", "RespectIgnoreDifferences",
    "ServerSideApply", "PrunePropagationPolicy", "Replace", "FailOnSharedResource", "Prune", "Delete",
}


class SyncPolicy(Strict):
    automated: Optional[Automated] = None
    syncOptions: Optional[List[str]] = None
    retry: Optional[Retry] = None

    def model_post_init(self, _ctx):
        for opt in self.syncOptions or []:
            key, _, value = opt.partition("=")
            if key not in KNOWN_SYNC_OPTIONS or not value:
                raise ValueError(f"unknown sync option {opt!r}")


class IgnoreDifferences(Strict):
    group: Optional[str] = None
    kind: str
    name: Optional[str] = None
    namespace: Optional[str] = None
    jsonPointers: Optional[List[str]] = None
    jqPathExpressions: Optional[List[str]] = None
    managedFieldsManagers: Optional[List[str]] = None


class ApplicationSpec(Strict):
    project: str
    source: ApplicationSource
    destination: Destination
    syncPolicy: Optional[SyncPolicy] = None
    ignoreDifferences: Optional[List[IgnoreDifferences]] = None
    revisionHistoryLimit: Optional[int] = None


class Application(Strict):
    apiVersion: Literal["argoproj.io/v1alpha1"]
    kind: Literal["Application"]
    metadata: ObjectMeta
    spec: ApplicationSpec


class SecretKeySelector(Strict):
    name: str
    key: Optional[str] = None


class HTTP01Ingress(Strict):
    ingressClassName: Optional[str] = None
    # `class` is a Python keyword
    class_: Optional[str] = Field(default=None, alias="class")
    name: Optional[str] = None
    serviceType: Optional[str] = None


class HTTP01(Strict):
    ingress: HTTP01Ingress


class Solver(Strict):
    http01: Optional[HTTP01] = None
    selector: Optional[dict] = None


class ACMEIssuer(Strict):
    server: str
    email: Optional[str] = None
    privateKeySecretRef: SecretKeySelector
    solvers: List[Solver]
    skipTLSVerify: Optional[bool] = None
    preferredChain: Optional[str] = None


class SelfSigned(Strict):
    crlDistributionPoints: Optional[List[str]] = None


class IssuerSpec(Strict):
    acme: Optional[ACMEIssuer] = None
    selfSigned: Optional[SelfSigned] = None

    def model_post_init(self, _ctx):
        if sum(x is not None for x in (self.acme, self.selfSigned)) != 1:
            raise ValueError("an issuer needs exactly one of acme, selfSigned")


class ClusterIssuer(Strict):
    apiVersion: Literal["cert-manager.io/v1"]
    kind: Literal["ClusterIssuer"]
    metadata: ObjectMeta
    spec: IssuerSpec


CRD_MODELS = {
    ("argoproj.io/v1alpha1", "Application"): Application,
    ("argoproj.io/v1alpha1", "AppProject"): AppProject,
    ("cert-manager.io/v1", "ClusterIssuer"): ClusterIssuer,
}
