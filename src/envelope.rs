//! The host's `validate` payload, `{"request": {...}, "settings": ...}`, parsed
//! in one pass.
//!
//! The object's shape (what of it the policy reads) depends on its kind alone:
//! the settings can only add `podSpecPaths`, which need the whole object and are
//! checked once the payload is parsed. Hosts write the request's `kind` before
//! its `object` (policy-evaluator, under kwctl and policy-server, serialises the
//! payload as a JSON map with sorted keys), so the parser knows the shape when it
//! reaches the object and parses it pruned right there ([`crate::pruned`]),
//! instead of first skipping over it as raw JSON and parsing it again. When the
//! kind comes after the object, or has no built-in shape, the object is kept raw.
//!
//! Errors are plain serde_json errors; the caller parses the payload again the
//! slow way to name the offending field.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::evaluate::{AdmissionRequest, GroupVersionKind};
use crate::pruned::{Key, Pruned, Shape};

/// The payload: raw settings, and the request with its object.
pub struct Envelope<'a> {
    pub settings: Option<&'a RawValue>,
    pub request: AdmissionRequest<Object<'a>>,
}

/// The request's object as the one-pass parse left it.
#[derive(Default)]
pub enum Object<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// Parsed pruned with the shape chosen for the request's kind.
    Pruned(Value),
    /// Kept as JSON text (the kind came after it, or has no pruned shape).
    Raw(&'a RawValue),
}

/// Chooses the pruned shape of an object from its kind.
pub type ShapeChooser<'c> = &'c dyn Fn(&GroupVersionKind) -> Option<&'static Shape>;

/// Parses the payload in one pass; `choose` picks the object's shape.
pub fn parse<'a>(payload: &'a [u8], choose: ShapeChooser<'_>) -> Result<Envelope<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let envelope = de.deserialize_map(PayloadVisitor { choose })?;
    de.end()?;
    Ok(envelope)
}

struct PayloadVisitor<'c> {
    choose: ShapeChooser<'c>,
}

impl<'a> Visitor<'a> for PayloadVisitor<'_> {
    type Value = Envelope<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a validation request: {settings, request}")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Envelope<'a>, A::Error> {
        let mut settings: Option<Option<&'a RawValue>> = None;
        let mut request = None;
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "settings" => next_once(&mut map, &mut settings, "settings")?,
                "request" => {
                    if request.is_some() {
                        return Err(de::Error::duplicate_field("request"));
                    }
                    request = Some(map.next_value_seed(RequestSeed { choose: self.choose })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Envelope {
            settings: settings.flatten(),
            request: request.ok_or_else(|| de::Error::missing_field("request"))?,
        })
    }
}

/// The value of a field that may appear once, as serde's derive reads it.
fn next_once<'a, T: serde::Deserialize<'a>, A: MapAccess<'a>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct RequestSeed<'c> {
    choose: ShapeChooser<'c>,
}

impl<'a> DeserializeSeed<'a> for RequestSeed<'_> {
    type Value = AdmissionRequest<Object<'a>>;

    fn deserialize<D: de::Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for RequestSeed<'_> {
    type Value = AdmissionRequest<Object<'a>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionRequest")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind: Option<GroupVersionKind> = None;
        let mut sub_resource: Option<Option<String>> = None;
        let mut operation: Option<String> = None;
        let mut namespace: Option<Option<String>> = None;
        let mut object: Option<Object<'a>> = None;
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "kind" => next_once(&mut map, &mut kind, "kind")?,
                "subResource" => next_once(&mut map, &mut sub_resource, "subResource")?,
                "operation" => next_once(&mut map, &mut operation, "operation")?,
                "namespace" => next_once(&mut map, &mut namespace, "namespace")?,
                "object" => {
                    if object.is_some() {
                        return Err(de::Error::duplicate_field("object"));
                    }
                    let shape = kind.as_ref().and_then(|k| (self.choose)(k));
                    object = Some(match shape {
                        Some(shape) => match map.next_value_seed(Pruned(shape))? {
                            Value::Null => Object::Absent,
                            value => Object::Pruned(value),
                        },
                        None => match map.next_value::<Option<&'a RawValue>>()? {
                            None => Object::Absent,
                            Some(raw) => Object::Raw(raw),
                        },
                    });
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(AdmissionRequest {
            kind: kind.unwrap_or_default(),
            sub_resource: sub_resource.flatten(),
            operation: operation.unwrap_or_default(),
            namespace: namespace.flatten(),
            object: object.unwrap_or_default(),
        })
    }
}
