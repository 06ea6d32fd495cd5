//! The JSON Schema of a v2 file, generated from the serde types of [`crate::model`] (with
//! `schemars`), and the questions other modules ask of it: which keys an object at a path
//! may hold ([`keys`], for unknown-key detection) and in which order they are written
//! ([`order`], for rendering).
//!
//! The types are the one source of truth: a new field or section needs only its serde type
//! with `#[derive(JsonSchema)]`; the validator, the renderer, `rosey config schema` and the
//! checked-in `config.schema.json` (kept equal by a test) follow from it.
//!
//! A field whose file shape differs from its Rust type says so to `schemars` as well as to
//! serde: durations written as seconds carry `#[schemars(with = "f64")]` next to
//! `#[serde(with = "secs")]`; types with hand-written serde impls have a hand-written
//! `JsonSchema` (see `model::file_shapes`). After changing the types, regenerate the file:
//! `ROSEY_UPDATE_SCHEMA=1 cargo test -p rosey-config --test schema`.
//!
//! Paths are dotted, with `[]` for "any item of this list": `nats.tls`, `platforms[]`.
//!
//! The schema is draft-07 (what editors and `schemars` 0.8 speak). Every object with named
//! properties is closed (`additionalProperties: false`) except for the `_comment…`/`_note…`
//! keys the loader ignores; the top level also allows `$schema`, which names this file.

use std::sync::OnceLock;

use schemars::{
    r#gen::SchemaSettings,
    schema::{InstanceType, RootSchema, Schema, SchemaObject, SingleOrVec},
    visit::{Visitor, visit_schema_object},
};
use serde_json::Value;

use crate::model::Config;

/// The key a file may use to name its schema (editors read it); the loader ignores it.
pub const SCHEMA_KEY: &str = "$schema";
/// Where the schema is kept in the repository, next to the example configurations.
pub const FILE_NAME: &str = "config.schema.json";
/// The pattern of the keys the loader ignores anywhere (see [`crate::source::is_comment_key`]).
const COMMENT_PATTERN: &str = "^_(comment|note)";

/// The generated schema (built once per process).
pub fn root() -> &'static RootSchema {
    static ROOT: OnceLock<RootSchema> = OnceLock::new();
    ROOT.get_or_init(generate)
}

/// The schema as pretty JSON with a trailing newline: what `rosey config schema` prints and
/// what `config.schema.json` holds.
pub fn to_pretty_json() -> String {
    // A RootSchema is plain data with string keys; serialising it cannot fail.
    let mut text = serde_json::to_string_pretty(root()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema as a JSON value (for validators).
pub fn to_value() -> Value {
    serde_json::to_value(root()).unwrap_or(Value::Null)
}

fn generate() -> RootSchema {
    let settings = SchemaSettings::draft07().with(|s| {
        s.option_add_null_type = true;
        s.visitors.push(Box::new(CloseObjects));
    });
    let mut root = settings.into_generator().into_root_schema_for::<Config>();
    let meta = root.schema.metadata();
    meta.title = Some("Rosey configuration (version 2)".to_owned());
    // `$schema` first, so an editor's completion lists it where files write it.
    let object = root.schema.object();
    let rest = std::mem::take(&mut object.properties);
    object.properties.insert(
        SCHEMA_KEY.to_owned(),
        Schema::Object(SchemaObject {
            instance_type: Some(SingleOrVec::Single(Box::new(InstanceType::String))),
            ..SchemaObject::default()
        }),
    );
    object.properties.extend(rest);
    root
}

/// Closes every object that names its properties, leaving room for comment keys.
#[derive(Debug, Clone)]
struct CloseObjects;

impl Visitor for CloseObjects {
    fn visit_schema_object(&mut self, schema: &mut SchemaObject) {
        if let Some(object) = schema.object.as_mut()
            && !object.properties.is_empty()
            && object.additional_properties.is_none()
        {
            object.additional_properties = Some(Box::new(Schema::Bool(false)));
            object
                .pattern_properties
                .insert(COMMENT_PATTERN.to_owned(), Schema::Bool(true));
        }
        visit_schema_object(self, schema);
    }
}

/// The keys an object at `path` may hold, in declaration order (`$schema` left out); empty
/// for a path the schema does not describe or a free-form object (`llm`, `legacy`).
pub fn keys(path: &str) -> Vec<&'static str> {
    let mut keys = order(path);
    keys.retain(|k| *k != SCHEMA_KEY);
    keys
}

/// The keys of the object at `path` in the order they are written: declaration order,
/// `$schema` first at the top. Empty when the schema does not name them.
pub fn order(path: &str) -> Vec<&'static str> {
    at(path)
        .and_then(|s| s.object.as_ref())
        .map(|o| o.properties.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// True when `path` is an object whose keys the schema names (so unknown keys are errors).
pub fn is_closed(path: &str) -> bool {
    !order(path).is_empty()
}

/// The schema object describing `path` (through references, `Option`'s `anyOf` and lists).
fn at(path: &str) -> Option<&'static SchemaObject> {
    let root = root();
    let mut node = resolve(&root.schema)?;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, items) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        let child = node.object.as_ref()?.properties.get(name)?;
        node = resolve_schema(child)?;
        if items {
            node = match node.array.as_ref()?.items.as_ref()? {
                SingleOrVec::Single(item) => resolve_schema(item)?,
                SingleOrVec::Vec(_) => return None,
            };
        }
    }
    Some(node)
}

fn resolve_schema(schema: &'static Schema) -> Option<&'static SchemaObject> {
    match schema {
        Schema::Object(o) => resolve(o),
        Schema::Bool(_) => None,
    }
}

/// Follows `$ref` into the definitions and, for `Option<T>` (`anyOf: [T, null]`) and
/// single `allOf`s, into the alternative that is an object or a list.
fn resolve(schema: &'static SchemaObject) -> Option<&'static SchemaObject> {
    if let Some(reference) = &schema.reference {
        let name = reference.rsplit('/').next()?;
        return resolve_schema(root().definitions.get(name)?);
    }
    let structured = |o: &SchemaObject| o.object.is_some() || o.array.is_some();
    if structured(schema) {
        return Some(schema);
    }
    if let Some(sub) = &schema.subschemas {
        let alternatives = [&sub.any_of, &sub.all_of, &sub.one_of];
        for list in alternatives.into_iter().flatten() {
            for s in list {
                if let Some(o) = resolve_schema(s)
                    && structured(o)
                {
                    return Some(o);
                }
            }
        }
    }
    Some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_declaration_order_at_every_depth() {
        assert_eq!(keys("")[..3], ["version", "nats", "database"]);
        assert_eq!(order("")[0], SCHEMA_KEY);
        assert_eq!(keys("nats.tls"), ["ca", "cert", "key", "required"]);
        assert_eq!(keys("platforms[]")[..3], ["type", "name", "enabled"]);
        assert_eq!(keys("metrics"), ["listen", "ready_when"]);
        assert!(keys("plugins").contains(&"prefix"));
        assert!(keys("llm").is_empty() && !is_closed("legacy"));
        assert!(keys("nope.nothing").is_empty());
    }
}
