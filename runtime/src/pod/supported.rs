//! What podrun implements of a Pod, as an allow-list of field paths.
//!
//! The approach: the typed Pod is serialized back to JSON (so only fields
//! Kubernetes defines are left, under their API names) and walked; every
//! field is looked up in [`SUPPORTED`] by its path pattern (list indexes
//! written `[]`, a container of either list written `container`):
//! - a listed pattern is supported, with everything under it (`command`,
//!   `metadata.labels`, `ports`);
//! - a pattern that is the start of a listed one is walked into
//!   (`spec`, `container.env[].valueFrom`);
//! - anything else is reported as `<path>: not supported` and dropped.
//!
//! So a field is refused unless someone listed it: a field that a newer
//! Kubernetes adds (and a newer k8s-openapi with it) is refused by default,
//! never silently ignored. The test `exactly_the_issues_fields_pass` takes
//! every field name of the k8s-openapi types podrun reads and checks that
//! exactly the listed ones pass (which also catches a misspelt entry).
//! Fields the types do not know at all never get here: `parse` refuses
//! them as unknown.
//!
//! A field set to nothing (`resources: {}`, `tolerations: []`, as kubectl
//! writes them) asks for nothing and passes, except a member of a union,
//! where the key alone is the choice (`secret: {}` as a volume's source).
//!
//! Some supported fields are supported for some values only
//! ([`RESTRICTED`]), e.g. `fieldRef` to `metadata.name` but not to
//! `spec.nodeName`.
//!
//! In `warn`/`ignore` mode the Pod is run without what is dropped here, so
//! the planner never sees a field podrun does not implement.

use serde_json::{Map, Value};

use super::parse::{index, join};
use super::validate;

/// Every supported field, by path pattern.
pub const SUPPORTED: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata.name",
    "metadata.namespace",
    "metadata.labels",
    "metadata.annotations",
    "spec.volumes[].name",
    "spec.volumes[].hostPath.path",
    "spec.volumes[].hostPath.type",
    "spec.volumes[].emptyDir.medium",
    "spec.volumes[].emptyDir.sizeLimit",
    "spec.restartPolicy",
    "spec.terminationGracePeriodSeconds",
    "spec.shareProcessNamespace",
    "spec.hostNetwork",
    "spec.hostIPC",
    "spec.hostPID",
    "spec.hostname",
    // Both spec.containers[] and spec.initContainers[].
    "container.name",
    "container.image",
    "container.imagePullPolicy",
    "container.command",
    "container.args",
    "container.env[].name",
    "container.env[].value",
    "container.env[].valueFrom.fieldRef.apiVersion",
    "container.env[].valueFrom.fieldRef.fieldPath",
    "container.workingDir",
    "container.volumeMounts[].name",
    "container.volumeMounts[].mountPath",
    "container.volumeMounts[].readOnly",
    "container.volumeMounts[].subPath",
    "container.securityContext.runAsUser",
    "container.securityContext.runAsGroup",
    // Informational in Kubernetes too: accepted, validated, not acted on.
    "container.ports",
];

/// The list items that are containers (written `container` in patterns).
const CONTAINER_LISTS: &[&str] = &["spec.containers[]", "spec.initContainers[]"];

/// Objects whose keys are a choice of one kind: an empty member still
/// chooses (`emptyDir: {}` is how an emptyDir is declared).
const UNIONS: &[&str] = &["spec.volumes[]", "container.env[].valueFrom"];

/// A supported field of which podrun supports some values only.
pub struct Restricted {
    /// The object the choice belongs to; it is dropped when refused.
    pub at: &'static str,
    /// The field under `at` that holds the value.
    pub field: &'static str,
    pub supported: &'static [&'static str],
    /// Values Kubernetes itself refuses are left to `validate` (an
    /// invalid value is an error, not an unsupported feature).
    pub valid_in_kubernetes: fn(&str) -> bool,
}

pub const RESTRICTED: &[Restricted] = &[
    Restricted {
        at: "container.env[].valueFrom",
        field: "fieldRef.fieldPath",
        supported: &["metadata.name", "metadata.namespace"],
        valid_in_kubernetes: validate::valid_env_field_path,
    },
    Restricted {
        at: "spec.volumes[].emptyDir.medium",
        field: "",
        supported: &["", "Memory"],
        valid_in_kubernetes: validate::valid_medium,
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportError {
    #[error("{path}: not supported")]
    Field { path: String },
    #[error("{path}: not supported: {value} (podrun supports {supported})")]
    Value {
        path: String,
        value: String,
        supported: String,
    },
}

impl SupportError {
    pub fn path(&self) -> &str {
        match self {
            SupportError::Field { path } | SupportError::Value { path, .. } => path,
        }
    }
}

enum Class {
    /// Listed: supported with everything under it.
    Whole,
    /// The start of a listed pattern: walk into it.
    Inside,
    Unsupported,
}

fn classify(pattern: &str) -> Class {
    if SUPPORTED.contains(&pattern) {
        return Class::Whole;
    }
    let starts = |s: &&str| {
        s.starts_with(pattern) && matches!(s.as_bytes().get(pattern.len()), Some(b'.' | b'['))
    };
    if SUPPORTED.iter().chain(CONTAINER_LISTS).any(starts) {
        Class::Inside
    } else {
        Class::Unsupported
    }
}

/// `pattern` of a list item of `pattern`.
fn item_pattern(pattern: &str) -> String {
    let p = format!("{pattern}[]");
    if CONTAINER_LISTS.contains(&p.as_str()) {
        "container".to_owned()
    } else {
        p
    }
}

/// Reports every field of the typed Pod (as JSON) that podrun does not
/// implement, and returns the Pod without them.
pub fn check(pod: &Value) -> (Vec<SupportError>, Value) {
    let mut errors = Vec::new();
    let kept = walk_object_fields(pod, "", "", &mut errors);
    (errors, kept)
}

fn walk_object_fields(
    value: &Value,
    path: &str,
    pattern: &str,
    errors: &mut Vec<SupportError>,
) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut kept = Map::new();
    for (key, v) in map {
        let child = join(path, key);
        let child_pattern = join(pattern, key);
        if let Some(v) = walk(v, &child, &child_pattern, UNIONS.contains(&pattern), errors) {
            kept.insert(key.clone(), v);
        }
    }
    Value::Object(kept)
}

/// The value to keep at `path`, or None to drop it.
fn walk(
    value: &Value,
    path: &str,
    pattern: &str,
    in_union: bool,
    errors: &mut Vec<SupportError>,
) -> Option<Value> {
    if let Some(r) = RESTRICTED.iter().find(|r| r.at == pattern) {
        if let Some(err) = restricted(r, value, path) {
            errors.push(err);
            return None;
        }
    }
    match classify(pattern) {
        Class::Whole => Some(value.clone()),
        Class::Inside => match value {
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let p = item_pattern(pattern);
                        // A list item is never dropped (that would shift the
                        // indexes the messages name); its fields may be.
                        walk_object_fields(item, &index(path, i), &p, errors)
                    })
                    .collect(),
            )),
            Value::Object(_) => Some(walk_object_fields(value, path, pattern, errors)),
            other => Some(other.clone()),
        },
        Class::Unsupported => {
            if !sets_nothing(value) || in_union {
                errors.push(SupportError::Field {
                    path: path.to_owned(),
                });
            }
            None
        }
    }
}

fn sets_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn restricted(r: &Restricted, at: &Value, path: &str) -> Option<SupportError> {
    let mut value = at;
    for key in r.field.split('.').filter(|k| !k.is_empty()) {
        value = value.get(key)?;
    }
    let s = value.as_str()?;
    if r.supported.contains(&s) || !(r.valid_in_kubernetes)(s) {
        return None;
    }
    let supported: Vec<String> = r.supported.iter().map(|s| format!("{s:?}")).collect();
    Some(SupportError::Value {
        path: if r.field.is_empty() {
            path.to_owned()
        } else {
            join(path, r.field)
        },
        value: format!("{s:?}"),
        supported: supported.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn messages(v: &Value) -> Vec<String> {
        check(v).0.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn supported_fields_pass_untouched() {
        let v = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "labels": {"a": "b"}, "annotations": {"c": "d"}},
            "spec": {
                "containers": [{
                    "name": "c", "image": "busybox", "imagePullPolicy": "Never",
                    "command": ["sh"], "args": ["-c", "true"], "workingDir": "/",
                    "env": [{"name": "A", "value": "1"},
                            {"name": "B", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                    "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": true, "subPath": "x"}],
                    "securityContext": {"runAsUser": 1, "runAsGroup": 2},
                    "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]
                }],
                "initContainers": [{"name": "i", "image": "busybox"}],
                "volumes": [{"name": "v", "hostPath": {"path": "/tmp", "type": "Directory"}},
                            {"name": "w", "emptyDir": {}},
                            {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}],
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
                "shareProcessNamespace": true, "hostNetwork": true, "hostIPC": true, "hostPID": false,
                "hostname": "h"
            }
        });
        let (errors, kept) = check(&v);
        assert_eq!(errors, []);
        assert_eq!(kept, v);
    }

    #[test]
    fn unsupported_fields_are_named_and_dropped() {
        let v = pod(json!({
            "nodeSelector": {"a": "b"},
            "containers": [
                {"name": "a", "image": "x"},
                {"name": "b", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}},
                 "securityContext": {"runAsUser": 1, "privileged": true},
                 "volumeMounts": [{"name": "v", "mountPath": "/v", "mountPropagation": "Bidirectional"}]}
            ],
            "volumes": [{"name": "v", "secret": {"secretName": "s"}}]
        }));
        let (errors, kept) = check(&v);
        let got: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "spec.containers[1].livenessProbe: not supported",
                "spec.containers[1].securityContext.privileged: not supported",
                "spec.containers[1].volumeMounts[0].mountPropagation: not supported",
                "spec.nodeSelector: not supported",
                "spec.volumes[0].secret: not supported",
            ]
        );
        assert_eq!(
            kept,
            pod(json!({
                "containers": [
                    {"name": "a", "image": "x"},
                    {"name": "b", "image": "x", "securityContext": {"runAsUser": 1},
                     "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
                ],
                "volumes": [{"name": "v"}]
            }))
        );
    }

    #[test]
    fn init_containers_follow_the_same_list() {
        let v = pod(json!({
            "containers": [{"name": "a"}],
            "initContainers": [{"name": "i", "restartPolicy": "Always", "stdin": true}],
            "ephemeralContainers": [{"name": "e"}]
        }));
        assert_eq!(
            messages(&v),
            [
                "spec.ephemeralContainers: not supported",
                "spec.initContainers[0].restartPolicy: not supported",
                "spec.initContainers[0].stdin: not supported",
            ]
        );
    }

    #[test]
    fn empty_values_set_nothing_except_in_unions() {
        let v = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "resources": {}, "envFrom": [],
                                      "env": [{"name": "E", "valueFrom": {"secretKeyRef": {}}}]}],
                     "tolerations": [], "volumes": [{"name": "v", "configMap": {}}]},
            "status": {}
        });
        assert_eq!(
            messages(&v),
            [
                "spec.containers[0].env[0].valueFrom.secretKeyRef: not supported",
                "spec.volumes[0].configMap: not supported",
            ]
        );
        // But a value that says something is reported, false included.
        let v =
            pod(json!({"containers": [{"name": "a", "tty": false}], "dnsPolicy": "ClusterFirst"}));
        assert_eq!(
            messages(&v),
            [
                "spec.containers[0].tty: not supported",
                "spec.dnsPolicy: not supported"
            ]
        );
    }

    #[test]
    fn restricted_values() {
        let v = pod(json!({
            "containers": [{"name": "a", "env": [
                {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "no.such.field"}}}
            ]}],
            "volumes": [{"name": "h", "emptyDir": {"medium": "HugePages"}},
                        {"name": "m", "emptyDir": {"medium": "Memory"}}]
        }));
        let (errors, kept) = check(&v);
        let got: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: not supported: \"spec.nodeName\" (podrun supports \"metadata.name\", \"metadata.namespace\")",
                "spec.volumes[0].emptyDir.medium: not supported: \"HugePages\" (podrun supports \"\", \"Memory\")",
            ]
        );
        // Dropped: the env var's source (it is then empty, as Kubernetes
        // makes an env var without value) and the medium (a disk emptyDir).
        assert_eq!(
            kept["spec"]["containers"][0]["env"][1],
            json!({"name": "B"})
        );
        assert_eq!(
            kept["spec"]["volumes"][0],
            json!({"name": "h", "emptyDir": {}})
        );
        // Invalid values are validate's to refuse; they are kept here.
        assert_eq!(
            kept["spec"]["containers"][0]["env"][2]["valueFrom"]["fieldRef"]["fieldPath"],
            "no.such.field"
        );
    }

    /// The field names a k8s-openapi type deserializes (its generated
    /// `Deserialize` hands them to `deserialize_struct`).
    fn fields_of<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
        use serde::de::{Deserializer, Visitor};
        #[derive(Debug)]
        struct Stop(&'static [&'static str]);
        impl std::fmt::Display for Stop {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("stop")
            }
        }
        impl std::error::Error for Stop {}
        impl serde::de::Error for Stop {
            fn custom<M: std::fmt::Display>(_: M) -> Stop {
                Stop(&[])
            }
        }
        struct Probe;
        impl<'de> Deserializer<'de> for Probe {
            type Error = Stop;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                Err(Stop(&[]))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Stop> {
                Err(Stop(fields))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        match T::deserialize(Probe) {
            Err(Stop(fields)) if !fields.is_empty() => fields,
            _ => panic!("{} is not a struct", std::any::type_name::<T>()),
        }
    }

    /// The fields of type `T` at `path` (pattern `pattern`) that pass,
    /// each set to a value that says something.
    fn passing<T: serde::de::DeserializeOwned>(path: &str, pattern: &str) -> Vec<&'static str> {
        fields_of::<T>()
            .iter()
            .copied()
            .filter(|field| {
                let mut errors = Vec::new();
                let v = json!({ *field: "set" });
                walk_object_fields(&v, path, pattern, &mut errors);
                errors.is_empty()
            })
            .collect()
    }

    /// Every field of the Kubernetes types that the issue does not name is
    /// refused, whatever k8s-openapi version defines them: each field of
    /// each type podrun reads is tried (the names come from the types
    /// themselves), and exactly the issue's list passes. This also catches
    /// a typo in SUPPORTED (a listed name that is no field).
    #[test]
    fn exactly_the_issues_fields_pass() {
        use k8s_openapi::api::core::v1 as core;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let mut pod = passing::<core::Pod>("", "");
        pod.sort();
        assert_eq!(pod, ["apiVersion", "kind", "metadata", "spec"]);
        let mut meta = passing::<ObjectMeta>("metadata", "metadata");
        meta.sort();
        assert_eq!(meta, ["annotations", "labels", "name", "namespace"]);
        let mut spec = passing::<core::PodSpec>("spec", "spec");
        spec.sort();
        assert_eq!(
            spec,
            [
                "containers",
                "hostIPC",
                "hostNetwork",
                "hostPID",
                "hostname",
                "initContainers",
                "restartPolicy",
                "shareProcessNamespace",
                "terminationGracePeriodSeconds",
                "volumes"
            ]
        );
        for list in ["spec.containers", "spec.initContainers"] {
            let mut c = passing::<core::Container>(&format!("{list}[0]"), &item_pattern(list));
            c.sort();
            assert_eq!(
                c,
                [
                    "args",
                    "command",
                    "env",
                    "image",
                    "imagePullPolicy",
                    "name",
                    "ports",
                    "securityContext",
                    "volumeMounts",
                    "workingDir"
                ]
            );
        }
        let c = "container";
        assert_eq!(
            passing::<core::EnvVar>("e", &format!("{c}.env[]")),
            ["name", "value", "valueFrom"]
        );
        assert_eq!(
            passing::<core::EnvVarSource>("e", &format!("{c}.env[].valueFrom")),
            ["fieldRef"]
        );
        let mut sel =
            passing::<core::ObjectFieldSelector>("e", &format!("{c}.env[].valueFrom.fieldRef"));
        sel.sort();
        assert_eq!(sel, ["apiVersion", "fieldPath"]);
        let mut m = passing::<core::VolumeMount>("m", &format!("{c}.volumeMounts[]"));
        m.sort();
        assert_eq!(m, ["mountPath", "name", "readOnly", "subPath"]);
        let mut sc = passing::<core::SecurityContext>("s", &format!("{c}.securityContext"));
        sc.sort();
        assert_eq!(sc, ["runAsGroup", "runAsUser"]);
        let mut vol = passing::<core::Volume>("v", "spec.volumes[]");
        vol.sort();
        assert_eq!(vol, ["emptyDir", "hostPath", "name"]);
        let mut hp = passing::<core::HostPathVolumeSource>("v", "spec.volumes[].hostPath");
        hp.sort();
        assert_eq!(hp, ["path", "type"]);
        let mut ed = passing::<core::EmptyDirVolumeSource>("v", "spec.volumes[].emptyDir");
        ed.sort();
        assert_eq!(ed, ["medium", "sizeLimit"]);
        // And many fields exist that do not pass (the test is not empty).
        assert!(fields_of::<core::Container>().len() > 20);
        assert!(fields_of::<core::PodSpec>().len() > 35);
    }
}
