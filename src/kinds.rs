//! kinds: the one table of the workload kinds the policy knows.
//!
//! Everything the policy knows about a kind before it reads the object lives in
//! its row: where its pod spec is, what of it is parsed, how the Vault Secrets
//! Operator names it as a restart target, and whether its pod spec can still
//! gain volumes on UPDATE. Every step reads the table ([`crate::locate`],
//! [`crate::pruned`], [`crate::update`], [`crate::vault_sync`]); adding a kind
//! is adding a row.

use crate::pruned::{self, Shape};

/// One workload kind.
#[derive(Debug)]
pub struct Kind {
    /// API group (`""` for the core group). Every served version of a kind
    /// keeps its pod spec at the same place, so the version is not part of the key.
    pub group: &'static str,
    pub kind: &'static str,
    /// JSON pointer of the pod spec (RFC 6901); `None` for a kind judged only
    /// where the `podSpecPaths` setting locates its pod specs.
    pub pod_spec: Option<&'static str>,
    /// What of the object is parsed when the built-in pointer alone locates its pod spec.
    pub shape: &'static Shape,
    /// How a VSO resource's `rolloutRestartTargets` name an object of this kind;
    /// `None` for kinds VSO does not restart (a Pod restarts through its owner).
    pub restart_target: Option<&'static str>,
    /// Whether its pod spec can gain volumes after creation. A Pod's cannot: on
    /// UPDATE, and through a subresource, a Pod is judged but never mutated.
    pub mutable_after_create: bool,
}

const fn row(
    group: &'static str,
    kind: &'static str,
    pod_spec: &'static str,
    shape: &'static Shape,
    restart_target: Option<&'static str>,
) -> Kind {
    Kind {
        group,
        kind,
        pod_spec: Some(pod_spec),
        shape,
        restart_target,
        mutable_after_create: true,
    }
}

const TEMPLATE_SPEC: &str = "/spec/template/spec";

/// The kinds the policy knows.
pub const KINDS: &[Kind] = &[
    Kind {
        mutable_after_create: false,
        ..row("", "Pod", "/spec", &pruned::POD, None)
    },
    row("", "ReplicationController", TEMPLATE_SPEC, &pruned::WORKLOAD, None),
    row(
        "apps",
        "Deployment",
        TEMPLATE_SPEC,
        &pruned::WORKLOAD,
        Some("Deployment"),
    ),
    row("apps", "ReplicaSet", TEMPLATE_SPEC, &pruned::WORKLOAD, None),
    row(
        "apps",
        "StatefulSet",
        TEMPLATE_SPEC,
        &pruned::WORKLOAD,
        Some("StatefulSet"),
    ),
    row("apps", "DaemonSet", TEMPLATE_SPEC, &pruned::WORKLOAD, Some("DaemonSet")),
    row("batch", "Job", TEMPLATE_SPEC, &pruned::WORKLOAD, None),
    row(
        "batch",
        "CronJob",
        "/spec/jobTemplate/spec/template/spec",
        &pruned::CRON_JOB,
        None,
    ),
    // Argo Rollouts: judged where `podSpecPaths` locates its pod spec; VSO
    // restarts it under this name.
    Kind {
        pod_spec: None,
        ..row(
            "argoproj.io",
            "Rollout",
            TEMPLATE_SPEC,
            &Shape::Whole,
            Some("argo.Rollout"),
        )
    },
];

/// The row of a kind, if the policy knows it.
pub fn find(group: &str, kind: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row() {
        for (i, a) in KINDS.iter().enumerate() {
            for b in KINDS.iter().skip(i + 1) {
                assert!((a.group, a.kind) != (b.group, b.kind), "{} {} twice", a.group, a.kind);
            }
        }
    }

    #[test]
    fn a_built_in_pod_spec_has_a_pruned_shape_that_keeps_it() {
        for kind in KINDS {
            if let Some(pointer) = kind.pod_spec {
                assert!(
                    pruned::keeps_pod_spec_at(kind.shape, pointer),
                    "{}: the shape does not keep {pointer}",
                    kind.kind
                );
            }
        }
    }
}
