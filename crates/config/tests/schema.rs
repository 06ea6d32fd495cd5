//! The generated JSON Schema: the checked-in `config.schema.json` is exactly what the types
//! generate, it accepts both example configurations, and it rejects a misspelt key at the
//! same path `rosey config check` reports.

use std::path::{Path, PathBuf};

use jsonschema::error::ValidationErrorKind;
use rosey_config::{
    Format, schema,
    source::{parse_text, strip_comments},
    validate,
};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> Value {
    let path = repo().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_text(&text, Format::from_path(&path)).unwrap()
}

/// Every schema violation as the path `config check` would name: the object's pointer
/// turned into `a.b[0].c`, plus the unexpected key for a closed object.
fn schema_problems(instance: &Value) -> Vec<String> {
    let validator = jsonschema::draft7::new(&schema::to_value()).expect("the schema compiles");
    validator
        .iter_errors(instance)
        .flat_map(|e| {
            let at = dotted(&e.instance_path().to_string());
            match e.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    unexpected.iter().map(|k| join(&at, k)).collect::<Vec<_>>()
                }
                _ => vec![at],
            }
        })
        .collect()
}

/// `/platforms/0/channel` → `platforms[0].channel`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            out = join(&out, part);
        }
    }
    out
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[test]
fn the_checked_in_schema_is_what_the_types_generate() {
    let path = repo().join(schema::FILE_NAME);
    let generated = schema::to_pretty_json();
    if std::env::var_os("ROSEY_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == generated,
        "{} is not what the types generate; run `rosey config schema > {0}` \
         (or this test with ROSEY_UPDATE_SCHEMA=1) and commit it",
        schema::FILE_NAME
    );
}

#[test]
fn both_example_configs_name_the_schema_and_pass_it() {
    for name in ["config.example.json", "config.example.yaml"] {
        let value = example(name);
        assert_eq!(
            value[schema::SCHEMA_KEY],
            format!("./{}", schema::FILE_NAME),
            "{name}"
        );
        assert_eq!(schema_problems(&value), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn a_misspelt_key_is_rejected_at_the_path_config_check_names() {
    let mut value = example("config.example.json");
    value["nats"]["conection_timeout"] = json!(3);
    value["platforms"][0]["chanel"] = json!("x");
    value["logging"]["levle"] = json!("info");
    let mut from_schema = schema_problems(&value);
    from_schema.sort();
    strip_comments(&mut value);
    value.as_object_mut().unwrap().remove(schema::SCHEMA_KEY);
    let mut from_check: Vec<String> = validate(&value).into_iter().map(|p| p.path).collect();
    from_check.sort();
    assert_eq!(
        from_schema,
        [
            "logging.levle",
            "nats.conection_timeout",
            "platforms[0].chanel"
        ]
    );
    assert_eq!(from_schema, from_check);
}

#[test]
fn a_wrong_type_is_rejected_by_both() {
    let mut value = example("config.example.json");
    value["nats"]["connection_timeout"] = json!("soon");
    assert_eq!(schema_problems(&value), ["nats.connection_timeout"]);
    strip_comments(&mut value);
    let problems = validate(&value);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "nats.connection_timeout");
}
