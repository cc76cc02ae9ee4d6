//! Pod YAML → a JSON tree that knows the line of every field path → the
//! typed k8s-openapi `Pod`.
//!
//! The tree is built from the YAML parser's events rather than through a
//! serde YAML deserializer: that is what lets every later message (an
//! unknown field, a bad name, an unsupported probe) name its line, and lets
//! this module refuse what Kubernetes refuses and serde YAML crates let
//! through (a key given twice). Scalars are resolved by the YAML 1.2 core
//! schema, and a value's type must match the Kubernetes field as the API
//! server demands (`value: 123` for an env var is refused, quote it).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Pod;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};
use serde_json::{Map, Number, Value};

/// Deeper than any Pod (about 10 levels); keeps recursion bounded.
pub const MAX_DEPTH: usize = 64;
/// Values in the document, aliases expanded: bounds "billion laughs".
pub const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("YAML syntax error: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no YAML document in the file")]
    Empty,
    #[error("a second YAML document: a Pod file holds exactly one Pod")]
    MultipleDocuments { line: usize },
    #[error("the document is {what}, not a mapping (a Pod)")]
    NotMapping { line: usize, what: &'static str },
    #[error("{path}: duplicate key (first given on line {first})")]
    DuplicateKey {
        path: String,
        line: usize,
        first: usize,
    },
    #[error("{path}: a mapping key must be a plain string")]
    ComplexKey { path: String, line: usize },
    #[error("{path}: YAML merge keys (<<) are not supported")]
    MergeKey { path: String, line: usize },
    #[error("{path}: YAML tag {tag} is not supported")]
    Tag {
        path: String,
        line: usize,
        tag: String,
    },
    #[error("{path}: alias to an anchor that is not defined before it")]
    Alias { path: String, line: usize },
    #[error("{path}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep { path: String, line: usize },
    #[error("more than {MAX_NODES} values (aliases expanded)")]
    TooLarge { line: usize },
    #[error("{path}: Required value: must be {want}")]
    Required {
        path: &'static str,
        want: &'static str,
    },
    #[error("{path}: Unsupported value {found}: must be {want}")]
    WrongValue {
        path: &'static str,
        found: String,
        want: &'static str,
    },
    /// The document does not fit the Kubernetes types (wrong type, missing
    /// required field); serde stops at the first.
    #[error("{}{message}", at(path))]
    Schema { path: String, message: String },
    #[error("{path}: unknown field")]
    UnknownField { path: String },
}

/// `path: `, or nothing for the document itself.
fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl ParseError {
    /// The line the error is on, when the error knows it itself (the others
    /// are placed by their path, see [`Document::line_of`]).
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Syntax { line, .. }
            | ParseError::MultipleDocuments { line }
            | ParseError::NotMapping { line, .. }
            | ParseError::DuplicateKey { line, .. }
            | ParseError::ComplexKey { line, .. }
            | ParseError::MergeKey { line, .. }
            | ParseError::Tag { line, .. }
            | ParseError::Alias { line, .. }
            | ParseError::TooDeep { line, .. }
            | ParseError::TooLarge { line } => Some(*line),
            _ => None,
        }
    }

    /// The column (1-based) of a syntax error.
    pub fn column(&self) -> Option<usize> {
        match self {
            ParseError::Syntax { column, .. } => Some(*column),
            _ => None,
        }
    }

    /// The field path the error is about, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            ParseError::DuplicateKey { path, .. }
            | ParseError::ComplexKey { path, .. }
            | ParseError::MergeKey { path, .. }
            | ParseError::Tag { path, .. }
            | ParseError::Alias { path, .. }
            | ParseError::TooDeep { path, .. }
            | ParseError::Schema { path, .. }
            | ParseError::UnknownField { path } => Some(path),
            ParseError::Required { path, .. } | ParseError::WrongValue { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl From<ScanError> for ParseError {
    fn from(e: ScanError) -> ParseError {
        ParseError::Syntax {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        }
    }
}

/// The Pod document as JSON, with the line of every key and list item.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    lines: BTreeMap<String, usize>,
}

impl Document {
    /// The line of `path` (`spec.containers[1].image`), or of its nearest
    /// ancestor in the file (a missing field is placed at its parent).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            p = &p[..p.rfind(['.', '['])?];
        }
    }
}

/// `parent.key`: the path syntax of kubectl, and of serde_path_to_error
/// (so a schema error's path finds its line).
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Reads the one YAML document of a Pod file. A second document is
/// refused (podrun runs one Pod per file), except an empty one, which
/// kubectl skips too (a trailing `---`).
pub fn parse_yaml(text: &str) -> Result<Document, ParseError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        lines: BTreeMap::new(),
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut document: Option<Value> = None;
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let (event, first) = builder.next()?;
                let empty =
                    matches!(&event, Event::Scalar(v, ScalarStyle::Plain, 0, None) if v.is_empty());
                if document.is_some() {
                    if empty {
                        continue;
                    }
                    return Err(ParseError::MultipleDocuments {
                        line: span.start.line(),
                    });
                }
                if empty {
                    continue;
                }
                let value = builder.node(event, first, "", 0)?;
                if !value.is_object() {
                    return Err(ParseError::NotMapping {
                        line: first.start.line(),
                        what: kind(&value),
                    });
                }
                document = Some(value);
            }
            // StreamStart, DocumentEnd.
            _ => {}
        }
    }
    Ok(Document {
        value: document.ok_or(ParseError::Empty)?,
        lines: builder.lines,
    })
}

/// The typed Pod: apiVersion and kind first (with their own messages), then
/// the Kubernetes types, which report the path of the first mismatch.
pub fn to_pod(doc: &Document) -> Result<Pod, ParseError> {
    for (path, want, json) in [("apiVersion", "\"v1\"", "v1"), ("kind", "\"Pod\"", "Pod")] {
        match doc.value.get(path) {
            None | Some(Value::Null) => return Err(ParseError::Required { path, want }),
            Some(v) if v.as_str() != Some(json) => {
                return Err(ParseError::WrongValue {
                    path,
                    found: v.to_string(),
                    want,
                })
            }
            Some(_) => {}
        }
    }
    serde_path_to_error::deserialize(&doc.value).map_err(|e| {
        let path = e.path().to_string();
        ParseError::Schema {
            path: if path == "." { String::new() } else { path },
            message: e.inner().to_string(),
        }
    })
}

/// Every field of `raw` (the file) that the typed Pod dropped: the
/// k8s-openapi types skip unknown fields, the API server refuses them
/// (kubectl's default strict field validation), and so do we. `typed` is
/// the typed Pod serialized back; a null in the file is no field.
pub fn unknown_fields(raw: &Value, typed: &Value) -> Vec<ParseError> {
    let mut out = Vec::new();
    diff(raw, typed, "", &mut out);
    out
}

fn diff(raw: &Value, typed: &Value, path: &str, out: &mut Vec<ParseError>) {
    match (raw, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (key, value) in r {
                let child = join(path, key);
                match t.get(key) {
                    Some(tv) => diff(value, tv, &child, out),
                    None if value.is_null() => {}
                    None => out.push(ParseError::UnknownField { path: child }),
                }
            }
        }
        (Value::Array(r), Value::Array(t)) => {
            for (i, (rv, tv)) in r.iter().zip(t).enumerate() {
                diff(rv, tv, &index(path, i), out);
            }
        }
        _ => {}
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

struct Builder<'a> {
    parser: Parser<'a, StrInput<'a>>,
    lines: BTreeMap<String, usize>,
    /// Anchor id → its value and how many values it holds.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), ParseError> {
        match self.parser.next_event() {
            Some(result) => Ok(result?),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), ParseError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(ParseError::TooLarge { line });
        }
        Ok(())
    }

    /// The value starting with `event`, at `path`.
    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        path: &str,
        depth: usize,
    ) -> Result<Value, ParseError> {
        let line = span.start.line();
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep {
                path: path.to_owned(),
                line,
            });
        }
        let start = self.nodes;
        self.count(1, line)?;
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(text, style, tag.as_deref(), path, line)?, anchor)
            }
            Event::Alias(id) => {
                let Some((value, n)) = self.anchors.get(&id) else {
                    return Err(ParseError::Alias {
                        path: path.to_owned(),
                        line,
                    });
                };
                let (value, n) = (value.clone(), *n);
                self.count(n, line)?;
                return Ok(value);
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_deref(), "seq", path, line)?;
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let child = index(path, items.len());
                    self.lines.insert(child.clone(), span.start.line());
                    items.push(self.node(event, span, &child, depth + 1)?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), "map", path, line)?;
                let mut map = Map::new();
                loop {
                    let (event, span) = self.next()?;
                    let key_line = span.start.line();
                    let key = match event {
                        Event::MappingEnd => break,
                        Event::Scalar(text, style, _, _) => {
                            if style == ScalarStyle::Plain && text == "<<" {
                                return Err(ParseError::MergeKey {
                                    path: path.to_owned(),
                                    line: key_line,
                                });
                            }
                            text.into_owned()
                        }
                        _ => {
                            return Err(ParseError::ComplexKey {
                                path: path.to_owned(),
                                line: key_line,
                            })
                        }
                    };
                    let child = join(path, &key);
                    if map.contains_key(&key) {
                        return Err(ParseError::DuplicateKey {
                            first: self.lines.get(&child).copied().unwrap_or(0),
                            path: child,
                            line: key_line,
                        });
                    }
                    self.lines.insert(child.clone(), key_line);
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, &child, depth + 1)?;
                    map.insert(key, value);
                }
                (Value::Object(map), anchor)
            }
            // The parser only starts a value with one of the above.
            _ => {
                return Err(ParseError::Syntax {
                    line,
                    column: span.start.col() + 1,
                    message: "unexpected event".into(),
                })
            }
        };
        if anchor != 0 {
            self.anchors
                .insert(anchor, (value.clone(), self.nodes - start));
        }
        Ok(value)
    }
}

/// Collections may carry only their own core-schema tag (`!!map`, `!!seq`).
fn check_tag(tag: Option<&Tag>, own: &str, path: &str, line: usize) -> Result<(), ParseError> {
    match tag {
        None => Ok(()),
        Some(t) if t.is_yaml_core_schema() && t.suffix == own => Ok(()),
        Some(t) => Err(ParseError::Tag {
            path: path.to_owned(),
            line,
            tag: t.to_string(),
        }),
    }
}

/// A scalar by the YAML 1.2 core schema: quoted (or `!!str`) is a string,
/// plain is null, a boolean, a number or else a string.
fn scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    path: &str,
    line: usize,
) -> Result<Value, ParseError> {
    if let Some(t) = tag {
        let resolved = resolve_plain(&text);
        let ok = t.is_yaml_core_schema()
            && match t.suffix.as_str() {
                "str" => return Ok(Value::String(text.into_owned())),
                "null" => resolved.is_null(),
                "bool" => resolved.is_boolean(),
                "int" => resolved.is_i64() || resolved.is_u64(),
                "float" => resolved.is_number(),
                _ => false,
            };
        if !ok {
            return Err(ParseError::Tag {
                path: path.to_owned(),
                line,
                tag: t.to_string(),
            });
        }
        return Ok(resolved);
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.into_owned()));
    }
    Ok(resolve_plain(&text))
}

/// YAML 1.2.2 section 10.3.2 (core schema tag resolution).
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    let int = if let Some(h) = s.strip_prefix("0x").filter(|h| digits(h, 16)) {
        u64::from_str_radix(h, 16).ok().map(Number::from)
    } else if let Some(o) = s.strip_prefix("0o").filter(|o| digits(o, 8)) {
        u64::from_str_radix(o, 8).ok().map(Number::from)
    } else if digits(s.strip_prefix(['-', '+']).unwrap_or(s), 10) {
        s.parse::<i64>()
            .map(Number::from)
            .or_else(|_| s.trim_start_matches('+').parse::<u64>().map(Number::from))
            .ok()
    } else {
        None
    };
    if let Some(n) = int {
        return Value::Number(n);
    }
    if is_core_float(s) {
        // A finite float (JSON has no infinities or NaN: `.inf` stays a
        // string, which no Pod field wants).
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_owned())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let all_digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => all_digits(a) && all_digits(b) && !(a.is_empty() && b.is_empty()),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Value, ParseError> {
        parse_yaml(text).map(|d| d.value)
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain(""), Value::Null);
        assert_eq!(resolve_plain("TRUE"), json!(true));
        assert_eq!(resolve_plain("False"), json!(false));
        assert_eq!(resolve_plain("42"), json!(42));
        assert_eq!(resolve_plain("-7"), json!(-7));
        assert_eq!(resolve_plain("+7"), json!(7));
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("0o17"), json!(15));
        assert_eq!(resolve_plain("1.5"), json!(1.5));
        assert_eq!(resolve_plain("1e3"), json!(1000.0));
        assert_eq!(resolve_plain(".5"), json!(0.5));
        assert_eq!(resolve_plain("18446744073709551615"), json!(u64::MAX));
        // YAML 1.1 booleans and octals are strings in 1.2.
        for s in [
            "yes", "no", "on", "off", "y", "0x", "1.2.3", "1e", ".", "-", ".inf",
        ] {
            assert_eq!(resolve_plain(s), json!(s), "{s}");
        }
    }

    #[test]
    fn quoted_and_tagged_scalars() {
        let v = parse("a: '1'\nb: \"true\"\nc: !!str 5\nd: !!int 5\ne: |\n  x\n").unwrap();
        assert_eq!(
            v,
            json!({"a": "1", "b": "true", "c": "5", "d": 5, "e": "x\n"})
        );
        assert!(matches!(
            parse("a: !!int x\n"),
            Err(ParseError::Tag { line: 1, .. })
        ));
        assert!(matches!(
            parse("a: !custom x\n"),
            Err(ParseError::Tag { .. })
        ));
    }

    #[test]
    fn lines_of_paths() {
        let doc = parse_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    image: b\n  - name: c\n",
        )
        .unwrap();
        assert_eq!(doc.line_of("metadata.name"), Some(4));
        assert_eq!(doc.line_of("spec.containers[0]"), Some(7));
        assert_eq!(doc.line_of("spec.containers[0].image"), Some(8));
        assert_eq!(doc.line_of("spec.containers[1].name"), Some(9));
        // Missing fields are placed at their nearest ancestor.
        assert_eq!(doc.line_of("spec.containers[1].image"), Some(9));
        assert_eq!(doc.line_of("spec.volumes[0].name"), Some(5));
        assert_eq!(doc.line_of("status"), None);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse("a: b\n  c: d\n").unwrap_err();
        let ParseError::Syntax { line, column, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!((line, column), (2, 4));
        assert!(matches!(
            parse("a: [1, 2\n"),
            Err(ParseError::Syntax { .. })
        ));
        assert!(matches!(
            parse("a:\n\t- b\n"),
            Err(ParseError::Syntax { .. })
        ));
    }

    #[test]
    fn one_document_only() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err, ParseError::MultipleDocuments { line: 2 });
        assert!(err.to_string().contains("a second YAML document"));
        // Empty documents are skipped, as kubectl does.
        assert_eq!(parse("---\na: 1\n---\n").unwrap(), json!({"a": 1}));
        assert_eq!(parse("# only\n# comments\n"), Err(ParseError::Empty));
        assert_eq!(parse(""), Err(ParseError::Empty));
    }

    #[test]
    fn the_document_is_a_mapping() {
        assert_eq!(
            parse("- a\n- b\n"),
            Err(ParseError::NotMapping {
                line: 1,
                what: "a list"
            })
        );
        assert!(matches!(
            parse("just text\n"),
            Err(ParseError::NotMapping { .. })
        ));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::DuplicateKey {
                path: "b.c".into(),
                line: 4,
                first: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "b.c: duplicate key (first given on line 3)"
        );
    }

    #[test]
    fn keys_must_be_plain_strings() {
        assert!(matches!(
            parse("? [a]\n: 1\n"),
            Err(ParseError::ComplexKey { .. })
        ));
        assert!(matches!(
            parse("a: &x {b: 1}\nc:\n  <<: *x\n"),
            Err(ParseError::MergeKey { line: 3, .. })
        ));
        // A number as a key is its text, as Kubernetes reads it.
        assert_eq!(parse("1: a\n").unwrap(), json!({"1": "a"}));
    }

    #[test]
    fn aliases_are_expanded_and_bounded() {
        assert_eq!(
            parse("a: &x [1, 2]\nb: *x\n").unwrap(),
            json!({"a": [1, 2], "b": [1, 2]})
        );
        // Billion laughs: each level doubles.
        let mut bomb = String::from("a0: &a0 [x, x]\n");
        for i in 1..40 {
            bomb += &format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1);
        }
        assert!(matches!(parse(&bomb), Err(ParseError::TooLarge { .. })));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let err = parse(&format!("a: {deep}\n")).unwrap_err();
        assert!(matches!(err, ParseError::TooDeep { .. }), "{err:?}");
    }

    #[test]
    fn api_version_and_kind() {
        let pod = |head: &str| {
            to_pod(
                &parse_yaml(&format!(
                    "{head}metadata: {{name: x}}\nspec: {{containers: []}}\n"
                ))
                .unwrap(),
            )
        };
        assert!(pod("apiVersion: v1\nkind: Pod\n").is_ok());
        let err = pod("apiVersion: apps/v1\nkind: Pod\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "apiVersion: Unsupported value \"apps/v1\": must be \"v1\""
        );
        let err = pod("apiVersion: v1\nkind: Deployment\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind: Unsupported value \"Deployment\": must be \"Pod\""
        );
        let err = pod("kind: Pod\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "apiVersion: Required value: must be \"v1\""
        );
        assert!(pod("apiVersion: 1\nkind: Pod\n").is_err());
    }

    #[test]
    fn schema_errors_name_the_path() {
        let doc = parse_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    env:\n    - name: N\n      value: 123\n",
        )
        .unwrap();
        let err = to_pod(&doc).unwrap_err();
        assert_eq!(err.path(), Some("spec.containers[0].env[0].value"));
        assert!(
            err.to_string().contains("invalid type: integer `123`"),
            "{err}"
        );
        assert_eq!(doc.line_of(err.path().unwrap()), Some(9));

        let doc =
            parse_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: {}\n")
                .unwrap();
        let err = to_pod(&doc).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.containers: invalid type: map, expected a sequence"
        );
    }

    #[test]
    fn unknown_fields_are_found() {
        let doc = parse_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x, nmae: y}\nspec:\n  containers:\n  - name: a\n    imagee: b\n    livenessProbe: null\n  bogus: {deep: 1}\n",
        )
        .unwrap();
        let pod = to_pod(&doc).unwrap();
        let typed = serde_json::to_value(&pod).unwrap();
        let paths: Vec<_> = unknown_fields(&doc.value, &typed)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "metadata.nmae: unknown field",
                "spec.bogus: unknown field",
                "spec.containers[0].imagee: unknown field"
            ]
        );
    }
}
