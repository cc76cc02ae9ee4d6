//! The Pod: YAML text → a validated k8s-openapi `Pod`, the first two
//! stages of parse → validate → plan → execute. Pure: no file, no system
//! call (the binary reads the file).
//!
//! - `parse`: the YAML (one document, no duplicate keys) into JSON that
//!   knows the line of every field, then into the typed Pod (apiVersion
//!   `v1`, kind `Pod`, the Kubernetes types), then the fields the types do
//!   not know (`unknown field`, refused as the API server does).
//! - `validate`: what Kubernetes checks (DNS-1123 names, unique names,
//!   volume mounts that name a volume, ...), for the fields podrun runs.
//! - `supported`: the allow-list of what podrun implements; everything
//!   else set in the Pod is `<path>: not supported`.
//!
//! Every problem is reported at once, with its line. Unsupported fields
//! refuse the Pod in [`Mode::Strict`]; in [`Mode::Warn`] they are warnings
//! and in [`Mode::Ignore`] silent, and the Pod handed on has them removed,
//! so later stages only ever see fields podrun implements. Syntax, schema
//! and validation errors refuse the Pod in every mode.

pub mod parse;
pub mod supported;
pub mod validate;

use std::fmt;
use std::str::FromStr;

pub use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

use parse::ParseError;
use supported::SupportError;
use validate::ValidationError;

/// What to do with fields podrun does not implement (`--validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Refuse the Pod.
    #[default]
    Strict,
    /// Warn, and run the Pod without them.
    Warn,
    /// Run the Pod without them, silently.
    Ignore,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "strict" => Ok(Mode::Strict),
            "warn" => Ok(Mode::Warn),
            "ignore" => Ok(Mode::Ignore),
            _ => Err(format!("{s:?}: want strict, warn or ignore")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Strict => "strict",
            Mode::Warn => "warn",
            Mode::Ignore => "ignore",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodError {
    /// Bad YAML, not a Pod, a type error, an unknown field.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A valid Kubernetes Pod field podrun does not implement.
    #[error(transparent)]
    NotSupported(#[from] SupportError),
    /// What Kubernetes (or podrun's runtime) refuses.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl PodError {
    pub fn path(&self) -> Option<&str> {
        match self {
            PodError::Parse(e) => e.path(),
            PodError::NotSupported(e) => Some(e.path()),
            PodError::Invalid(e) => Some(e.path()),
        }
    }
}

/// One problem, placed in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// A warning does not refuse the Pod (unsupported fields in `warn` mode).
    pub warning: bool,
    pub error: PodError,
}

impl Diagnostic {
    fn new(error: PodError, warning: bool, doc: Option<&parse::Document>) -> Diagnostic {
        let (line, column) = match &error {
            PodError::Parse(e) => (e.line(), e.column()),
            _ => (None, None),
        };
        let line = line.or_else(|| doc.and_then(|d| d.line_of(error.path()?)));
        Diagnostic {
            line,
            column,
            warning,
            error,
        }
    }

    /// `FILE:LINE[:COLUMN]: [warning: ]MESSAGE`, the way compilers write
    /// it (editors jump to it).
    pub fn in_file(&self, file: &str) -> String {
        match self.line {
            Some(_) => format!("{file}:{self}"),
            None => format!("{file}: {self}"),
        }
    }
}

/// `[LINE[:COLUMN]: ][warning: ]MESSAGE`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: ")?,
            (Some(l), None) => write!(f, "{l}: ")?,
            _ => {}
        }
        if self.warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{}", self.error)
    }
}

/// The Pod is refused: every error (and warning) found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub diagnostics: Vec<Diagnostic>,
}

impl Refused {
    fn one(error: PodError, doc: Option<&parse::Document>) -> Refused {
        Refused {
            diagnostics: vec![Diagnostic::new(error, false, doc)],
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.warning)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .diagnostics
            .iter()
            .map(|d| match d.line {
                Some(_) => format!("line {d}"),
                None => d.to_string(),
            })
            .collect();
        write!(f, "Pod refused:\n{}", lines.join("\n"))
    }
}

impl std::error::Error for Refused {}

/// A Pod podrun can run: valid, and holding only fields podrun implements
/// (unsupported ones were refused or removed, by [`Mode`]); every volume
/// is a hostPath or an emptyDir.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedPod {
    pod: Pod,
    warnings: Vec<Diagnostic>,
}

/// A volume's source, as podrun implements them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind<'a> {
    /// `type` is "" (no check) or one of Kubernetes' hostPath types.
    HostPath { path: &'a str, type_: &'a str },
    /// tmpfs when `memory`, else a directory on disk; the limit in bytes.
    EmptyDir {
        memory: bool,
        size_limit: Option<u64>,
    },
}

impl ValidatedPod {
    pub fn pod(&self) -> &Pod {
        &self.pod
    }

    pub fn into_pod(self) -> Pod {
        self.pod
    }

    pub fn spec(&self) -> &PodSpec {
        // from_yaml refuses a Pod without spec.
        static EMPTY: std::sync::OnceLock<PodSpec> = std::sync::OnceLock::new();
        self.pod
            .spec
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(PodSpec::default))
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    /// `default` when the file names none, as kubectl does.
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// The init containers, run one after the other before the containers.
    pub fn init_containers(&self) -> &[Container] {
        self.spec().init_containers.as_deref().unwrap_or_default()
    }

    /// Unsupported fields that were removed (`warn` mode).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The source of the volume called `name`.
    pub fn volume(&self, name: &str) -> Option<VolumeKind<'_>> {
        let v = self
            .spec()
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == name)?;
        if let Some(hp) = &v.host_path {
            return Some(VolumeKind::HostPath {
                path: &hp.path,
                type_: hp.type_.as_deref().unwrap_or_default(),
            });
        }
        let ed = v.empty_dir.as_ref()?;
        Some(VolumeKind::EmptyDir {
            memory: ed.medium.as_deref() == Some("Memory"),
            size_limit: ed
                .size_limit
                .as_ref()
                .and_then(|q| validate::quantity_bytes(&q.0).ok()),
        })
    }
}

/// Parses and validates a Pod file's text. Refused: every problem found
/// (a syntax or schema error stops at that one; after those, all of the
/// unknown fields, validation errors and unsupported fields at once).
pub fn from_yaml(text: &str, mode: Mode) -> Result<ValidatedPod, Refused> {
    let doc = parse::parse_yaml(text).map_err(|e| Refused::one(e.into(), None))?;
    let pod = parse::to_pod(&doc).map_err(|e| Refused::one(e.into(), Some(&doc)))?;
    let schema = |e: serde_json::Error| {
        Refused::one(
            ParseError::Schema {
                path: String::new(),
                message: e.to_string(),
            }
            .into(),
            Some(&doc),
        )
    };
    let typed = serde_json::to_value(&pod).map_err(schema)?;

    let mut diagnostics = Vec::new();
    for e in parse::unknown_fields(&doc.value, &typed) {
        diagnostics.push(Diagnostic::new(e.into(), false, Some(&doc)));
    }
    for e in validate::validate(&pod) {
        diagnostics.push(Diagnostic::new(e.into(), false, Some(&doc)));
    }
    let (unsupported, kept) = supported::check(&typed);
    if mode != Mode::Ignore {
        for e in unsupported {
            diagnostics.push(Diagnostic::new(e.into(), mode == Mode::Warn, Some(&doc)));
        }
    }
    // File order (stable: same line keeps the order found).
    diagnostics.sort_by_key(|d| d.line.unwrap_or(0));
    if diagnostics.iter().any(|d| !d.warning) {
        return Err(Refused { diagnostics });
    }

    let mut pod: Pod = serde_json::from_value(kept).map_err(schema)?;
    // A volume without a source is an emptyDir (Kubernetes' defaulting);
    // one whose unsupported source was removed becomes one too.
    for v in pod
        .spec
        .iter_mut()
        .flat_map(|s| s.volumes.iter_mut().flatten())
    {
        if v.host_path.is_none() && v.empty_dir.is_none() {
            v.empty_dir = Some(Default::default());
        }
    }
    Ok(ValidatedPod {
        pod,
        warnings: diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  volumes:
  - name: data
  - name: logs
    hostPath: {path: /var/log, type: DirectoryOrCreate}
  - name: shm
    emptyDir: {medium: Memory, sizeLimit: 64Mi}
  initContainers:
  - name: init
    image: busybox
  containers:
  - name: app
    image: busybox
    resources: {}
    volumeMounts:
    - {name: data, mountPath: /data}
";

    fn messages(r: &Refused) -> Vec<String> {
        r.diagnostics.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_good_pod() {
        let v = from_yaml(GOOD, Mode::Strict).unwrap();
        assert_eq!(v.name(), "web");
        assert_eq!(v.namespace(), "default");
        assert_eq!(v.warnings(), []);
        assert_eq!(v.init_containers()[0].name, "init");
        assert_eq!(v.spec().containers[0].name, "app");
        // kubectl's empty `resources: {}` is gone.
        assert_eq!(v.spec().containers[0].resources, None);
        assert_eq!(
            v.volume("data"),
            Some(VolumeKind::EmptyDir {
                memory: false,
                size_limit: None
            })
        );
        assert_eq!(
            v.volume("logs"),
            Some(VolumeKind::HostPath {
                path: "/var/log",
                type_: "DirectoryOrCreate"
            })
        );
        assert_eq!(
            v.volume("shm"),
            Some(VolumeKind::EmptyDir {
                memory: true,
                size_limit: Some(64 << 20)
            })
        );
        assert_eq!(v.volume("nope"), None);
    }

    #[test]
    fn modes() {
        assert_eq!("warn".parse(), Ok(Mode::Warn));
        assert!("loud".parse::<Mode>().is_err());
        let yaml = GOOD.replace(
            "    resources: {}\n",
            "    livenessProbe: {exec: {command: [\"true\"]}}\n    stdin: true\n",
        );
        let refused = from_yaml(&yaml, Mode::Strict).unwrap_err();
        assert_eq!(
            messages(&refused),
            [
                "18: spec.containers[0].livenessProbe: not supported",
                "19: spec.containers[0].stdin: not supported"
            ]
        );
        let warned = from_yaml(&yaml, Mode::Warn).unwrap();
        let w: Vec<String> = warned.warnings().iter().map(|d| d.to_string()).collect();
        assert_eq!(
            w[0],
            "18: warning: spec.containers[0].livenessProbe: not supported"
        );
        assert_eq!(warned.spec().containers[0].liveness_probe, None);
        assert_eq!(warned.spec().containers[0].stdin, None);
        let ignored = from_yaml(&yaml, Mode::Ignore).unwrap();
        assert_eq!(ignored.warnings(), []);
        assert_eq!(ignored.pod(), warned.pod());
    }

    #[test]
    fn every_problem_at_once_in_file_order() {
        let yaml = "\
apiVersion: v1
kind: Pod
metadata:
  name: Bad_Name
spec:
  nodeSelector: {disk: ssd}
  containers:
  - name: a
    image: busybox
    imagee: typo
    volumeMounts:
    - {name: nope, mountPath: /x}
  - name: a
    image: busybox
";
        let refused = from_yaml(yaml, Mode::Warn).unwrap_err();
        let got = messages(&refused);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got[0].starts_with("4: metadata.name: Invalid value \"Bad_Name\""));
        assert_eq!(got[1], "6: warning: spec.nodeSelector: not supported");
        assert_eq!(got[2], "10: spec.containers[0].imagee: unknown field");
        assert!(
            got[3].starts_with("12: spec.containers[0].volumeMounts[0].name: Not found: \"nope\"")
        );
        assert_eq!(got[4], "13: spec.containers[1].name: Duplicate value \"a\"");
        assert_eq!(refused.errors().count(), 4);
    }

    #[test]
    fn syntax_and_schema_errors_are_placed() {
        let refused = from_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n",
            Mode::Warn,
        )
        .unwrap_err();
        let d = &refused.diagnostics[0];
        assert_eq!((d.line.is_some(), d.column.is_some()), (true, true));
        assert!(
            d.in_file("p.yaml").starts_with("p.yaml:"),
            "{}",
            d.in_file("p.yaml")
        );
        assert!(d.to_string().contains("YAML syntax error"), "{d}");

        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    args: echo hi\n";
        let refused = from_yaml(yaml, Mode::Ignore).unwrap_err();
        assert_eq!(
            refused.diagnostics[0].in_file("p.yaml"),
            "p.yaml:7: spec.containers[0].args: invalid type: string \"echo hi\", expected a sequence"
        );
        let refused = from_yaml("a: 1\n---\nb: 2\n", Mode::Ignore).unwrap_err();
        assert_eq!(
            refused.diagnostics[0].in_file("p.yaml"),
            "p.yaml:2: a second YAML document: a Pod file holds exactly one Pod"
        );
    }

    #[test]
    fn unsupported_volume_sources_become_empty_dirs_when_warned() {
        let yaml = GOOD.replace(
            "  - name: data\n",
            "  - name: data\n    secret: {secretName: s}\n",
        );
        let v = from_yaml(&yaml, Mode::Warn).unwrap();
        assert_eq!(
            v.warnings()[0].to_string(),
            "8: warning: spec.volumes[0].secret: not supported"
        );
        assert!(matches!(
            v.volume("data"),
            Some(VolumeKind::EmptyDir { .. })
        ));
    }

    #[test]
    fn the_example_validates() {
        let text = include_str!("../../../examples/counter.yaml");
        let v = from_yaml(text, Mode::Strict).unwrap();
        assert_eq!(v.name(), "counter");
        assert_eq!(v.spec().containers.len(), 2);
    }
}
