//! What the runner knows of the Kubernetes API without a cluster: an
//! apiVersion's group and version, the resource and scope of well-known
//! kinds, and the API versions Kubernetes no longer serves.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupVersionResource {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl GroupVersionResource {
    /// The resource of objects of `apiVersion` and `kind`.
    pub fn of_kind(api_version: &str, kind: &str) -> GroupVersionResource {
        let (group, version) = split_api_version(api_version);
        GroupVersionResource {
            group,
            version,
            resource: resource_for_kind(kind),
        }
    }

    /// Whether it names the core group's Namespaces.
    pub fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.resource == "namespaces"
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group.to_string(), version.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

/// The well-known kinds whose objects are cluster-scoped; any other kind is
/// namespaced.
const CLUSTER_SCOPED: &str = "Namespace Node PersistentVolume IngressClass ClusterRole ClusterRoleBinding
    PriorityClass StorageClass RuntimeClass CSIDriver CSINode CustomResourceDefinition APIService
    MutatingWebhookConfiguration ValidatingWebhookConfiguration ClusterAdmissionPolicy
    ClusterAdmissionPolicyGroup PolicyServer";

/// The resource (plural) for a kind: its lowercase plural ([`plural_of`]),
/// but for the one well-known kind whose name is already plural.
pub fn resource_for_kind(kind: &str) -> String {
    match kind {
        "Endpoints" => "endpoints".to_string(),
        _ => plural_of(&kind.to_lowercase()),
    }
}

/// Whether objects of `kind` are cluster-scoped: they are never listed by
/// namespace and get no namespace of their own.
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.split_whitespace().any(|k| k == kind)
}

/// English pluralisation of a lowercase kind (`policy` → `policies`,
/// `ingress` → `ingresses`), the usual convention for CRD plurals.
pub fn plural_of(word: &str) -> String {
    if word.is_empty() {
        return String::new();
    }
    if let Some(stem) = word.strip_suffix('y') {
        let before = stem.chars().last();
        if before.is_some_and(|c| !"aeiou".contains(c)) {
            return format!("{stem}ies");
        }
    }
    if ["s", "x", "z", "ch", "sh"].iter().any(|s| word.ends_with(s)) {
        return format!("{word}es");
    }
    format!("{word}s")
}

/// API versions Kubernetes no longer serves, from its deprecated API
/// migration guide ("Removed APIs by release"), for the kinds that appear in
/// manifests: apiVersion, kind, the first minor release that no longer
/// serves it, and the apiVersion to use instead (`-` when the API was
/// dropped). `kubectl apply` of such an object fails ("no matches for kind
/// ... in version ..."), so no admission policy ever sees it.
const REMOVED: &str = "
extensions/v1beta1                    Deployment                      1.16  apps/v1
extensions/v1beta1                    DaemonSet                       1.16  apps/v1
extensions/v1beta1                    ReplicaSet                      1.16  apps/v1
extensions/v1beta1                    NetworkPolicy                   1.16  networking.k8s.io/v1
extensions/v1beta1                    PodSecurityPolicy               1.16  policy/v1beta1
apps/v1beta1                          Deployment                      1.16  apps/v1
apps/v1beta1                          StatefulSet                     1.16  apps/v1
apps/v1beta1                          ReplicaSet                      1.16  apps/v1
apps/v1beta1                          ControllerRevision              1.16  apps/v1
apps/v1beta2                          Deployment                      1.16  apps/v1
apps/v1beta2                          DaemonSet                       1.16  apps/v1
apps/v1beta2                          ReplicaSet                      1.16  apps/v1
apps/v1beta2                          StatefulSet                     1.16  apps/v1
apps/v1beta2                          ControllerRevision              1.16  apps/v1
batch/v2alpha1                        CronJob                         1.21  batch/v1
extensions/v1beta1                    Ingress                         1.22  networking.k8s.io/v1
networking.k8s.io/v1beta1             Ingress                         1.22  networking.k8s.io/v1
networking.k8s.io/v1beta1             IngressClass                    1.22  networking.k8s.io/v1
rbac.authorization.k8s.io/v1beta1     ClusterRole                     1.22  rbac.authorization.k8s.io/v1
rbac.authorization.k8s.io/v1beta1     ClusterRoleBinding              1.22  rbac.authorization.k8s.io/v1
rbac.authorization.k8s.io/v1beta1     Role                            1.22  rbac.authorization.k8s.io/v1
rbac.authorization.k8s.io/v1beta1     RoleBinding                     1.22  rbac.authorization.k8s.io/v1
admissionregistration.k8s.io/v1beta1  MutatingWebhookConfiguration    1.22  admissionregistration.k8s.io/v1
admissionregistration.k8s.io/v1beta1  ValidatingWebhookConfiguration  1.22  admissionregistration.k8s.io/v1
apiextensions.k8s.io/v1beta1          CustomResourceDefinition        1.22  apiextensions.k8s.io/v1
apiregistration.k8s.io/v1beta1        APIService                      1.22  apiregistration.k8s.io/v1
certificates.k8s.io/v1beta1           CertificateSigningRequest       1.22  certificates.k8s.io/v1
coordination.k8s.io/v1beta1           Lease                           1.22  coordination.k8s.io/v1
scheduling.k8s.io/v1beta1             PriorityClass                   1.22  scheduling.k8s.io/v1
storage.k8s.io/v1beta1                CSIDriver                       1.22  storage.k8s.io/v1
storage.k8s.io/v1beta1                CSINode                         1.22  storage.k8s.io/v1
storage.k8s.io/v1beta1                StorageClass                    1.22  storage.k8s.io/v1
storage.k8s.io/v1beta1                VolumeAttachment                1.22  storage.k8s.io/v1
batch/v1beta1                         CronJob                         1.25  batch/v1
discovery.k8s.io/v1beta1              EndpointSlice                   1.25  discovery.k8s.io/v1
events.k8s.io/v1beta1                 Event                           1.25  events.k8s.io/v1
autoscaling/v2beta1                   HorizontalPodAutoscaler         1.25  autoscaling/v2
policy/v1beta1                        PodDisruptionBudget             1.25  policy/v1
policy/v1beta1                        PodSecurityPolicy               1.25  -
node.k8s.io/v1beta1                   RuntimeClass                    1.25  node.k8s.io/v1
autoscaling/v2beta2                   HorizontalPodAutoscaler         1.26  autoscaling/v2
flowcontrol.apiserver.k8s.io/v1beta1  FlowSchema                      1.26  flowcontrol.apiserver.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta1  PriorityLevelConfiguration      1.26  flowcontrol.apiserver.k8s.io/v1
storage.k8s.io/v1beta1                CSIStorageCapacity              1.27  storage.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta2  FlowSchema                      1.29  flowcontrol.apiserver.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta2  PriorityLevelConfiguration      1.29  flowcontrol.apiserver.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta3  FlowSchema                      1.32  flowcontrol.apiserver.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1beta3  PriorityLevelConfiguration      1.32  flowcontrol.apiserver.k8s.io/v1
";

/// Why an object of this apiVersion and kind cannot be created, if it cannot.
pub fn not_served(api_version: &str, kind: &str) -> Option<String> {
    let (since, replacement) = REMOVED.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let row = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        (row.0 == api_version && row.1 == kind).then_some((row.2, row.3))
    })?;
    let advice = match replacement {
        "-" => format!("{kind} was removed without a replacement"),
        replacement => format!("use {replacement}"),
    };
    Some(format!(
        "{api_version} {kind} is not served by Kubernetes since {since}; {advice}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_resources() {
        for (kind, resource) in [
            ("Pod", "pods"),
            ("Deployment", "deployments"),
            ("ReplicaSet", "replicasets"),
            ("StatefulSet", "statefulsets"),
            ("DaemonSet", "daemonsets"),
            ("ReplicationController", "replicationcontrollers"),
            ("Job", "jobs"),
            ("CronJob", "cronjobs"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Endpoints", "endpoints"),
            // fallbacks
            ("Rollout", "rollouts"),
            ("Gateway", "gateways"),
            ("HTTPRoute", "httproutes"),
            ("Policy", "policies"),
            ("Mailbox", "mailboxes"),
            ("Gateway", "gateways"),
            ("Key", "keys"),
        ] {
            assert_eq!(resource_for_kind(kind), resource, "{kind}");
        }
    }

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("v1"), ("".into(), "v1".into()));
        assert_eq!(split_api_version("apps/v1"), ("apps".into(), "v1".into()));
        assert_eq!(
            split_api_version("argoproj.io/v1alpha1"),
            ("argoproj.io".into(), "v1alpha1".into())
        );
    }

    #[test]
    fn scope_comes_from_the_table_and_unknown_kinds_are_namespaced() {
        for kind in [
            "Namespace",
            "ClusterRole",
            "PriorityClass",
            "ClusterAdmissionPolicy",
            "PolicyServer",
        ] {
            assert!(is_cluster_scoped(kind), "{kind}");
        }
        for kind in ["Pod", "Role", "VaultStaticSecret", "AdmissionPolicy", "Rollout"] {
            assert!(!is_cluster_scoped(kind), "{kind}");
        }
    }

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

    #[test]
    fn every_removed_api_is_one_well_formed_row() {
        let rows: Vec<Vec<&str>> = REMOVED
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows.len(), 48);
        let mut keys = std::collections::BTreeSet::new();
        for row in &rows {
            assert_eq!(row.len(), 4, "{row:?}");
            assert!(
                row[0].contains('/') && row[2].starts_with("1.") && keys.insert((row[0], row[1])),
                "{row:?}"
            );
        }
    }
}
