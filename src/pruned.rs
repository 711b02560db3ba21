//! A pruned parse of the admission object: only the fields the policy reads.
//!
//! Most of a workload's bytes are things the rules never look at: probes,
//! resources, annotations, and above all the plain `env` values. Building a
//! `serde_json::Value` for all of them (what any SDK policy pays) costs an
//! allocation per string, list and object. For the built-in kinds the policy
//! knows exactly which fields it reads, so it parses the object once into a
//! `Value` that keeps those fields and skips everything else without allocating.
//!
//! The pruned value has the same shape as the full one along every field kept:
//! a field of an unexpected type (`env: "x"`) is kept as it is, so validation sees
//! and reports exactly what it would see in the full object. Two kinds of list
//! entries collapse to `null`, which validation skips exactly as it skips them in
//! the full object: an `env` entry without `valueFrom.secretKeyRef` and an
//! `envFrom` entry without `secretRef` (both objects). Skipped values are still
//! parsed (escapes, number ranges, nesting depth), so a pruned parse accepts
//! exactly the objects a full parse accepts. The answer's mutated object is
//! never built from a pruned value: the edits are spliced into the object's
//! text ([`crate::splice`]), and applied to the pruned value only so that the
//! rules judge the object as it will be admitted. Kinds whose pod specs
//! JSONPath finds are parsed [`Shape::Whole`]: the same path, a complete view.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// What of a JSON value to keep.
#[derive(Debug)]
pub enum Shape {
    /// The value, entirely.
    Whole,
    /// An object of which only these fields are kept (at most [`MAX_FIELDS`]).
    Object(&'static [(&'static str, Shape)]),
    /// Like `Object`, but the whole entry becomes `null` unless following these
    /// keys from it reaches an object: the entry is irrelevant to every rule.
    ObjectIf(&'static [(&'static str, Shape)], &'static [&'static str]),
    /// A list whose entries have this shape.
    List(&'static Shape),
    /// A container's `image`: kept whole when the parse keeps images (an
    /// `exemptContainers` entry is pinned to one), skipped otherwise, so
    /// settings that pin nothing pay nothing for it.
    Image,
}

/// The most fields an `Object` shape names; slots are kept on the stack.
pub const MAX_FIELDS: usize = 6;

/// An object's metadata: what names it, and what says whether it may be
/// mutated at all (its controller, its deletion).
const NAMED_META: Shape = Shape::Object(&[
    ("name", Shape::Whole),
    ("generateName", Shape::Whole),
    ("namespace", Shape::Whole),
    ("labels", Shape::Whole),
    ("ownerReferences", Shape::List(&OWNER_REFERENCE)),
    ("deletionTimestamp", Shape::Whole),
]);

/// An owner reference matters only for whether it is the object's controller.
const OWNER_REFERENCE: Shape = Shape::Object(&[("controller", Shape::Whole)]);

const LABELS_ONLY: Shape = Shape::Object(&[("labels", Shape::Whole)]);

/// An `env` entry matters only when it reads a Secret.
const ENV_VAR: Shape = Shape::ObjectIf(
    &[
        ("name", Shape::Whole),
        ("valueFrom", Shape::Object(&[("secretKeyRef", Shape::Whole)])),
    ],
    &["valueFrom", "secretKeyRef"],
);

/// An `envFrom` entry matters only when it imports a Secret.
const ENV_FROM: Shape = Shape::ObjectIf(&[("secretRef", Shape::Whole)], &["secretRef"]);

const VOLUME_MOUNT: Shape = Shape::Object(&[
    ("name", Shape::Whole),
    ("mountPath", Shape::Whole),
    ("readOnly", Shape::Whole),
    ("subPath", Shape::Whole),
    ("subPathExpr", Shape::Whole),
]);

const CONTAINER: Shape = Shape::Object(&[
    ("name", Shape::Whole),
    ("image", Shape::Image),
    ("env", Shape::List(&ENV_VAR)),
    ("envFrom", Shape::List(&ENV_FROM)),
    ("volumeMounts", Shape::List(&VOLUME_MOUNT)),
]);

/// Volumes are kept with every source of a projected volume: its file paths are
/// checked for conflicts, whatever kind of source writes them.
const VOLUME: Shape = Shape::Object(&[
    ("name", Shape::Whole),
    ("secret", Shape::Whole),
    ("projected", Shape::Whole),
]);

/// The fields of a pod spec the rules and the mutation planner read.
pub const POD_SPEC: Shape = Shape::Object(&[
    ("volumes", Shape::List(&VOLUME)),
    ("containers", Shape::List(&CONTAINER)),
    ("initContainers", Shape::List(&CONTAINER)),
    ("ephemeralContainers", Shape::List(&CONTAINER)),
]);

/// A pod template: its labels (for `secretMounts` selectors) and its spec.
const TEMPLATE: Shape = Shape::Object(&[("metadata", LABELS_ONLY), ("spec", POD_SPEC)]);

/// A Pod: the pod spec at `/spec`.
pub const POD: Shape = Shape::Object(&[("metadata", NAMED_META), ("spec", POD_SPEC)]);

/// Deployment, StatefulSet, ...: the pod spec at `/spec/template/spec`.
pub const WORKLOAD: Shape = Shape::Object(&[
    ("metadata", NAMED_META),
    ("spec", Shape::Object(&[("template", TEMPLATE)])),
]);

/// CronJob: the pod spec at `/spec/jobTemplate/spec/template/spec`.
pub const CRON_JOB: Shape = Shape::Object(&[
    ("metadata", NAMED_META),
    (
        "spec",
        Shape::Object(&[(
            "jobTemplate",
            Shape::Object(&[("spec", Shape::Object(&[("template", TEMPLATE)]))]),
        )]),
    ),
]);

/// Does `shape` keep a whole pod spec's judged fields at `pointer`? (Each
/// row of [`crate::kinds::KINDS`] pairs a pointer with a shape; a test holds
/// every pair to this.)
pub fn keeps_pod_spec_at(shape: &Shape, pointer: &str) -> bool {
    let mut shape = shape;
    for token in pointer.split('/').skip(1) {
        let Shape::Object(fields) = shape else { return false };
        match fields.iter().find(|(key, _)| *key == token) {
            Some((_, next)) => shape = next,
            None => return false,
        }
    }
    match shape {
        Shape::Object(fields) => ["volumes", "containers", "initContainers", "ephemeralContainers"]
            .iter()
            .all(|key| fields.iter().any(|(k, _)| k == key)),
        _ => false,
    }
}

/// Parses `json` into the view `shape` names (all of it for [`Shape::Whole`]);
/// `images`: whether containers' images are kept ([`Shape::Image`]).
pub fn parse(json: &str, shape: &'static Shape, images: bool) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = Pruned(shape, images).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A `DeserializeSeed` that keeps what its shape names (and images when its
/// flag says so).
pub struct Pruned(pub &'static Shape, pub bool);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Shape::Whole => Value::deserialize(deserializer),
            Shape::Image if self.1 => Value::deserialize(deserializer),
            Shape::Image => deserializer.deserialize_any(Skip).map(|()| Value::Null),
            shape => deserializer.deserialize_any(PrunedVisitor(shape, self.1)),
        }
    }
}

struct PrunedVisitor(&'static Shape, bool);

/// Parses a value the policy does not read and discards it. Unlike
/// `IgnoredAny`, which serde_json skips by syntax alone, every string, number
/// and nesting level is parsed as a full parse would (escapes decoded, numbers
/// in range, depth within the limit), so the pruned parse accepts exactly the
/// objects a full parse accepts — it only allocates nothing for them.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// A key, borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Visitor<'de> for PrunedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    // Scalars where an object or a list was expected are kept as they are, for
    // validation to report with their type.
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        match self.0 {
            Shape::List(entry) => {
                while let Some(item) = seq.next_element_seed(Pruned(entry, self.1))? {
                    items.push(item);
                }
            }
            // A list where an object was expected: kept whole, it is malformed.
            _ => {
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let (fields, required) = match self.0 {
            Shape::Object(fields) => (*fields, None),
            Shape::ObjectIf(fields, required) => (*fields, Some(*required)),
            // An object where a list was expected: kept whole, it is malformed.
            Shape::List(_) | Shape::Whole | Shape::Image => {
                let mut whole = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    whole.insert(key, value);
                }
                return Ok(Value::Object(whole));
            }
        };
        // The last occurrence of a duplicated key wins, as it does in a full parse.
        let mut slots: [Option<Value>; MAX_FIELDS] = Default::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            // A field and its slot: `slots` has MAX_FIELDS, more than any shape names.
            // An image the parse does not keep is skipped like an unnamed field.
            let kept = fields
                .iter()
                .zip(slots.iter_mut())
                .find(|((name, _), _)| *name == key)
                .filter(|((_, shape), _)| self.1 || !matches!(shape, Shape::Image));
            match kept {
                Some(((_, shape), slot)) => *slot = Some(map.next_value_seed(Pruned(shape, self.1))?),
                None => map.next_value_seed(Skip)?,
            }
        }
        if let Some(required) = required {
            if !reaches_object(fields, &slots, required) {
                return Ok(Value::Null);
            }
        }
        let mut kept = Map::new();
        for ((name, _), slot) in fields.iter().zip(slots) {
            if let Some(value) = slot {
                kept.insert((*name).to_string(), value);
            }
        }
        Ok(Value::Object(kept))
    }
}

/// Does following the keys `required` from the kept fields reach an object?
fn reaches_object(fields: &[(&str, Shape)], slots: &[Option<Value>], required: &[&str]) -> bool {
    let Some((first, rest)) = required.split_first() else {
        return false;
    };
    fields
        .iter()
        .zip(slots)
        .find(|((name, _), _)| name == first)
        .and_then(|(_, slot)| slot.as_ref())
        .and_then(|v| rest.iter().try_fold(v, |v, key| v.get(key)))
        .is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields_of(shape: &Shape, out: &mut Vec<usize>) {
        match shape {
            Shape::Whole | Shape::Image => {}
            Shape::Object(fields) | Shape::ObjectIf(fields, _) => {
                out.push(fields.len());
                for (_, s) in *fields {
                    fields_of(s, out);
                }
            }
            Shape::List(entry) => fields_of(entry, out),
        }
    }

    #[test]
    fn every_object_shape_fits_its_slots() {
        for kind in crate::kinds::KINDS {
            let mut counts = Vec::new();
            fields_of(kind.shape, &mut counts);
            assert!(counts.iter().all(|&n| n <= MAX_FIELDS), "{}: {counts:?}", kind.kind);
        }
    }

    #[test]
    fn keeps_only_the_fields_the_policy_reads() {
        let object = json!({
            "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "a", "annotations": {"x": "y"}},
            "spec": {"replicas": 3, "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                "spec": {
                    "serviceAccountName": "web",
                    "volumes": [{"name": "s", "projected": {"sources": [{"secret": {"name": "x"}}]}}, {"name": "c", "emptyDir": {}}],
                    "containers": [{
                        "name": "app", "image": "nginx",
                        "env": [
                            {"name": "PLAIN", "value": "1"},
                            {"name": "FIELD", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
                            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
                        ],
                        "envFrom": [{"configMapRef": {"name": "c"}}, {"secretRef": {"name": "s"}}],
                        "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets", "readOnly": true, "mountPropagation": "None"}]
                    }]
                }
            }}
        });
        // Images are kept only when asked for (an exemption pinned to one).
        let with_images = parse(&object.to_string(), &WORKLOAD, true).unwrap();
        assert_eq!(
            with_images.pointer("/spec/template/spec/containers/0/image"),
            Some(&json!("nginx"))
        );
        let pruned = parse(&object.to_string(), &WORKLOAD, false).unwrap();
        assert_eq!(
            pruned,
            json!({
                "metadata": {"name": "web", "namespace": "a"},
                "spec": {"template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "volumes": [{"name": "s", "projected": {"sources": [{"secret": {"name": "x"}}]}}, {"name": "c"}],
                        "containers": [{
                            "name": "app",
                            "env": [null, null, {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
                            "envFrom": [null, {"secretRef": {"name": "s"}}],
                            "volumeMounts": [{"name": "s", "mountPath": "/etc/secrets", "readOnly": true}]
                        }]
                    }
                }}
            })
        );
    }

    #[test]
    fn unexpected_types_are_kept_as_they_are() {
        let object = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "a", "env": "x", "volumeMounts": {"k": [1, 2]}}, 7, ["l"]],
            "volumes": 5
        }}}});
        let pruned = parse(&object.to_string(), &WORKLOAD, false).unwrap();
        assert_eq!(pruned, object);
        for odd in [json!("pod"), json!(null), json!([1]), json!({"spec": 1.5})] {
            assert_eq!(parse(&odd.to_string(), &POD, false).unwrap(), odd);
        }
    }

    #[test]
    fn the_last_of_duplicate_keys_wins_as_in_a_full_parse() {
        let json = r#"{"spec": {"containers": [{"name": "a", "name": "b", "image": "x", "image": "y"}]}}"#;
        let full: Value = serde_json::from_str(json).unwrap();
        let pruned = parse(json, &POD, false).unwrap();
        assert_eq!(
            pruned["spec"]["containers"][0]["name"],
            full["spec"]["containers"][0]["name"]
        );
        assert_eq!(pruned["spec"]["containers"][0]["name"], "b");
    }

    #[test]
    fn escaped_keys_are_matched() {
        let json = r#"{"sp\u0065c": {"containers": [{"n\u0061me": "a"}]}}"#;
        let pruned = parse(json, &POD, false).unwrap();
        assert_eq!(pruned, json!({"spec": {"containers": [{"name": "a"}]}}));
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(parse(r#"{"spec": "#, &POD, false).is_err());
        assert!(parse(r#"{"spec": {}} x"#, &POD, false).is_err());
    }
}
