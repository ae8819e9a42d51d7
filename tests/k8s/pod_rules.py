"""Pod-level Kubernetes rules without dependencies beyond the standard library: the pods a workload makes,
label selectors, and the Pod Security Standards (baseline + restricted). Shared by the static tests (through
k8s_rules) and the cluster model, which starts as a new process for every command and must start fast.
"""
from typing import List

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def pod_template(obj):
    """(metadata, spec) of the pods a workload object creates, or None for other kinds."""
    kind = obj["kind"]
    if kind == "Pod":
        return obj.get("metadata", {}), obj["spec"]
    if kind == "CronJob":
        t = obj["spec"]["jobTemplate"]["spec"]["template"]
        return t.get("metadata", {}), t["spec"]
    if kind in WORKLOAD_KINDS:
        t = obj["spec"]["template"]
        return t.get("metadata", {}), t["spec"]
    return None


def pods(objs):
    """[(owner object, pod metadata, pod spec)] for every workload in a render."""
    out = []
    for o in objs:
        t = pod_template(o)
        if t:
            out.append((o, t[0], t[1]))
    return out


def all_containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", []) + spec.get("ephemeralContainers", [])


# ---------------------------------------------------------------------------------------------- selectors
def selector_matches(selector, labels) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label map. An empty selector matches all."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# ---------------------------------------------------------------------------------------- pod security
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}


def pod_security_violations(spec) -> List[str]:
    """Violations of the Pod Security Standards 'restricted' profile (which includes 'baseline'),
    following https://kubernetes.io/docs/concepts/security/pod-security-standards/ (latest)."""
    v = []
    psc = spec.get("securityContext") or {}
    containers = all_containers(spec)
    # baseline
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(f):
            v.append(f"{f} must be false")
    if spec.get("hostUsers") is False:
        pass  # user namespaces are allowed
    for vol in spec.get("volumes") or []:
        types = [k for k in vol if k != "name"]
        if "hostPath" in types:
            v.append(f"volume {vol['name']}: hostPath is forbidden")
        bad = [t for t in types if t not in RESTRICTED_VOLUME_TYPES]
        if bad:
            v.append(f"volume {vol['name']}: type {bad} not allowed under restricted")
    for sysctl in psc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            v.append(f"sysctl {sysctl['name']} is not in the safe set")
    for c in containers:
        name = c["name"]
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            v.append(f"{name}: privileged")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                v.append(f"{name}: hostPort {p['hostPort']}")
        if sc.get("procMount") not in (None, "Default"):
            v.append(f"{name}: procMount must be Default")
        add = set((sc.get("capabilities") or {}).get("add") or [])
        if add - BASELINE_CAPABILITIES:
            v.append(f"{name}: capabilities {sorted(add - BASELINE_CAPABILITIES)} beyond baseline")
        # restricted
        if sc.get("allowPrivilegeEscalation") is not False:
            v.append(f"{name}: allowPrivilegeEscalation must be false")
        drop = (sc.get("capabilities") or {}).get("drop") or []
        if "ALL" not in drop:
            v.append(f"{name}: capabilities must drop ALL")
        if add - {"NET_BIND_SERVICE"}:
            v.append(f"{name}: may only add NET_BIND_SERVICE")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            v.append(f"{name}: runAsNonRoot must be true (pod or container)")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid == 0:
            v.append(f"{name}: runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            v.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        for opts in (sc.get("seLinuxOptions"), psc.get("seLinuxOptions")):
            if opts and (opts.get("user") or opts.get("role")):
                v.append(f"{name}: seLinuxOptions user/role may not be set")
            if opts and opts.get("type") not in (None, "", "container_t", "container_init_t", "container_kvm_t",
                                                 "container_engine_t"):
                v.append(f"{name}: seLinuxOptions type {opts.get('type')} not allowed")
        for ap in (sc.get("appArmorProfile"), psc.get("appArmorProfile")):
            if ap and ap.get("type") not in ("RuntimeDefault", "Localhost"):
                v.append(f"{name}: appArmorProfile {ap.get('type')} not allowed")
    if psc.get("runAsUser") == 0:
        v.append("pod runAsUser must not be 0")
    return v
