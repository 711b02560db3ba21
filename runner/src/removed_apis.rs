//! API versions Kubernetes no longer serves. `kubectl apply` of such an
//! object fails ("no matches for kind ... in version ..."), so no admission
//! policy ever sees it: `check` reports it as skipped, with the reason and
//! the version to use instead, rather than judging an object the cluster
//! would refuse anyway.
//!
//! From the Kubernetes deprecated API migration guide ("Removed APIs by
//! release"), for the kinds that appear in manifests.

/// One removed (apiVersion, kind).
struct Removed {
    api_version: &'static str,
    kind: &'static str,
    /// The first Kubernetes minor release that no longer serves it.
    since: &'static str,
    /// The apiVersion to use instead; `None` when the API was dropped.
    replacement: Option<&'static str>,
}

const fn removed(
    api_version: &'static str,
    kind: &'static str,
    since: &'static str,
    replacement: Option<&'static str>,
) -> Removed {
    Removed {
        api_version,
        kind,
        since,
        replacement,
    }
}

const APPS: Option<&str> = Some("apps/v1");
const NETWORKING: Option<&str> = Some("networking.k8s.io/v1");
const RBAC: Option<&str> = Some("rbac.authorization.k8s.io/v1");
const STORAGE: Option<&str> = Some("storage.k8s.io/v1");
const ADMISSION: Option<&str> = Some("admissionregistration.k8s.io/v1");
const FLOWCONTROL: Option<&str> = Some("flowcontrol.apiserver.k8s.io/v1");

const REMOVED: &[Removed] = &[
    // 1.16
    removed("extensions/v1beta1", "Deployment", "1.16", APPS),
    removed("extensions/v1beta1", "DaemonSet", "1.16", APPS),
    removed("extensions/v1beta1", "ReplicaSet", "1.16", APPS),
    removed("extensions/v1beta1", "NetworkPolicy", "1.16", NETWORKING),
    removed(
        "extensions/v1beta1",
        "PodSecurityPolicy",
        "1.16",
        Some("policy/v1beta1"),
    ),
    removed("apps/v1beta1", "Deployment", "1.16", APPS),
    removed("apps/v1beta1", "StatefulSet", "1.16", APPS),
    removed("apps/v1beta1", "ReplicaSet", "1.16", APPS),
    removed("apps/v1beta1", "ControllerRevision", "1.16", APPS),
    removed("apps/v1beta2", "Deployment", "1.16", APPS),
    removed("apps/v1beta2", "DaemonSet", "1.16", APPS),
    removed("apps/v1beta2", "ReplicaSet", "1.16", APPS),
    removed("apps/v1beta2", "StatefulSet", "1.16", APPS),
    removed("apps/v1beta2", "ControllerRevision", "1.16", APPS),
    // 1.21: the alpha CronJob API
    removed("batch/v2alpha1", "CronJob", "1.21", Some("batch/v1")),
    // 1.22
    removed("extensions/v1beta1", "Ingress", "1.22", NETWORKING),
    removed("networking.k8s.io/v1beta1", "Ingress", "1.22", NETWORKING),
    removed("networking.k8s.io/v1beta1", "IngressClass", "1.22", NETWORKING),
    removed("rbac.authorization.k8s.io/v1beta1", "ClusterRole", "1.22", RBAC),
    removed("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding", "1.22", RBAC),
    removed("rbac.authorization.k8s.io/v1beta1", "Role", "1.22", RBAC),
    removed("rbac.authorization.k8s.io/v1beta1", "RoleBinding", "1.22", RBAC),
    removed(
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
        "1.22",
        ADMISSION,
    ),
    removed(
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
        "1.22",
        ADMISSION,
    ),
    removed(
        "apiextensions.k8s.io/v1beta1",
        "CustomResourceDefinition",
        "1.22",
        Some("apiextensions.k8s.io/v1"),
    ),
    removed(
        "apiregistration.k8s.io/v1beta1",
        "APIService",
        "1.22",
        Some("apiregistration.k8s.io/v1"),
    ),
    removed(
        "certificates.k8s.io/v1beta1",
        "CertificateSigningRequest",
        "1.22",
        Some("certificates.k8s.io/v1"),
    ),
    removed(
        "coordination.k8s.io/v1beta1",
        "Lease",
        "1.22",
        Some("coordination.k8s.io/v1"),
    ),
    removed(
        "scheduling.k8s.io/v1beta1",
        "PriorityClass",
        "1.22",
        Some("scheduling.k8s.io/v1"),
    ),
    removed("storage.k8s.io/v1beta1", "CSIDriver", "1.22", STORAGE),
    removed("storage.k8s.io/v1beta1", "CSINode", "1.22", STORAGE),
    removed("storage.k8s.io/v1beta1", "StorageClass", "1.22", STORAGE),
    removed("storage.k8s.io/v1beta1", "VolumeAttachment", "1.22", STORAGE),
    // 1.25
    removed("batch/v1beta1", "CronJob", "1.25", Some("batch/v1")),
    removed(
        "discovery.k8s.io/v1beta1",
        "EndpointSlice",
        "1.25",
        Some("discovery.k8s.io/v1"),
    ),
    removed("events.k8s.io/v1beta1", "Event", "1.25", Some("events.k8s.io/v1")),
    removed(
        "autoscaling/v2beta1",
        "HorizontalPodAutoscaler",
        "1.25",
        Some("autoscaling/v2"),
    ),
    removed("policy/v1beta1", "PodDisruptionBudget", "1.25", Some("policy/v1")),
    removed("policy/v1beta1", "PodSecurityPolicy", "1.25", None),
    removed("node.k8s.io/v1beta1", "RuntimeClass", "1.25", Some("node.k8s.io/v1")),
    // 1.26
    removed(
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        "1.26",
        Some("autoscaling/v2"),
    ),
    removed(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "FlowSchema",
        "1.26",
        FLOWCONTROL,
    ),
    removed(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "PriorityLevelConfiguration",
        "1.26",
        FLOWCONTROL,
    ),
    // 1.27
    removed("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27", STORAGE),
    // 1.29
    removed(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "FlowSchema",
        "1.29",
        FLOWCONTROL,
    ),
    removed(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "PriorityLevelConfiguration",
        "1.29",
        FLOWCONTROL,
    ),
    // 1.32
    removed(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "FlowSchema",
        "1.32",
        FLOWCONTROL,
    ),
    removed(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "PriorityLevelConfiguration",
        "1.32",
        FLOWCONTROL,
    ),
];

/// Why an object of this apiVersion and kind cannot be created, if it cannot.
pub fn not_served(api_version: &str, kind: &str) -> Option<String> {
    let entry = REMOVED
        .iter()
        .find(|r| r.api_version == api_version && r.kind == kind)?;
    let advice = match entry.replacement {
        Some(replacement) => format!("use {replacement}"),
        None => format!("{kind} was removed without a replacement"),
    };
    Some(format!(
        "{api_version} {kind} is not served by Kubernetes since {}; {advice}",
        entry.since
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_workload_versions_name_the_release_and_the_replacement() {
        assert_eq!(
            not_served("apps/v1beta1", "Deployment").as_deref(),
            Some("apps/v1beta1 Deployment is not served by Kubernetes since 1.16; use apps/v1")
        );
        assert_eq!(
            not_served("extensions/v1beta1", "DaemonSet").as_deref(),
            Some("extensions/v1beta1 DaemonSet is not served by Kubernetes since 1.16; use apps/v1")
        );
        assert_eq!(
            not_served("batch/v1beta1", "CronJob").as_deref(),
            Some("batch/v1beta1 CronJob is not served by Kubernetes since 1.25; use batch/v1")
        );
        assert!(not_served("policy/v1beta1", "PodSecurityPolicy")
            .unwrap()
            .ends_with("removed without a replacement"));
        for served in [
            ("apps/v1", "Deployment"),
            ("batch/v1", "CronJob"),
            ("v1", "Pod"),
            ("extensions/v1beta1", "SomethingElse"),
            ("argoproj.io/v1alpha1", "Rollout"),
        ] {
            assert_eq!(not_served(served.0, served.1), None, "{served:?}");
        }
    }
}
