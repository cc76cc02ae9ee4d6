//! The checks Kubernetes makes of a Pod (in `ValidatePod`), for the fields
//! podrun implements, plus podrun's own few (absolute paths where the
//! runtime needs them). Messages follow Kubernetes' `field.Error` wording
//! (`Required value`, `Invalid value`, `Duplicate value`, `Not found`,
//! `Unsupported value`, `Forbidden`) so they read like the API server's.
//! Pure: looks at the typed Pod only.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Volume};

use super::parse::{index, join};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{path}: Required value{}", hint(detail))]
    Required { path: String, detail: String },
    #[error("{path}: Invalid value {value}: {detail}")]
    Invalid {
        path: String,
        value: String,
        detail: String,
    },
    #[error("{path}: Duplicate value {value}")]
    Duplicate { path: String, value: String },
    #[error("{path}: Not found: {value}{}", hint(detail))]
    NotFound {
        path: String,
        value: String,
        detail: String,
    },
    #[error("{path}: Unsupported value {value}: supported values: {supported}")]
    Unsupported {
        path: String,
        value: String,
        supported: String,
    },
    #[error("{path}: Forbidden: {detail}")]
    Forbidden { path: String, detail: String },
    #[error("{path}: Too long: must have at most {max} bytes")]
    TooLong { path: String, max: usize },
}

fn hint(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl ValidationError {
    pub fn path(&self) -> &str {
        match self {
            ValidationError::Required { path, .. }
            | ValidationError::Invalid { path, .. }
            | ValidationError::Duplicate { path, .. }
            | ValidationError::NotFound { path, .. }
            | ValidationError::Unsupported { path, .. }
            | ValidationError::Forbidden { path, .. }
            | ValidationError::TooLong { path, .. } => path,
        }
    }
}

/// A value as the message shows it: JSON (strings quoted).
fn shown<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Collects the errors of one Pod.
#[derive(Default)]
struct Errors(Vec<ValidationError>);

impl Errors {
    fn required(&mut self, path: &str, detail: &str) {
        self.0.push(ValidationError::Required {
            path: path.to_owned(),
            detail: detail.to_owned(),
        });
    }
    fn invalid<T: serde::Serialize + ?Sized>(&mut self, path: &str, value: &T, detail: &str) {
        self.0.push(ValidationError::Invalid {
            path: path.to_owned(),
            value: shown(value),
            detail: detail.to_owned(),
        });
    }
    fn check(&mut self, path: &str, value: &str, rule: Result<(), String>) {
        if let Err(detail) = rule {
            self.invalid(path, value, &detail);
        }
    }
    fn one_of(&mut self, path: &str, value: &str, supported: &[&str]) {
        if !supported.contains(&value) {
            self.0.push(ValidationError::Unsupported {
                path: path.to_owned(),
                value: shown(value),
                supported: supported
                    .iter()
                    .map(|s| shown(*s))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
}

/// Every error of the Pod, in field order.
pub fn validate(pod: &Pod) -> Vec<ValidationError> {
    let mut e = Errors::default();
    let meta = &pod.metadata;
    match meta.name.as_deref() {
        None | Some("") => e.required("metadata.name", "name or generateName is required"),
        Some(name) => e.check("metadata.name", name, dns1123_subdomain(name)),
    }
    if let Some(ns) = meta.namespace.as_deref() {
        e.check("metadata.namespace", ns, dns1123_label(ns));
    }
    for (key, value) in meta.labels.iter().flatten() {
        let path = join("metadata.labels", key);
        e.check(&path, key, qualified_name(key));
        e.check(&path, value, label_value(value));
    }
    let mut annotations = 0;
    for (key, value) in meta.annotations.iter().flatten() {
        e.check(&join("metadata.annotations", key), key, qualified_name(key));
        annotations += key.len() + value.len();
    }
    if annotations > MAX_ANNOTATIONS {
        e.0.push(ValidationError::TooLong {
            path: "metadata.annotations".into(),
            max: MAX_ANNOTATIONS,
        });
    }
    match &pod.spec {
        None => e.required("spec", ""),
        Some(spec) => validate_spec(spec, &mut e),
    }
    e.0
}

/// Kubernetes' TotalAnnotationSizeLimitB.
const MAX_ANNOTATIONS: usize = 256 * 1024;

fn validate_spec(spec: &PodSpec, e: &mut Errors) {
    let volumes = validate_volumes(spec.volumes.as_deref().unwrap_or_default(), e);
    if spec.containers.is_empty() {
        e.required("spec.containers", "a Pod needs at least one container");
    }
    // Names are unique across init containers and containers; Kubernetes
    // checks the init containers first, so a clash is reported on the
    // later one.
    let mut names = BTreeSet::new();
    let lists = [
        (
            "spec.initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("spec.containers", &spec.containers[..]),
    ];
    for (list, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            let path = index(list, i);
            let name_path = join(&path, "name");
            if c.name.is_empty() {
                e.required(&name_path, "");
            } else {
                e.check(&name_path, &c.name, dns1123_label(&c.name));
                if !names.insert(c.name.as_str()) {
                    e.0.push(ValidationError::Duplicate {
                        path: name_path,
                        value: shown(&c.name),
                    });
                }
            }
            validate_container(c, &path, &volumes, e);
        }
    }
    if let Some(policy) = spec.restart_policy.as_deref() {
        e.one_of(
            "spec.restartPolicy",
            policy,
            &["Always", "OnFailure", "Never"],
        );
    }
    if let Some(grace) = spec.termination_grace_period_seconds {
        if grace < 0 {
            e.invalid(
                "spec.terminationGracePeriodSeconds",
                &grace,
                "must be greater than or equal to 0",
            );
        }
    }
    if let Some(h) = spec.hostname.as_deref() {
        e.check("spec.hostname", h, dns1123_label(h));
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        e.0.push(ValidationError::Forbidden {
            path: "spec.shareProcessNamespace".into(),
            detail: "ShareProcessNamespace and HostPID cannot both be enabled".into(),
        });
    }
}

/// Checks the volumes; returns their names.
fn validate_volumes<'a>(volumes: &'a [Volume], e: &mut Errors) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let path = index("spec.volumes", i);
        let name_path = join(&path, "name");
        if v.name.is_empty() {
            e.required(&name_path, "");
        } else {
            e.check(&name_path, &v.name, dns1123_label(&v.name));
            if !names.insert(v.name.as_str()) {
                e.0.push(ValidationError::Duplicate {
                    path: name_path,
                    value: shown(&v.name),
                });
            }
        }
        // One source at most (none is an emptyDir, Kubernetes' default):
        // counted over the serialized volume, so every kind counts.
        let sources: Vec<String> = match serde_json::to_value(v) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k != "name")
                .collect(),
            _ => Vec::new(),
        };
        if sources.len() > 1 {
            e.0.push(ValidationError::Forbidden {
                path: join(&path, &sources[1]),
                detail: format!(
                    "may not specify more than 1 volume type (also {})",
                    sources[0]
                ),
            });
        }
        if let Some(hp) = &v.host_path {
            let p = join(&path, "hostPath.path");
            if hp.path.is_empty() {
                e.required(&p, "");
            } else if !hp.path.starts_with('/') {
                e.invalid(&p, &hp.path, "must be an absolute path");
            } else if has_dotdot(&hp.path) {
                e.invalid(&p, &hp.path, "must not contain '..'");
            }
            if let Some(t) = hp.type_.as_deref() {
                e.one_of(&join(&path, "hostPath.type"), t, HOST_PATH_TYPES);
            }
        }
        if let Some(ed) = &v.empty_dir {
            if let Some(m) = ed.medium.as_deref() {
                if !valid_medium(m) {
                    e.one_of(
                        &join(&path, "emptyDir.medium"),
                        m,
                        &["", "Memory", "HugePages", "HugePages-<size>"],
                    );
                }
            }
            if let Some(q) = &ed.size_limit {
                if let Err(detail) = quantity_bytes(&q.0) {
                    e.invalid(&join(&path, "emptyDir.sizeLimit"), &q.0, &detail);
                }
            }
        }
    }
    names
}

/// Every `hostPath.type` Kubernetes defines ("" checks nothing).
pub const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

fn validate_container(c: &Container, path: &str, volumes: &BTreeSet<&str>, e: &mut Errors) {
    let image_path = join(path, "image");
    match c.image.as_deref() {
        None | Some("") => e.required(&image_path, ""),
        Some(image) if image.trim() != image => e.invalid(
            &image_path,
            image,
            "must not have leading or trailing whitespace",
        ),
        Some(_) => {}
    }
    if let Some(policy) = c.image_pull_policy.as_deref() {
        e.one_of(
            &join(path, "imagePullPolicy"),
            policy,
            &["Always", "IfNotPresent", "Never"],
        );
    }
    if let Some(dir) = c.working_dir.as_deref() {
        // Kubernetes leaves this to the runtime; the OCI runtime spec wants
        // an absolute cwd.
        if !dir.is_empty() && !dir.starts_with('/') {
            e.invalid(&join(path, "workingDir"), dir, "must be an absolute path");
        }
    }
    for (i, env) in c.env.iter().flatten().enumerate() {
        let p = index(&join(path, "env"), i);
        if env.name.is_empty() {
            e.required(&join(&p, "name"), "");
        } else if let Err(detail) = env_var_name(&env.name) {
            e.invalid(&join(&p, "name"), &env.name, &detail);
        }
        if let Some(from) = &env.value_from {
            let from_path = join(&p, "valueFrom");
            if env.value.as_deref().is_some_and(|v| !v.is_empty()) {
                e.invalid(
                    &from_path,
                    "",
                    "may not be specified when `value` is not empty",
                );
            }
            let sources = serde_json::to_value(from)
                .ok()
                .and_then(|v| v.as_object().map(|m| m.len()))
                .unwrap_or(0);
            if sources == 0 {
                e.invalid(&from_path, "", "must specify one of: `configMapKeyRef`, `fieldRef`, `fileKeyRef`, `resourceFieldRef` or `secretKeyRef`");
            } else if sources > 1 {
                e.invalid(
                    &from_path,
                    "",
                    "may not have more than one field specified at a time",
                );
            }
            if let Some(f) = &from.field_ref {
                let fp = join(&from_path, "fieldRef");
                if let Some(v) = f.api_version.as_deref() {
                    e.one_of(&join(&fp, "apiVersion"), v, &["v1"]);
                }
                if f.field_path.is_empty() {
                    e.required(&join(&fp, "fieldPath"), "");
                } else if !valid_env_field_path(&f.field_path) {
                    e.one_of(&join(&fp, "fieldPath"), &f.field_path, ENV_FIELD_PATHS);
                }
            }
        }
    }
    let mut mount_paths = BTreeMap::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = index(&join(path, "volumeMounts"), i);
        let name_path = join(&p, "name");
        if m.name.is_empty() {
            e.required(&name_path, "");
        } else if !volumes.contains(m.name.as_str()) {
            e.0.push(ValidationError::NotFound {
                path: name_path,
                value: shown(&m.name),
                detail: "no volume of that name in spec.volumes".into(),
            });
        }
        let mp = join(&p, "mountPath");
        if m.mount_path.is_empty() {
            e.required(&mp, "");
        } else if !m.mount_path.starts_with('/') {
            e.invalid(&mp, &m.mount_path, "must be an absolute path");
        } else if mount_paths.insert(clean(&m.mount_path), ()).is_some() {
            e.invalid(&mp, &m.mount_path, "must be unique");
        }
        if let Some(sub) = m.sub_path.as_deref() {
            if let Err(detail) = local_descending_path(sub) {
                e.invalid(&join(&p, "subPath"), sub, &detail);
            }
        }
    }
    if let Some(sc) = &c.security_context {
        for (field, id) in [
            ("runAsUser", sc.run_as_user),
            ("runAsGroup", sc.run_as_group),
        ] {
            if let Some(id) = id {
                if !(0..=i64::from(i32::MAX)).contains(&id) {
                    e.invalid(
                        &join(path, &format!("securityContext.{field}")),
                        &id,
                        "must be between 0 and 2147483647, inclusive",
                    );
                }
            }
        }
    }
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let p = index(&join(path, "ports"), i);
        if !(1..=65535).contains(&port.container_port) {
            e.invalid(
                &join(&p, "containerPort"),
                &port.container_port,
                "must be between 1 and 65535, inclusive",
            );
        }
        if let Some(h) = port.host_port {
            if !(0..=65535).contains(&h) {
                e.invalid(
                    &join(&p, "hostPort"),
                    &h,
                    "must be between 0 and 65535, inclusive",
                );
            }
        }
        if let Some(proto) = port.protocol.as_deref() {
            e.one_of(&join(&p, "protocol"), proto, &["SCTP", "TCP", "UDP"]);
        }
    }
}

/// A path without empty, `.` components and trailing slashes, to compare
/// mount points.
fn clean(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn has_dotdot(path: &str) -> bool {
    path.split('/').any(|p| p == "..")
}

/// Kubernetes' validateLocalDescendingPath: relative, no `..` component.
pub fn local_descending_path(p: &str) -> Result<(), String> {
    if p.starts_with('/') {
        return Err("must be a relative path".into());
    }
    if has_dotdot(p) {
        return Err("must not contain '..'".into());
    }
    Ok(())
}

/// Field paths Kubernetes accepts in an env var's `fieldRef` (plus
/// `metadata.labels['KEY']` and `metadata.annotations['KEY']`).
pub const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

pub fn valid_env_field_path(p: &str) -> bool {
    if ENV_FIELD_PATHS.contains(&p) {
        return true;
    }
    ["metadata.labels['", "metadata.annotations['"]
        .iter()
        .any(|prefix| {
            p.strip_prefix(prefix)
                .and_then(|k| k.strip_suffix("']"))
                .is_some_and(|k| qualified_name(k).is_ok())
        })
}

/// Kubernetes' emptyDir media: disk, tmpfs, hugetlbfs (of a page size).
pub fn valid_medium(m: &str) -> bool {
    matches!(m, "" | "Memory" | "HugePages")
        || m.strip_prefix("HugePages-")
            .is_some_and(|size| quantity_bytes(size).is_ok())
}

/// Since Kubernetes 1.34 (RelaxedEnvironmentVariableValidation) an env var
/// name is any printable ASCII but `=`.
pub fn env_var_name(name: &str) -> Result<(), String> {
    if name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
    {
        Ok(())
    } else {
        Err("a valid environment variable name must consist only of printable ASCII characters other than '='".into())
    }
}

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// A DNS-1123 label (container, volume, namespace names): at most 63
/// characters, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !is_label(s) {
        return Err(LABEL_MSG.into());
    }
    Ok(())
}

/// A DNS-1123 subdomain (a Pod's name): at most 253 characters, labels
/// joined by dots.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if !s.split('.').all(is_label) {
        return Err(SUBDOMAIN_MSG.into());
    }
    Ok(())
}

/// A label or annotation key: an optional DNS-1123 subdomain prefix and
/// `/`, then a name of at most 63 characters,
/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        dns1123_subdomain(p).map_err(|e| format!("prefix part {e}"))?;
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if !label_chars(name) {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')".into());
    }
    Ok(())
}

/// A label value: empty, or like the name part of a qualified name.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !s.is_empty() && !label_chars(s) {
        return Err("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345')".into());
    }
    Ok(())
}

fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A Kubernetes quantity (`1Gi`, `500M`, `1.5e9`) in bytes, rounded up.
/// Refuses negative values and what does not fit in a u64.
pub fn quantity_bytes(q: &str) -> Result<u64, String> {
    const FORMAT: &str = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let (negative, number) = match number.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(FORMAT.into());
    }
    // value = mantissa / 10^frac.len() * base^exp
    let (base, exp): (u128, i32) = match suffix {
        "" => (10, 0),
        "Ki" => (1024, 1),
        "Mi" => (1024, 2),
        "Gi" => (1024, 3),
        "Ti" => (1024, 4),
        "Pi" => (1024, 5),
        "Ei" => (1024, 6),
        "n" => (10, -9),
        "u" => (10, -6),
        "m" => (10, -3),
        "k" => (10, 3),
        "M" => (10, 6),
        "G" => (10, 9),
        "T" => (10, 12),
        "P" => (10, 15),
        "E" => (10, 18),
        s if s.starts_with(['e', 'E']) => match s[1..].parse::<i32>() {
            Ok(e) if (-30..=30).contains(&e) && digits(s[1..].trim_start_matches(['+', '-'])) => {
                (10, e)
            }
            _ => return Err(FORMAT.into()),
        },
        _ => return Err(FORMAT.into()),
    };
    let too_large = || "must fit in 64 bits of bytes".to_string();
    let all = format!("{int}{frac}");
    let all = all.trim_start_matches('0');
    if all.len() > 30 {
        return Err(too_large());
    }
    let mut num: u128 = if all.is_empty() {
        0
    } else {
        all.parse().map_err(|_| too_large())?
    };
    let mut den: u128 = 10u128.pow(frac.len().min(30) as u32);
    let scale = base.checked_pow(exp.unsigned_abs()).ok_or_else(too_large)?;
    if exp >= 0 {
        num = num.checked_mul(scale).ok_or_else(too_large)?;
    } else {
        den = den.checked_mul(scale).ok_or_else(too_large)?;
    }
    if negative && num != 0 {
        return Err("must be greater than or equal to 0".into());
    }
    u64::try_from(num.div_ceil(den)).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}),
        )
        .unwrap()
    }

    fn errors(spec: serde_json::Value) -> Vec<String> {
        validate(&pod(spec)).iter().map(|e| e.to_string()).collect()
    }

    fn one(name: &str, image: &str) -> serde_json::Value {
        json!({"name": name, "image": image})
    }

    #[test]
    fn dns1123_labels() {
        for ok in ["a", "abc", "a-b", "0", "1abc", "a1", &"a".repeat(63)] {
            assert_eq!(dns1123_label(ok), Ok(()), "{ok}");
        }
        for bad in ["", "A", "a_b", "-a", "a-", "a.b", "aé", " a"] {
            assert!(
                dns1123_label(bad).unwrap_err().contains("RFC 1123 label"),
                "{bad}"
            );
        }
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            Err("must be no more than 63 characters".into())
        );
    }

    #[test]
    fn dns1123_subdomains() {
        for ok in [
            "a",
            "a.b",
            "my-pod.example.com",
            "0.1",
            &format!(
                "{}.{}.{}.{}",
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(61)
            ),
        ] {
            assert_eq!(dns1123_subdomain(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "a.", ".a", "a..b", "A.b", "a_b", "a.-b"] {
            assert!(
                dns1123_subdomain(bad)
                    .unwrap_err()
                    .contains("RFC 1123 subdomain"),
                "{bad}"
            );
        }
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254)),
            Err("must be no more than 253 characters".into())
        );
    }

    #[test]
    fn qualified_names_and_label_values() {
        for ok in ["app", "App_1.x", "example.com/app", "a/b"] {
            assert_eq!(qualified_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "Example.com/a",
            "_a",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(qualified_name(bad).is_err(), "{bad}");
        }
        for ok in ["", "v1", "My_Value.2"] {
            assert_eq!(label_value(ok), Ok(()), "{ok}");
        }
        for bad in ["-a", "a b", &"a".repeat(64)] {
            assert!(label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("0"), Ok(0));
        assert_eq!(quantity_bytes("1"), Ok(1));
        assert_eq!(quantity_bytes("1Ki"), Ok(1024));
        assert_eq!(quantity_bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(quantity_bytes("500M"), Ok(500_000_000));
        assert_eq!(quantity_bytes("1e3"), Ok(1000));
        assert_eq!(quantity_bytes("100m"), Ok(1));
        assert_eq!(quantity_bytes(".5k"), Ok(500));
        assert_eq!(quantity_bytes("+2k"), Ok(2000));
        assert_eq!(quantity_bytes("15Ei"), Ok(15 << 60));
        for bad in ["", "Gi", "1GB", "1.2.3", "1e", "abc", "1 Gi", "-"] {
            assert!(quantity_bytes(bad).is_err(), "{bad}");
        }
        assert!(quantity_bytes("-1").is_err());
        assert!(quantity_bytes("16Ei").is_err());
    }

    #[test]
    fn a_good_pod_has_no_errors() {
        assert_eq!(
            errors(json!({"containers": [one("a", "busybox")]})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names() {
        let mut p = pod(json!({"containers": [one("Bad_Name", "x")]}));
        p.metadata.name = Some("My_Pod".into());
        p.metadata.namespace = Some("a.b".into());
        let got: Vec<String> = validate(&p).iter().map(|e| e.to_string()).collect();
        assert!(
            got[0].starts_with(
                "metadata.name: Invalid value \"My_Pod\": a lowercase RFC 1123 subdomain"
            ),
            "{got:?}"
        );
        assert!(
            got[1].starts_with(
                "metadata.namespace: Invalid value \"a.b\": a lowercase RFC 1123 label"
            ),
            "{got:?}"
        );
        assert!(
            got[2].starts_with(
                "spec.containers[0].name: Invalid value \"Bad_Name\": a lowercase RFC 1123 label"
            ),
            "{got:?}"
        );
        p.metadata.name = None;
        assert!(validate(&p)[0]
            .to_string()
            .starts_with("metadata.name: Required value"));
        let long = "a".repeat(64);
        assert_eq!(
            errors(json!({"containers": [one(&long, "x")]})),
            [format!("spec.containers[0].name: Invalid value \"{long}\": must be no more than 63 characters")]
        );
    }

    #[test]
    fn duplicate_container_names_across_both_lists() {
        assert_eq!(
            errors(
                json!({"initContainers": [one("a", "x")], "containers": [one("b", "x"), one("a", "x"), one("b", "x")]})
            ),
            [
                "spec.containers[1].name: Duplicate value \"a\"",
                "spec.containers[2].name: Duplicate value \"b\""
            ]
        );
    }

    #[test]
    fn containers_and_images_are_required() {
        assert_eq!(
            errors(json!({"containers": []})),
            ["spec.containers: Required value: a Pod needs at least one container"]
        );
        assert_eq!(
            errors(json!({"containers": [{"name": "a"}, {"name": "b", "image": " x"}]})),
            [
                "spec.containers[0].image: Required value",
                "spec.containers[1].image: Invalid value \" x\": must not have leading or trailing whitespace"
            ]
        );
    }

    #[test]
    fn volumes_and_mounts() {
        let got = errors(json!({
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "data", "emptyDir": {}},
                {"name": "Logs", "hostPath": {"path": "var/log"}},
                {"name": "h", "hostPath": {"path": "/a/../b", "type": "Dir"}},
                {"name": "two", "hostPath": {"path": "/x"}, "emptyDir": {}},
                {"name": "m", "emptyDir": {"medium": "Disk", "sizeLimit": "1GB"}}
            ],
            "containers": [{"name": "a", "image": "x", "volumeMounts": [
                {"name": "data", "mountPath": "/data"},
                {"name": "nope", "mountPath": "/nope"},
                {"name": "data", "mountPath": "relative"},
                {"name": "data", "mountPath": "/data/", "subPath": "../x"},
                {"name": "data", "mountPath": "/abs", "subPath": "/x"},
                {"name": "data", "mountPath": "/fine", "subPath": "a/b..c"}
            ]}]
        }));
        assert_eq!(
            got,
            [
                "spec.volumes[1].name: Duplicate value \"data\"",
                "spec.volumes[2].name: Invalid value \"Logs\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')",
                "spec.volumes[2].hostPath.path: Invalid value \"var/log\": must be an absolute path",
                "spec.volumes[3].hostPath.path: Invalid value \"/a/../b\": must not contain '..'",
                "spec.volumes[3].hostPath.type: Unsupported value \"Dir\": supported values: \"\", \"DirectoryOrCreate\", \"Directory\", \"FileOrCreate\", \"File\", \"Socket\", \"CharDevice\", \"BlockDevice\"",
                "spec.volumes[4].hostPath: Forbidden: may not specify more than 1 volume type (also emptyDir)",
                "spec.volumes[5].emptyDir.medium: Unsupported value \"Disk\": supported values: \"\", \"Memory\", \"HugePages\", \"HugePages-<size>\"",
                "spec.volumes[5].emptyDir.sizeLimit: Invalid value \"1GB\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].volumeMounts[1].name: Not found: \"nope\": no volume of that name in spec.volumes",
                "spec.containers[0].volumeMounts[2].mountPath: Invalid value \"relative\": must be an absolute path",
                "spec.containers[0].volumeMounts[3].mountPath: Invalid value \"/data/\": must be unique",
                "spec.containers[0].volumeMounts[3].subPath: Invalid value \"../x\": must not contain '..'",
                "spec.containers[0].volumeMounts[4].subPath: Invalid value \"/x\": must be a relative path",
            ]
        );
    }

    #[test]
    fn every_host_path_type_is_accepted() {
        for t in HOST_PATH_TYPES {
            let v = json!([{"name": "h", "hostPath": {"path": "/x", "type": t}}]);
            assert_eq!(
                errors(json!({"volumes": v, "containers": [one("a", "x")]})),
                Vec::<String>::new(),
                "{t}"
            );
        }
        for m in ["", "Memory", "HugePages", "HugePages-2Mi"] {
            let v = json!([{"name": "e", "emptyDir": {"medium": m, "sizeLimit": "64Mi"}}]);
            assert_eq!(
                errors(json!({"volumes": v, "containers": [one("a", "x")]})),
                Vec::<String>::new(),
                "{m}"
            );
        }
    }

    #[test]
    fn pod_level_fields() {
        let got = errors(json!({
            "containers": [one("a", "x")],
            "restartPolicy": "Sometimes",
            "terminationGracePeriodSeconds": -1,
            "hostname": "Host",
            "shareProcessNamespace": true,
            "hostPID": true
        }));
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], "spec.restartPolicy: Unsupported value \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"");
        assert_eq!(got[1], "spec.terminationGracePeriodSeconds: Invalid value -1: must be greater than or equal to 0");
        assert!(got[2].starts_with("spec.hostname: Invalid value \"Host\""));
        assert_eq!(got[3], "spec.shareProcessNamespace: Forbidden: ShareProcessNamespace and HostPID cannot both be enabled");
        for policy in ["Always", "OnFailure", "Never"] {
            assert_eq!(
                errors(json!({"containers": [one("a", "x")], "restartPolicy": policy})),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn container_fields() {
        let got = errors(json!({"containers": [{
            "name": "a", "image": "x", "imagePullPolicy": "Sometimes", "workingDir": "tmp",
            "env": [
                {"name": "", "value": "x"},
                {"name": "A=B"},
                {"name": "C", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "D", "valueFrom": {}},
                {"name": "E", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "spec.nope"}}},
                {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}
            ],
            "securityContext": {"runAsUser": -1, "runAsGroup": 2147483648i64},
            "ports": [{"containerPort": 0}, {"containerPort": 80, "protocol": "HTTP"}]
        }]}));
        let p = "spec.containers[0]";
        assert_eq!(
            got,
            [
                format!("{p}.imagePullPolicy: Unsupported value \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""),
                format!("{p}.workingDir: Invalid value \"tmp\": must be an absolute path"),
                format!("{p}.env[0].name: Required value"),
                format!("{p}.env[1].name: Invalid value \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"),
                format!("{p}.env[2].valueFrom: Invalid value \"\": may not be specified when `value` is not empty"),
                format!("{p}.env[3].valueFrom: Invalid value \"\": must specify one of: `configMapKeyRef`, `fieldRef`, `fileKeyRef`, `resourceFieldRef` or `secretKeyRef`"),
                format!("{p}.env[4].valueFrom.fieldRef.apiVersion: Unsupported value \"v2\": supported values: \"v1\""),
                format!("{p}.env[4].valueFrom.fieldRef.fieldPath: Unsupported value \"spec.nope\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""),
                format!("{p}.securityContext.runAsUser: Invalid value -1: must be between 0 and 2147483647, inclusive"),
                format!("{p}.securityContext.runAsGroup: Invalid value 2147483648: must be between 0 and 2147483647, inclusive"),
                format!("{p}.ports[0].containerPort: Invalid value 0: must be between 1 and 65535, inclusive"),
                format!("{p}.ports[1].protocol: Unsupported value \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
            ]
        );
    }

    #[test]
    fn labels_and_annotations() {
        let mut p = pod(json!({"containers": [one("a", "x")]}));
        p.metadata.labels = Some(
            [
                ("app".to_string(), "ok".to_string()),
                ("bad key".into(), "-v".into()),
            ]
            .into(),
        );
        p.metadata.annotations = Some([("note".to_string(), "x".repeat(MAX_ANNOTATIONS))].into());
        let got: Vec<String> = validate(&p).iter().map(|e| e.to_string()).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("metadata.labels.bad key: Invalid value \"bad key\": name part"));
        assert!(got[1].starts_with("metadata.labels.bad key: Invalid value \"-v\": a valid label"));
        assert_eq!(
            got[2],
            "metadata.annotations: Too long: must have at most 262144 bytes"
        );
    }
}
