#!/usr/bin/env python3
"""Generates the AdmissionRequest fixtures of `make bench` into benches/fixtures/.

    python3 benches/gen_fixtures.py [OUT_DIR]     (default: benches/fixtures)

Deterministic (no randomness, no clock): running it twice writes identical files.
Every fixture is a bare admission/v1 AdmissionRequest, the form
`policy-runner bench --request-path` accepts, for a Deployment CREATE. With the
bench settings (benches/settings.json: one `secretMounts` entry with items,
mounted through a projected volume at /etc/secrets):

  typical-compliant.json  ~5 KB on the wire: 2 containers, 10 env vars (values,
                          fieldRef, configMapKeyRef, resourceFieldRef), probes,
                          resources, a kube-api-access projected volume
                          (serviceAccountToken + configMap + downwardAPI) and the
                          secrets volume: projected, a `secret` source with the
                          declared items, mounted read-only at /etc/secrets by
                          both containers. Accepted, not mutated.
  typical-mutate.json     the same without the secrets volume and its mounts:
                          the policy adds both. Accepted, mutated.
  large.json              50 containers x 40 env vars (~0.7 MB), compliant.
  huge.json               10,000 containers (~7 MB), compliant: a stress test of
                          everything that grows with the number of containers.
  update-unchanged.json   typical-mutate's Deployment UPDATEd with its template
                          unchanged (a label and replicas changed): the policy
                          reads oldObject too, judges both, and patches
                          nothing. Accepted, not mutated.
  update-template.json    the same UPDATE with a new image in the template: a
                          rollout, so the policy adds the mounts. Accepted, mutated.

"On the wire" means compact JSON, which is what the runner hands the policy
(it re-serialises the request); the typical fixtures are written indented for
reading, large and huge compact. The small fixtures are committed; large.json
and huge.json are not (too big): scripts/bench.sh regenerates them.
"""

import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Must agree with benches/settings.json.
MOUNT_PATH = "/etc/secrets"
SECRET_NAME = "app-secrets"
SECRET_ITEMS = [
    {"key": "API_KEY", "path": "api/API_KEY"},
    {"key": "DB_PASSWORD", "path": "db/password"},
]
SECRETS_VOLUME = "app-secrets"


def envelope(name, obj, uid):
    """An AdmissionRequest for a Deployment CREATE, as the API server sends it."""
    return {
        "uid": uid,
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "name": name,
        "namespace": "team-a",
        "operation": "CREATE",
        "userInfo": {
            "username": "system:serviceaccount:argocd:argocd-application-controller",
            "uid": "0b4b4e1c-5d1d-4b43-9a3c-8f1e0e7a2f10",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"],
        },
        "object": obj,
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "argocd-controller"},
    }


def deployment(name, containers, volumes, init_containers=None):
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "Helm",
    }
    spec = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "containers": containers,
        "volumes": volumes,
        "imagePullSecrets": [{"name": "registry-credentials"}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "securityContext": {"runAsNonRoot": True, "fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    if init_containers:
        spec["initContainers"] = init_containers
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "labels": dict(labels, **{"helm.sh/chart": f"{name}-0.3.1"}),
            "annotations": {"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": "team-a"},
        },
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"checksum/config": "9f2c1e7d5b3a4c6e"}},
                "spec": spec,
            },
        },
    }


def env_var(i, container, long_values=False):
    """The i-th env var of a container: a realistic mix of the non-secret kinds."""
    kind = i % 5
    if kind == 0:
        value = f"https://{container}-upstream-{i}.team-a.svc.cluster.local:8443/api/v1"
        if long_values:
            value += (
                f"/resources?timeout=30s&retries=3&backoff=exponential&pool={i}&tls=verify&region=eu-west-1"
                f"&fallback=https%3A%2F%2F{container}-fallback-{i}.team-b.svc.cluster.local%3A8443&trace=w3c"
            )
        return {"name": f"UPSTREAM_{i}_URL", "value": value}
    if kind == 1:
        paths = ["metadata.namespace", "metadata.name", "spec.nodeName", "status.podIP", "spec.serviceAccountName"]
        return {"name": f"POD_FIELD_{i}", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": paths[i // 5 % 5]}}}
    if kind == 2:
        return {
            "name": f"FEATURE_FLAG_{i}",
            "valueFrom": {"configMapKeyRef": {"name": f"{container}-config", "key": f"feature-{i}", "optional": True}},
        }
    if kind == 3:
        config = {
            "level": "info",
            "format": "json",
            "sampling": {"initial": 100, "thereafter": 100},
            "fields": ["ts", "caller", "msg", "trace_id", "span_id", f"{container}-{i}"],
            "outputs": [
                {"type": "stdout", "encoder": "json", "timeKey": "ts", "levelKey": "level", "messageKey": "msg"},
                {"type": "otlp", "endpoint": "otel-collector.observability.svc.cluster.local:4317", "insecure": False},
            ],
            "tracing": {"sampler": "parentbased_traceidratio", "ratio": 0.05, "propagators": ["tracecontext", "baggage"]},
            "redact": ["authorization", "cookie", "set-cookie", "x-api-key", "password", "token", "secret"],
            "static": {
                "service.name": container,
                "service.namespace": "team-a",
                "deployment.environment": "production",
                "cloud.region": "eu-west-1",
                "k8s.cluster.name": "prod-eu-west-1-blue",
                "team": "platform-observability",
                "cost-center": f"cc-{1000 + i}",
            },
        }
        value = "info" if not long_values else json.dumps(config, separators=(",", ":"))
        return {"name": f"LOG_CONFIG_{i}", "value": value}
    resources = ["limits.cpu", "limits.memory", "requests.cpu", "requests.memory"]
    return {
        "name": f"RESOURCE_{i}",
        "valueFrom": {"resourceFieldRef": {"containerName": container, "resource": resources[i // 5 % 4], "divisor": "1"}},
    }


def container(name, env_count, secrets=True, rich=True, long_values=False, image_tag="1.4.2"):
    mounts = [
        {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if secrets:
        mounts.insert(0, {"name": SECRETS_VOLUME, "mountPath": MOUNT_PATH, "readOnly": True})
    c = {
        "name": name,
        "image": f"registry.example.com/team-a/{name}:{image_tag}",
        "imagePullPolicy": "IfNotPresent",
        "env": [env_var(i, name, long_values) for i in range(env_count)],
        "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": mounts,
    }
    if rich:
        c.update(
            {
                "args": ["--config=/etc/app/config.yaml", f"--name={name}", "--listen=:8080"],
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                ],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                    "initialDelaySeconds": 10,
                    "periodSeconds": 10,
                    "timeoutSeconds": 1,
                    "failureThreshold": 3,
                },
                "readinessProbe": {
                    "httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                    "periodSeconds": 5,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        )
    return c


def volumes(secrets=True):
    out = [
        {
            # What the ServiceAccount admission plugin injects (kube-api-access-xxxxx).
            "name": "kube-api-access",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]
                        }
                    },
                ],
            },
        },
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    if secrets:
        out.insert(
            0,
            {
                "name": SECRETS_VOLUME,
                "projected": {"defaultMode": 256, "sources": [{"secret": {"name": SECRET_NAME, "items": SECRET_ITEMS}}]},
            },
        )
    return out


def typical(secrets):
    containers = [
        container("processor", 6, secrets=secrets),
        container("metrics-exporter", 4, secrets=secrets, image_tag="0.9.0"),
    ]
    uid = "5d8a6c1e-0f1b-4e59-9d4e-1a2b3c4d5e01" if secrets else "5d8a6c1e-0f1b-4e59-9d4e-1a2b3c4d5e02"
    return envelope("processor", deployment("processor", containers, volumes(secrets)), uid)


def update(template_changed):
    """typical-mutate's Deployment, UPDATEd: a label and replicas changed, and
    the first container's image when `template_changed`."""
    request = typical(False)
    old = request["object"]
    old["metadata"]["resourceVersion"] = "48213377"
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["team"] = "payments"
    new["spec"]["replicas"] = 4
    if template_changed:
        new["spec"]["template"]["spec"]["containers"][0]["image"] += "-hotfix"
    request.update(
        operation="UPDATE",
        object=new,
        oldObject=old,
        options={"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "argocd-controller"},
    )
    return request


def large():
    containers = [container(f"worker-{i:02d}", 40, long_values=True) for i in range(50)]
    return envelope("fleet", deployment("fleet", containers, volumes()), "5d8a6c1e-0f1b-4e59-9d4e-1a2b3c4d5e03")


def huge():
    containers = [container(f"shard-{i:05d}", 3, rich=False) for i in range(10_000)]
    return envelope("swarm", deployment("swarm", containers, volumes()), "5d8a6c1e-0f1b-4e59-9d4e-1a2b3c4d5e04")


FIXTURES = [
    ("typical-compliant.json", lambda: typical(True), True),
    ("typical-mutate.json", lambda: typical(False), True),
    ("large.json", large, False),
    ("huge.json", huge, False),
    ("update-unchanged.json", lambda: update(False), True),
    ("update-template.json", lambda: update(True), True),
]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    for name, build, indented in FIXTURES:
        request = build()
        wire = json.dumps(request, separators=(",", ":"))
        text = json.dumps(request, indent=2) + "\n" if indented else wire + "\n"
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        containers = len(request["object"]["spec"]["template"]["spec"]["containers"])
        print(f"gen_fixtures: {path}: {containers} containers, {len(wire)} bytes on the wire ({len(text)} in the file)")


if __name__ == "__main__":
    main()
