#!/usr/bin/env python3
"""Writes a YAML stream of workload manifests, for timing the manifest reader.

    scripts/gen-workloads.py [COUNT] > workloads.yaml     (COUNT: 1000)

Deployments, StatefulSets and CronJobs in turn, each with env (plain values,
secretKeyRef, envFrom), volumes and mounts (Secret, projected, ConfigMap,
emptyDir), some flow-style collections, comments, quoted and block scalars,
joined by `---` lines as `helm template` writes them. The output depends only
on COUNT (a fixed seed), so timings of two readers read the same text.
"""

import random
import sys


def env_block(rng, indent, n):
    pad = " " * indent
    lines = [f"{pad}env:"]
    for i in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            lines.append(f"{pad}- name: VAR_{i}")
            lines.append(f"{pad}  value: \"value-{rng.randrange(1000)}\"")
        elif kind == 1:
            lines.append(f"{pad}- name: SECRET_{i}")
            lines.append(f"{pad}  valueFrom:")
            lines.append(f"{pad}    secretKeyRef: {{name: app-secret-{i % 7}, key: password, optional: false}}")
        elif kind == 2:
            lines.append(f"{pad}- {{name: FLAG_{i}, value: 'on'}}  # quoted: a string, not a boolean")
        else:
            lines.append(f"{pad}- name: CONFIG_{i}")
            lines.append(f"{pad}  valueFrom:")
            lines.append(f"{pad}    configMapKeyRef:")
            lines.append(f"{pad}      name: app-config")
            lines.append(f"{pad}      key: setting-{i}")
    return lines


def container(rng, indent, name, mounts):
    pad = " " * indent
    lines = [
        f"{pad}- name: {name}",
        f"{pad}  image: registry.example.com/team/{name}:1.{rng.randrange(40)}.{rng.randrange(10)}",
        f"{pad}  imagePullPolicy: IfNotPresent",
    ]
    if rng.random() < 0.4:
        lines.append(f"{pad}  args: [\"--port=8080\", \"--log-level=info\",")
        lines.append(f"{pad}    \"--workers={rng.randrange(1, 9)}\"]")
    else:
        lines.append(f"{pad}  command:")
        lines.append(f"{pad}  - /bin/sh")
        lines.append(f"{pad}  - -c")
        lines.append(f"{pad}  - |")
        lines.append(f"{pad}    echo starting {name}")
        lines.append(f"{pad}    exec /app/{name} --config /etc/app/config.yaml")
    lines.append(f"{pad}  ports:")
    lines.append(f"{pad}  - containerPort: {8000 + rng.randrange(100)}")
    lines.append(f"{pad}    protocol: TCP")
    lines += env_block(rng, indent + 2, rng.randrange(2, 8))
    if rng.random() < 0.3:
        lines.append(f"{pad}  envFrom:")
        lines.append(f"{pad}  - secretRef:")
        lines.append(f"{pad}      name: bulk-secret")
    lines.append(f"{pad}  resources:")
    lines.append(f"{pad}    limits: {{cpu: 500m, memory: 256Mi}}")
    lines.append(f"{pad}    requests:")
    lines.append(f"{pad}      cpu: 100m")
    lines.append(f"{pad}      memory: 64Mi")
    lines.append(f"{pad}  volumeMounts:")
    for volume, path, read_only in mounts:
        lines.append(f"{pad}  - name: {volume}")
        lines.append(f"{pad}    mountPath: {path}")
        if read_only:
            lines.append(f"{pad}    readOnly: true")
    return lines


def volumes(rng, indent, n):
    pad = " " * indent
    lines = [f"{pad}volumes:"]
    mounts = []
    for i in range(n):
        kind = rng.randrange(4)
        name = f"vol-{i}"
        lines.append(f"{pad}- name: {name}")
        if kind == 0:
            lines.append(f"{pad}  secret:")
            lines.append(f"{pad}    secretName: tls-{i}")
            lines.append(f"{pad}    defaultMode: 0440")
            mounts.append((name, f"/etc/tls/{i}", True))
        elif kind == 1:
            lines.append(f"{pad}  projected:")
            lines.append(f"{pad}    sources:")
            lines.append(f"{pad}    - secret: {{name: projected-{i}}}")
            lines.append(f"{pad}    - configMap:")
            lines.append(f"{pad}        name: cm-{i}")
            lines.append(f"{pad}        items: [{{key: a, path: a.txt}}, {{key: b, path: b.txt}}]")
            mounts.append((name, f"/etc/projected/{i}", True))
        elif kind == 2:
            lines.append(f"{pad}  configMap:")
            lines.append(f"{pad}    name: settings-{i}")
            mounts.append((name, f"/etc/config/{i}", False))
        else:
            lines.append(f"{pad}  emptyDir: {{}}")
            mounts.append((name, f"/scratch/{i}", False))
    return lines, mounts


def pod_spec(rng, indent):
    pad = " " * indent
    vol_lines, mounts = volumes(rng, indent, rng.randrange(1, 5))
    lines = [f"{pad}serviceAccountName: app"]
    if rng.random() < 0.5:
        lines.append(f"{pad}automountServiceAccountToken: no  # YAML 1.1: false")
    lines.append(f"{pad}containers:")
    for c in range(rng.randrange(1, 3)):
        lines += container(rng, indent, f"app{c}", mounts[: rng.randrange(len(mounts) + 1)])
    lines += vol_lines
    return lines


def metadata(rng, kind, i):
    return [
        "metadata:",
        f"  name: {kind.lower()}-{i}",
        f"  namespace: team-{i % 13}",
        "  labels:",
        f"    app.kubernetes.io/name: {kind.lower()}-{i}",
        "    app.kubernetes.io/part-of: benchmark",
        "  annotations:",
        f"    description: >-",
        f"      Workload {i} of the reader benchmark,",
        "      folded over two lines.",
    ]


def deployment(rng, i):
    lines = ["apiVersion: apps/v1", "kind: Deployment"] + metadata(rng, "Deployment", i)
    lines += [
        "spec:",
        f"  replicas: {rng.randrange(1, 6)}",
        f"  selector: {{matchLabels: {{app: deployment-{i}}}}}",
        "  template:",
        "    metadata:",
        f"      labels: {{app: deployment-{i}}}",
        "    spec:",
    ]
    return lines + pod_spec(rng, 6)


def statefulset(rng, i):
    lines = ["apiVersion: apps/v1", "kind: StatefulSet"] + metadata(rng, "StatefulSet", i)
    lines += [
        "spec:",
        f"  serviceName: statefulset-{i}",
        "  replicas: 3",
        "  selector:",
        "    matchLabels:",
        f"      app: statefulset-{i}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: statefulset-{i}",
        "    spec:",
    ]
    lines += pod_spec(rng, 6)
    lines += [
        "  volumeClaimTemplates:",
        "  - metadata: {name: data}",
        "    spec:",
        "      accessModes: [ReadWriteOnce]",
        "      resources:",
        "        requests:",
        "          storage: 1Gi",
    ]
    return lines


def cronjob(rng, i):
    lines = ["apiVersion: batch/v1", "kind: CronJob"] + metadata(rng, "CronJob", i)
    lines += [
        "spec:",
        f"  schedule: \"{rng.randrange(60)} */{rng.randrange(1, 12)} * * *\"",
        "  concurrencyPolicy: Forbid",
        "  jobTemplate:",
        "    spec:",
        "      backoffLimit: 2",
        "      template:",
        "        spec:",
        "          restartPolicy: OnFailure",
    ]
    return lines + pod_spec(rng, 10)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(20)
    makers = [deployment, statefulset, cronjob]
    out = []
    for i in range(count):
        out.append("---")
        out.append(f"# Source: bench/templates/workload-{i}.yaml")
        out += makers[i % 3](rng, i)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
