#!/usr/bin/env python3
"""Writes one Deployment whose container reads COUNT env variables from
Secrets or from ConfigMaps, for timing how `check` places findings.

    scripts/gen-env-refs.py secret|configmap [COUNT] > deployment.yaml   (COUNT: 10000)

With `secret`, every variable is a finding of secret-mounts-policy, placed at
its line in the file; with `configmap`, the same document (the reference's
kind aside) has none. 10,000 variables make about 1.4 MB.
"""

import sys


def main():
    kinds = {"secret": "secretKeyRef", "configmap": "configMapKeyRef"}
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in kinds:
        sys.exit(__doc__)
    ref = kinds[sys.argv[1]]
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 10_000
    out = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: many-env",
        "  namespace: team-a",
        "spec:",
        "  selector:",
        "    matchLabels: {app: many-env}",
        "  template:",
        "    metadata:",
        "      labels: {app: many-env}",
        "    spec:",
        "      containers:",
        "      - name: app",
        "        image: registry.example.com/team/app:1.0.0",
        "        env:",
    ]
    for i in range(count):
        out += [
            f"        - name: SETTING_{i:05d}",
            "          valueFrom:",
            f"            {ref}:",
            f"              name: settings-{i % 100:02d}",
            f"              key: key-{i:05d}",
        ]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
