//! `check --policy`: the Kubewarden `ClusterAdmissionPolicy` and
//! `AdmissionPolicy` manifests (policies.kubewarden.io/v1) a cluster runs,
//! read as kubectl and the API server read them, and the objects each one
//! is sent, as the API server picks them for the policy's webhook.
//!
//! A manifest is read by the runner's one reader (YAML 1.1 scalars, as
//! kubectl's sigs.k8s.io/yaml reads them: `mutating: yes` is `true`), and
//! its spec strictly, as kubectl's default server-side field validation
//! does: an unknown field, or a value of the wrong type (`mode: on`, which
//! YAML 1.1 makes a boolean), is an error.
//!
//! The Kubewarden controller turns a policy into a webhook: the policy's
//! `rules`, `namespaceSelector` and `objectSelector`; an `AdmissionPolicy`'s
//! namespace selector is its own namespace's name. It also excludes its own
//! namespace from every ClusterAdmissionPolicy; that namespace is not known
//! here, so objects in it are judged.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::admission_match::{rules_select, LabelSelector, Labels, RequestFacts, RuleWithOperations};
use crate::kubernetes::{is_cluster_scoped, GroupVersionResource};
use crate::manifests::read_manifests;
use crate::metadata::ContextAwareResource;
use crate::request::ManifestObject;
use crate::results::JudgedBy;

pub const API_VERSION: &str = "policies.kubewarden.io/v1";

/// The label the API server sets on every namespace: its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Rejections are enforced (the CRD's default).
    #[default]
    Protect,
    /// policy-server evaluates and logs, and accepts every request.
    Monitor,
}

/// The spec of both kinds: the fields of the v1 CRDs, each typed as there
/// (some read only so that a wrong type is refused, hence `dead_code`).
/// `namespaceSelector` and `contextAwareResources` are a
/// ClusterAdmissionPolicy's alone (checked after reading).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Spec {
    policy_server: Option<String>,
    mode: Option<Mode>,
    module: String,
    settings: Option<Value>,
    rules: Vec<RuleWithOperations>,
    failure_policy: Option<String>,
    mutating: bool,
    background_audit: Option<bool>,
    match_policy: Option<String>,
    #[serde(default)]
    match_conditions: Vec<Value>,
    object_selector: Option<LabelSelector>,
    side_effects: Option<String>,
    timeout_seconds: Option<i64>,
    message: Option<String>,
    namespace_selector: Option<LabelSelector>,
    context_aware_resources: Option<Vec<ContextAwareResource>>,
}

/// One policy of the cluster, as `check` applies it.
#[derive(Debug, Clone)]
pub struct AdmissionPolicy {
    /// `ClusterAdmissionPolicy secret-mounts`, `AdmissionPolicy team-a/p`.
    pub title: String,
    /// An `AdmissionPolicy`'s namespace; `None` for a cluster-wide one.
    pub namespace: Option<String>,
    pub module: String,
    pub mode: Mode,
    pub settings: Value,
    pub rules: Vec<RuleWithOperations>,
    pub namespace_selector: Option<LabelSelector>,
    pub object_selector: Option<LabelSelector>,
    /// What policy-server lets the policy list (a ClusterAdmissionPolicy's).
    pub context_aware_resources: Vec<ContextAwareResource>,
    /// How many CEL `matchConditions` it has (not evaluated here).
    pub match_conditions: usize,
}

/// Reads every policy of the files; an object of another kind, or one the
/// API server would refuse, is an error naming its place. An
/// `AdmissionPolicy` without a namespace is in `default_namespace`, as
/// kubectl would create it.
pub fn read_policies(paths: &[String], default_namespace: &str) -> Result<Vec<AdmissionPolicy>> {
    let mut policies = Vec::new();
    for entry in read_manifests(paths, false)? {
        let place = entry.location.describe();
        let object = entry.content.map_err(|m| anyhow!("policy manifest {place}: {m}"))?;
        let policy = from_object(&object, default_namespace).with_context(|| format!("policy manifest {place}"))?;
        policies.push(policy);
    }
    if policies.is_empty() {
        bail!(
            "--policy {}: no ClusterAdmissionPolicy or AdmissionPolicy in it",
            paths.join(", ")
        );
    }
    Ok(policies)
}

fn from_object(object: &ManifestObject, default_namespace: &str) -> Result<AdmissionPolicy> {
    let kind = object.kind.kind.as_str();
    if !matches!(kind, "ClusterAdmissionPolicy" | "AdmissionPolicy") || object.api_version != API_VERSION {
        bail!(
            "{} {} is not a ClusterAdmissionPolicy or AdmissionPolicy of {API_VERSION}",
            object.api_version,
            kind
        );
    }
    let name = object
        .name
        .clone()
        .ok_or_else(|| anyhow!("{kind}: metadata.name is missing"))?;
    let namespace = (kind == "AdmissionPolicy").then(|| {
        object
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_string())
    });
    let title = match &namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    let spec_value = object
        .object
        .get("spec")
        .cloned()
        .ok_or_else(|| anyhow!("{title}: spec is missing"))?;
    let spec: Spec = serde_json::from_value(spec_value).map_err(|e| anyhow!("{title}: spec: {e}"))?;
    for rule in &spec.rules {
        rule.refuse_unknown().map_err(|e| anyhow!("{title}: spec: {e}"))?;
    }
    validate(&spec, namespace.is_some()).map_err(|e| anyhow!("{title}: spec.{e}"))?;
    let settings = match spec.settings {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(settings @ Value::Object(_)) => settings,
        Some(other) => bail!(
            "{title}: spec.settings must be an object (a map), not {}",
            crate::input::type_name(&other)
        ),
    };
    Ok(AdmissionPolicy {
        title,
        namespace,
        module: spec.module,
        mode: spec.mode.unwrap_or_default(),
        settings,
        rules: spec.rules,
        namespace_selector: spec.namespace_selector,
        object_selector: spec.object_selector,
        context_aware_resources: spec.context_aware_resources.unwrap_or_default(),
        match_conditions: spec.match_conditions.len(),
    })
}

/// What the CRDs and the API server refuse beyond types: a field of the
/// other kind, bad rules or selectors. The error starts with the field.
fn validate(spec: &Spec, namespaced: bool) -> Result<()> {
    if namespaced && spec.namespace_selector.is_some() {
        bail!("namespaceSelector: an AdmissionPolicy has none (it judges its own namespace); use a ClusterAdmissionPolicy");
    }
    if namespaced && spec.context_aware_resources.is_some() {
        bail!("contextAwareResources: an AdmissionPolicy has none; use a ClusterAdmissionPolicy");
    }
    for (index, rule) in spec.rules.iter().enumerate() {
        rule.validate().map_err(|e| anyhow!("rules[{index}]: {e}"))?;
    }
    for (field, selector) in [
        ("namespaceSelector", &spec.namespace_selector),
        ("objectSelector", &spec.object_selector),
    ] {
        if let Some(selector) = selector {
            selector.validate().map_err(|e| anyhow!("{field}: {e}"))?;
        }
    }
    Ok(())
}

impl AdmissionPolicy {
    /// How reports name the policy that judged an object.
    pub fn judged_by(&self) -> JudgedBy {
        JudgedBy {
            policy: self.title.clone(),
            monitor: self.mode == Mode::Monitor,
        }
    }

    /// Whether the API server sends this policy the CREATE of `object`,
    /// whose request is in `namespace` (`None`: cluster-scoped); if not,
    /// why.
    pub fn selects(
        &self,
        object: &ManifestObject,
        namespace: Option<&str>,
        namespaces: &Namespaces,
    ) -> Result<(), String> {
        let resource = &object.resource;
        if !rules_select(&self.rules, &RequestFacts::create(resource, namespace)) {
            return Err(format!(
                "no rule of {} selects {} on CREATE",
                self.title,
                describe_resource(resource)
            ));
        }
        if let Some(labels) = self.namespace_labels(object, namespace, namespaces) {
            if let Some(own) = &self.namespace {
                if labels.get(NAMESPACE_NAME_LABEL) != Some(own) {
                    return Err(format!("{} judges objects of namespace {own} only", self.title));
                }
            } else if self.namespace_selector.as_ref().is_some_and(|s| !s.matches(&labels)) {
                let which = namespace.unwrap_or("the Namespace itself");
                return Err(format!(
                    "the namespaceSelector of {} excludes namespace {which}",
                    self.title
                ));
            }
        }
        if let Some(selector) = &self.object_selector {
            if !selector.matches(&object_labels(object)) {
                return Err(format!(
                    "the objectSelector of {} does not select the object's labels",
                    self.title
                ));
            }
        }
        Ok(())
    }

    /// The labels the namespace selector (an AdmissionPolicy's: its
    /// namespace's name) is matched against, as the API server takes them:
    /// a Namespace's own (with the name label the API server defaults before
    /// admission); none for another cluster-scoped object, which a namespace
    /// selector never excludes; else the labels of the object's namespace.
    fn namespace_labels(
        &self,
        object: &ManifestObject,
        namespace: Option<&str>,
        namespaces: &Namespaces,
    ) -> Option<Labels> {
        if object.resource.is_namespaces() {
            return Some(object_labels(object));
        }
        let name = namespace?;
        let reads_other_labels = self
            .namespace_selector
            .as_ref()
            .is_some_and(|s| s.keys().any(|key| key != NAMESPACE_NAME_LABEL));
        Some(namespaces.labels_of(name, reads_other_labels))
    }

    /// Notes on what `check` cannot do as the cluster does for this policy.
    pub fn notes(&self, module: &Path) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        if self.match_conditions > 0 {
            notes.push(format!(
                "{}: its {} matchConditions (CEL) are not evaluated: every object its rules and selectors select is judged",
                self.title, self.match_conditions
            ));
        }
        if let Some(note) = self.module_note(module)? {
            notes.push(note);
        }
        Ok(notes)
    }

    /// The manifest's `module` against the module given: compared when both
    /// are files here; otherwise a note says it is not.
    fn module_note(&self, module: &Path) -> Result<Option<String>> {
        let given = module.display();
        let Some(path) = self.module.strip_prefix("file://") else {
            return Ok(Some(format!(
                "{}: spec.module {} is not fetched; {given} is judged in its place",
                self.title, self.module
            )));
        };
        let Ok(theirs) = std::fs::read(path) else {
            return Ok(Some(format!(
                "{}: spec.module {} is not a file here; {given} is judged in its place",
                self.title, self.module
            )));
        };
        let ours = std::fs::read(module).with_context(|| format!("cannot read policy module {given}"))?;
        if theirs != ours {
            bail!(
                "{}: spec.module {} is not the module given ({given}): their contents differ",
                self.title,
                self.module
            );
        }
        Ok(None)
    }
}

/// `deployments.apps/v1`, `pods/v1`.
fn describe_resource(resource: &GroupVersionResource) -> String {
    if resource.group.is_empty() {
        format!("{}/{}", resource.resource, resource.version)
    } else {
        format!("{}.{}/{}", resource.resource, resource.group, resource.version)
    }
}

/// The object's `metadata.labels` (string values; the API server refuses
/// others). A Namespace also has the name label the API server sets on it
/// before admission.
pub fn object_labels(object: &ManifestObject) -> Labels {
    let mut labels: Labels = object
        .object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    if object.resource.is_namespaces() {
        if let Some(name) = &object.name {
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
        }
    }
    labels
}

/// The labels of the namespaces whose Namespace objects are known (in the
/// checked manifests or the cluster state).
///
/// A namespace with no Namespace object is judged as if it had only the
/// label the API server sets on every namespace, its name: that label is
/// certain, so selectors on the name (the usual system-namespace exclusion,
/// and every AdmissionPolicy's) decide exactly; a selector on other labels
/// decides as for a namespace without them, which a note on stderr says
/// once per namespace.
#[derive(Debug, Default)]
pub struct Namespaces {
    known: HashMap<String, Labels>,
    noted: RefCell<BTreeSet<String>>,
}

impl Namespaces {
    pub fn new<'a>(objects: impl IntoIterator<Item = &'a ManifestObject>) -> Namespaces {
        let known = objects
            .into_iter()
            .filter(|o| o.resource.is_namespaces())
            .filter_map(|o| Some((o.name.clone()?, object_labels(o))))
            .collect();
        Namespaces {
            known,
            noted: RefCell::default(),
        }
    }

    /// The namespace's labels; when unknown, its name label alone, with a
    /// note when the selector reads other labels.
    fn labels_of(&self, name: &str, reads_other_labels: bool) -> Labels {
        if let Some(labels) = self.known.get(name) {
            return labels.clone();
        }
        if reads_other_labels && self.noted.borrow_mut().insert(name.to_string()) {
            eprintln!(
                "policy-runner: note: namespace {name} has no Namespace object in the manifests or --cluster-state: \
                 its labels are unknown, and a namespaceSelector sees only {NAMESPACE_NAME_LABEL}={name}"
            );
        }
        Labels::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())])
    }
}

/// Warnings for the kinds the settings' `podSpecPaths` name that no rule of
/// `rules` sends to the policy on CREATE: the cluster never judges them, and
/// `check` skips them; `whose` names the rules.
pub fn uncovered_pod_spec_kinds(settings: &Value, whose: &str, rules: &[RuleWithOperations]) -> Vec<String> {
    let Some(paths) = settings.get("podSpecPaths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .keys()
        .filter_map(|key| {
            let (api_version, kind) = key.rsplit_once('/')?;
            let resource = GroupVersionResource::of_kind(api_version, kind);
            let namespace = (!is_cluster_scoped(kind)).then_some("default");
            (!rules_select(rules, &RequestFacts::create(&resource, namespace))).then(|| {
                format!(
                    "podSpecPaths names {key}, but no rule of {whose} selects {} on CREATE: \
                     the cluster never sends one to the policy, and check skips them; add it to the rules",
                    describe_resource(&resource)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::object;
    use serde_json::json;

    fn policy(yaml: &str) -> Result<AdmissionPolicy> {
        let value = crate::input::parse_single_document(yaml)?.unwrap_or_default();
        from_object(&ManifestObject::new(value)?, "default")
    }

    const CLUSTER: &str = "apiVersion: policies.kubewarden.io/v1
kind: ClusterAdmissionPolicy
metadata: {name: secret-mounts}
spec:
  module: registry://ghcr.io/x/secret-mounts:v1
  mutating: yes
  rules:
    - {apiGroups: [apps], apiVersions: [v1], resources: [deployments], operations: [CREATE, UPDATE]}
    - {apiGroups: [''], apiVersions: [v1], resources: [pods, namespaces], operations: ['*']}
";

    fn labelled(api_version: &str, kind: &str, ns: Option<&str>, name: &str, labels: Value) -> ManifestObject {
        let mut value = object(api_version, kind, ns, name).object;
        value["metadata"]["labels"] = labels;
        ManifestObject::new(value).unwrap()
    }

    #[test]
    fn a_cluster_policy_is_read_with_its_defaults() {
        let p = policy(CLUSTER).unwrap();
        assert_eq!(p.title, "ClusterAdmissionPolicy secret-mounts");
        assert_eq!(p.mode, Mode::Protect);
        assert_eq!(p.settings, json!({}));
        assert_eq!(p.namespace, None);
        let monitor = policy(&format!("{CLUSTER}  mode: monitor\n  settings: {{a: on}}\n")).unwrap();
        assert_eq!(monitor.mode, Mode::Monitor);
        // YAML 1.1, as kubectl reads the manifest
        assert_eq!(monitor.settings, json!({"a": true}));
        assert!(monitor.judged_by().monitor);
    }

    #[test]
    fn manifests_the_api_server_refuses_are_refused_naming_the_field() {
        let err = |yaml: String| format!("{:#}", policy(&yaml).unwrap_err());
        assert!(err(format!("{CLUSTER}  modee: monitor\n")).contains("unknown field `modee`"));
        // `on` is a boolean in YAML 1.1, not a mode
        assert!(err(format!("{CLUSTER}  mode: on\n")).contains("invalid type: boolean `true`"));
        assert!(err(format!("{CLUSTER}  mode: Monitor\n")).contains("unknown variant `Monitor`"));
        assert!(err(CLUSTER.replace("  mutating: yes\n", "")).contains("missing field `mutating`"));
        assert!(err(format!("{CLUSTER}  settings: [1]\n")).contains("spec.settings must be an object"));
        assert!(err(format!(
            "{CLUSTER}  objectSelector: {{matchExpressions: [{{key: a, operator: In}}]}}\n"
        ))
        .contains("spec.objectSelector: matchExpressions key \"a\""));
        assert!(err(CLUSTER.replace("operations: [CREATE, UPDATE]", "operations: [create]")).contains("spec.rules[0]"));
        // a rule is read strictly, as the API server's field validation reads it
        assert!(err(CLUSTER.replace("operations: [CREATE, UPDATE]", "operations: [CREATE], scopes: '*'"))
            .ends_with("spec: unknown field `scopes`, expected one of `apiGroups`, `apiVersions`, `resources`, `operations`, `scope`"));
        assert!(
            err(CLUSTER.replace("kind: ClusterAdmissionPolicy", "kind: PolicyServer"))
                .contains("is not a ClusterAdmissionPolicy")
        );
        assert!(err(CLUSTER.replace("/v1\nkind", "/v1alpha2\nkind")).contains("policies.kubewarden.io/v1alpha2"));
        let namespaced = CLUSTER.replace("ClusterAdmissionPolicy", "AdmissionPolicy");
        assert!(err(format!("{namespaced}  namespaceSelector: {{}}\n"))
            .contains("spec.namespaceSelector: an AdmissionPolicy has none"));
    }

    #[test]
    fn rules_decide_which_objects_are_judged() {
        let p = policy(CLUSTER).unwrap();
        let none = Namespaces::default();
        let deployment = object("apps/v1", "Deployment", Some("a"), "d");
        assert_eq!(p.selects(&deployment, Some("a"), &none), Ok(()));
        assert_eq!(
            p.selects(&object("v1", "Pod", None, "p"), Some("default"), &none),
            Ok(())
        );
        let err = p
            .selects(&object("apps/v1", "StatefulSet", None, "s"), Some("default"), &none)
            .unwrap_err();
        assert_eq!(
            err,
            "no rule of ClusterAdmissionPolicy secret-mounts selects statefulsets.apps/v1 on CREATE"
        );
        let err = p.selects(&object("v1", "ServiceAccount", None, "s"), Some("default"), &none);
        assert_eq!(
            err.unwrap_err(),
            "no rule of ClusterAdmissionPolicy secret-mounts selects serviceaccounts/v1 on CREATE"
        );
    }

    #[test]
    fn an_admission_policy_judges_its_own_namespace_only() {
        let p = policy(
            &CLUSTER
                .replace("ClusterAdmissionPolicy", "AdmissionPolicy")
                .replace("{name: secret-mounts}", "{name: p, namespace: team-a}"),
        )
        .unwrap();
        assert_eq!(p.title, "AdmissionPolicy team-a/p");
        let none = Namespaces::default();
        let in_a = object("apps/v1", "Deployment", Some("team-a"), "d");
        let in_b = object("apps/v1", "Deployment", Some("team-b"), "d");
        assert_eq!(p.selects(&in_a, Some("team-a"), &none), Ok(()));
        assert_eq!(
            p.selects(&in_b, Some("team-b"), &none).unwrap_err(),
            "AdmissionPolicy team-a/p judges objects of namespace team-a only"
        );
        // without metadata.namespace it is in the default namespace, as kubectl creates it
        let defaulted = policy(&CLUSTER.replace("ClusterAdmissionPolicy", "AdmissionPolicy")).unwrap();
        assert_eq!(defaulted.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn namespace_selectors_read_the_namespaces_labels_or_its_name_alone() {
        let p = policy(&format!(
            "{CLUSTER}  namespaceSelector:\n    matchExpressions:\n      - {{key: policy, operator: NotIn, values: [skip]}}\n      - {{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}}\n"
        ))
        .unwrap();
        let skipped_ns = labelled("v1", "Namespace", None, "legacy", json!({"policy": "skip"}));
        let plain_ns = labelled("v1", "Namespace", None, "team-a", json!({"team": "a"}));
        let namespaces = Namespaces::new([&skipped_ns, &plain_ns]);
        let pod = |ns: &str| object("v1", "Pod", Some(ns), "p");
        assert_eq!(
            p.selects(&pod("legacy"), Some("legacy"), &namespaces).unwrap_err(),
            "the namespaceSelector of ClusterAdmissionPolicy secret-mounts excludes namespace legacy"
        );
        assert_eq!(p.selects(&pod("team-a"), Some("team-a"), &namespaces), Ok(()));
        // unknown: only its name label
        assert_eq!(p.selects(&pod("elsewhere"), Some("elsewhere"), &namespaces), Ok(()));
        assert!(p
            .selects(&pod("kube-system"), Some("kube-system"), &namespaces)
            .is_err());
        // a Namespace is matched on its own labels, with the name label set
        assert!(p.selects(&skipped_ns, None, &namespaces).is_err());
        let system = object("v1", "Namespace", None, "kube-system");
        assert!(p.selects(&system, None, &namespaces).is_err());
        assert_eq!(p.selects(&plain_ns, None, &namespaces), Ok(()));
    }

    #[test]
    fn a_namespace_selector_never_excludes_other_cluster_scoped_objects() {
        let cluster_rules = CLUSTER.replace("resources: [pods, namespaces]", "resources: [nodes]");
        let p = policy(&format!(
            "{cluster_rules}  namespaceSelector: {{matchLabels: {{never: here}}}}\n"
        ))
        .unwrap();
        let node = object("v1", "Node", None, "n");
        assert_eq!(p.selects(&node, None, &Namespaces::default()), Ok(()));
        assert!(p
            .selects(
                &object("apps/v1", "Deployment", Some("a"), "d"),
                Some("a"),
                &Namespaces::default()
            )
            .is_err());
    }

    #[test]
    fn object_selectors_read_the_objects_labels() {
        let p = policy(&format!(
            "{CLUSTER}  objectSelector:\n    matchExpressions: [{{key: exempt, operator: DoesNotExist}}]\n"
        ))
        .unwrap();
        let none = Namespaces::default();
        let exempt = labelled("apps/v1", "Deployment", Some("a"), "d", json!({"exempt": "yes"}));
        assert_eq!(
            p.selects(&exempt, Some("a"), &none).unwrap_err(),
            "the objectSelector of ClusterAdmissionPolicy secret-mounts does not select the object's labels"
        );
        let plain = labelled("apps/v1", "Deployment", Some("a"), "d", json!({"app": "x"}));
        assert_eq!(p.selects(&plain, Some("a"), &none), Ok(()));
    }

    #[test]
    fn custom_kinds_outside_the_rules_are_named() {
        let p = policy(CLUSTER).unwrap();
        let settings = json!({"podSpecPaths": {
            "argoproj.io/v1alpha1/Rollout": ["$.spec.template.spec"],
            "v1/Pod": ["$.spec"],
        }});
        let warnings = uncovered_pod_spec_kinds(&settings, &p.title, &p.rules);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("podSpecPaths names argoproj.io/v1alpha1/Rollout, but no rule of ClusterAdmissionPolicy secret-mounts selects rollouts.argoproj.io/v1alpha1 on CREATE"), "{}", warnings[0]);
        assert!(uncovered_pod_spec_kinds(&json!({}), "x", &[]).is_empty());
    }

    #[test]
    fn a_local_module_is_compared_and_others_noted() {
        let dir = std::env::temp_dir().join(format!("policy-runner-module-note-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, same, other) = (dir.join("a.wasm"), dir.join("b.wasm"), dir.join("c.wasm"));
        std::fs::write(&ours, b"module").unwrap();
        std::fs::write(&same, b"module").unwrap();
        std::fs::write(&other, b"different").unwrap();
        let with_module =
            |module: String| policy(&CLUSTER.replace("registry://ghcr.io/x/secret-mounts:v1", &module)).unwrap();
        assert!(with_module(format!("file://{}", same.display()))
            .notes(&ours)
            .unwrap()
            .is_empty());
        let err = with_module(format!("file://{}", other.display()))
            .notes(&ours)
            .unwrap_err()
            .to_string();
        assert!(err.contains("their contents differ"), "{err}");
        let notes = with_module(format!("file://{}", dir.join("gone.wasm").display()))
            .notes(&ours)
            .unwrap();
        assert!(notes[0].contains("is not a file here"), "{notes:?}");
        let notes = policy(CLUSTER).unwrap().notes(&ours).unwrap();
        assert!(
            notes[0].contains("registry://ghcr.io/x/secret-mounts:v1 is not fetched"),
            "{notes:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
