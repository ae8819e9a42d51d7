"""Every object we ship validates strictly against the Kubernetes OpenAPI schemas (unknown fields are
errors), for the kubectl version on the machine and for the newest schema bundled with
kubernetes-validate. Kinds without a core schema must be one of the CRDs we model, and those validate
against strict models (tests/k8s/k8s_rules.py) instead. kustomize itself is no validator: it renders
a misspelt field without a word."""
import copy

import kubernetes_validate
import pytest
from pydantic import ValidationError as ModelError

from .manifests import GITOPS, KUSTOMIZATIONS, K8S, load_docs, our_k8s_files, render
from .k8s_rules import CRD_MODELS

# The cluster the guide builds (k3d) runs a current k3s; kubectl 1.32 is what this machine has.
VERSIONS = ["1.32.0", kubernetes_validate.latest_version()]


def validate(obj, version):
    key = (obj.get("apiVersion"), obj.get("kind"))
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        model = CRD_MODELS.get(key)
        if model is None:
            raise AssertionError(f"{key[1]} ({key[0]}) has no schema in Kubernetes {version} and is not an "
                                 f"allowed CRD: a typo or a removed API")
        model.model_validate(obj)


def standalone_docs():
    files = our_k8s_files() + sorted((GITOPS / "applications").glob("*.yaml")) + [GITOPS / "base" / "migrate-job.yaml"]
    return [(f"{p.relative_to(K8S.parent)}#{i}", d) for p in files for i, d in enumerate(load_docs(p))]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_every_rendered_object_validates_strictly(name, version):
    objs = render(name)
    assert objs, f"{name} rendered nothing"
    for obj in objs:
        try:
            validate(obj, version)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']} against {version}: {e.message} "
                        f"at {list(e.absolute_path)}")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_file_validates_on_its_own(version):
    docs = standalone_docs()
    assert len(docs) > 20
    for where, obj in docs:
        try:
            validate(obj, version)
        except (kubernetes_validate.ValidationError, ModelError, ValueError) as e:
            pytest.fail(f"{where} ({obj.get('kind')}) against {version}: {e}")


def test_the_validator_rejects_an_unknown_field():
    obj = copy.deepcopy(next(o for o in render("k8s") if o["kind"] == "Deployment"))
    obj["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(obj, VERSIONS[0])


def test_the_validator_rejects_an_unknown_kind():
    with pytest.raises(AssertionError, match="not an allowed CRD"):
        validate({"apiVersion": "networking.k8s.io/v1", "kind": "Ingres", "metadata": {"name": "x"}}, VERSIONS[0])


def test_the_validator_rejects_a_removed_api_version():
    hpa = copy.deepcopy(next(o for o in render("k8s") if o["kind"] == "HorizontalPodAutoscaler"))
    hpa["apiVersion"] = "autoscaling/v2beta2"  # removed in Kubernetes 1.26
    with pytest.raises(AssertionError, match="not an allowed CRD"):
        validate(hpa, VERSIONS[0])


@pytest.mark.parametrize("path,kind,mutate", [
    ("gitops/applications/dev-app.yaml", "Application",
     lambda o: o["spec"]["syncPolicy"].__setitem__("automatic", {"prune": True})),
    ("gitops/applications/dev-app.yaml", "Application",
     lambda o: o["spec"]["syncPolicy"]["syncOptions"].append("CreateNamespaces=true")),
    ("gitops/applications/dev-app.yaml", "AppProject",
     lambda o: o["spec"].__setitem__("sourceRepo", ["x"])),
    ("k8s/cluster-issuer.yaml", "ClusterIssuer",
     lambda o: o["spec"]["acme"]["solvers"][0]["http01"]["ingress"].__setitem__("ingressClass", "nginx")),
])
def test_the_crd_models_reject_typos(path, kind, mutate):
    obj = copy.deepcopy(next(d for d in load_docs(K8S.parent / path) if d["kind"] == kind))
    validate(obj, VERSIONS[0])  # the original passes
    mutate(obj)
    with pytest.raises((ModelError, ValueError)):
        validate(obj, VERSIONS[0])
