#!/usr/bin/env python3
"""Writes the hostile inputs of e2e-tests/hostile.bats at test time (the big ones
are never committed).

    gen_hostile.py CASE OUT [N]

Every CASE writes one file to OUT: an AdmissionRequest (what `kwctl run
--request-path` reads) unless said otherwise. N sizes the cases that take one.
"""

import json
import sys

SECRETS_PATH = "/etc/secrets"


def request(obj=None, group="apps", version="v1", kind="Deployment", operation="CREATE", with_object=True):
    r = {
        "uid": "hostile",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "name": "w",
        "namespace": "ns",
        "operation": operation,
        "userInfo": {"username": "hostile"},
    }
    if with_object:
        r["object"] = obj
    return r


def deployment(spec, annotations=None, **extra_spec):
    template = {"metadata": {"labels": {"app": "w"}}, "spec": spec}
    if annotations is not None:
        template["metadata"]["annotations"] = annotations
    d = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}}, "template": template},
    }
    d["spec"].update(extra_spec)
    return d


def compliant_spec(containers=1):
    """A pod spec that follows every rule: secrets only through the projected volume."""
    return {
        "containers": [
            {
                "name": f"c{i}",
                "image": "example/app:1",
                "volumeMounts": [{"name": "secret-mounts", "mountPath": SECRETS_PATH, "readOnly": True}],
            }
            for i in range(containers)
        ],
        "volumes": [{"name": "secret-mounts", "projected": {"sources": [{"secret": {"name": "api-key"}}]}}],
    }


def dump(obj):
    return json.dumps(obj, separators=(",", ":"))


def case(name, n):
    if name == "not-json":
        # Not JSON, not YAML, not even UTF-8.
        return b"\xff\xfe\x00{\"uid\": \"x\", \"object\": \x80\x81 GARBAGE"
    if name == "not-json-text":
        # UTF-8, looks like JSON, is neither JSON nor YAML.
        return '{"uid": "x", "object": {"spec": [1, 2,, }'
    if name == "object-empty":
        return dump(request({}))
    if name == "object-null":
        return dump(request(None))
    if name == "spec-number":
        return dump(request({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": 5}))
    if name == "containers-not-list":
        spec = compliant_spec()
        spec["containers"] = {"name": "app", "image": "example/app:1"}
        return dump(request(deployment(spec)))
    if name == "containers-compliant":
        return dump(request(deployment(compliant_spec(n))))
    if name == "containers-env-secret":
        spec = {
            "containers": [
                {
                    "name": f"c{i}",
                    "image": "example/app:1",
                    "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                }
                for i in range(n)
            ]
        }
        return dump(request(deployment(spec)))
    if name == "containers-bare":
        # For the mutation: n containers without any mount.
        spec = {"containers": [{"name": f"c{i}", "image": "example/app:1"} for i in range(n)]}
        return dump(request(deployment(spec)))
    if name == "env-many":
        env = [{"name": f"VAR_{i}", "value": str(i)} for i in range(n - 1)]
        env.append({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}})
        spec = {"containers": [{"name": "app", "image": "example/app:1", "env": env}]}
        return dump(request(deployment(spec)))
    if name == "big":
        # n MiB: a compliant Deployment whose pod template carries n MiB of
        # annotations (1,000 of them), plus a container to mutate.
        size = n * 1024 * 1024
        count = 1000
        annotations = {f"example.com/blob-{i}": "x" * (size // count) for i in range(count)}
        spec = compliant_spec(2)
        spec["containers"].append({"name": "bare", "image": "example/app:1"})
        return dump(request(deployment(spec, annotations)))
    if name == "deep":
        # A request nested n levels deep in total, the nesting in a field the
        # policy never reads: {request {object {spec {"unrelated": [[[...]]]}}}}
        # holds the placeholder at depth 3, so n - 3 brackets make n levels.
        obj = deployment(compliant_spec(), unrelated="__DEEP__")
        inner = max(n - 3, 0)
        return dump(request(obj)).replace('"__DEEP__"', "[" * inner + "1" + "]" * inner, 1)
    if name == "floats":
        # Floats in a field the policy never reads, some of which serde_json
        # (without `float_roundtrip`) does not parse back to the value it wrote.
        obj = deployment({"containers": [{"name": "app", "image": "example/app:1"}]}, floats="__FLOATS__")
        floats = ("[7.296267179458752e-246,7.296267179458753e-246,1.0715660391465825e-75,"
                  "3.0261999441573207e-52,6.4660538264326985e-236,0.1,2.5e-308,1.7976931348623157e308,5e-324]")
        return dump(request(obj)).replace('"__FLOATS__"', floats, 1)
    if name == "lone-surrogate":
        text = dump(request(deployment(compliant_spec())))
        return text.replace('"name":"c0"', '"name":"c0\\ud800"', 1)
    if name == "duplicate-keys-last-clean":
        # The same key twice in the pod spec: a secretKeyRef first, a clean list last.
        text = dump(request(deployment({"containers": []})))
        dirty = '[{"name":"app","env":[{"name":"P","valueFrom":{"secretKeyRef":{"name":"db","key":"p"}}}]}]'
        return text.replace('"containers":[]', '"containers":' + dirty + ',"containers":[]', 1)
    if name == "duplicate-keys-last-dirty":
        text = dump(request(deployment({"containers": []})))
        dirty = '[{"name":"app","env":[{"name":"P","valueFrom":{"secretKeyRef":{"name":"db","key":"p"}}}]}]'
        return text.replace('"containers":[]', '"containers":[],"containers":' + dirty, 1)
    if name == "unknown-kind":
        spec = {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}
        obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"template": {"spec": spec}}}
        return dump(request(obj, group="example.com", kind="Widget"))
    if name == "lookalike-kind":
        # A Deployment of another API group is not apps/Deployment.
        spec = {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}]}]}
        return dump(request(deployment(spec), group="example.com"))
    if name == "secret-object":
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}
        return dump(request(obj, group="", kind="Secret"))
    if name == "delete-without-object":
        return dump(request(operation="DELETE", with_object=False))
    if name == "settings-many-mounts":
        # Settings (not a request): n valid secretMounts entries.
        return dump({"secretMounts": [{"name": f"m{i}", "secretName": f"s{i}", "items": [{"key": "k", "path": f"s{i}/k"}]} for i in range(n)]})
    raise SystemExit(f"gen_hostile.py: unknown case {name!r}")


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    name, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    data = case(name, n)
    if isinstance(data, str):
        data = data.encode()
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
