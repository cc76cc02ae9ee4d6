//! Talking to registries over the OCI distribution API: where to fetch a
//! reference from (registries.conf mirrors and insecure settings), with
//! which credentials (auth.json), and the HTTP exchange itself (token and
//! basic authentication).
//!
//! Why a small client of our own on `ureq` rather than `oci-client`: the
//! latter brings an async runtime and ~150 crates, holds whole layers in
//! memory with `pull()`, and never checks descriptor sizes. What podrun
//! needs is a handful of GETs, streamed blobs we verify ourselves, and the
//! two authentication schemes registries use (RFC 7617 basic and the
//! distribution token flow).

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::reference::{Reference, DOCKER_HUB};

pub const DEFAULT_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registries.conf {path}: {why}")]
    Conf { path: PathBuf, why: String },
    #[error("auth file {path}: {why}")]
    AuthFile { path: PathBuf, why: String },
    #[error("{reference}: registry {registry} is blocked in {path}")]
    Blocked {
        reference: String,
        registry: String,
        path: PathBuf,
    },
    #[error("{url}: {why}")]
    Http { url: String, why: String },
    #[error("{url}: {status} {why}")]
    Status {
        url: String,
        status: u16,
        why: String,
    },
    #[error("{url}: unauthorized (HTTP 401){hint}")]
    Unauthorized { url: String, hint: &'static str },
}

type Result<T> = std::result::Result<T, RegistryError>;

// ---- registries.conf ------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    pub path: PathBuf,
    pub registries: Vec<RegistryEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryEntry {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub mirror: Vec<MirrorEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MirrorEntry {
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Deserialize)]
struct ConfFile {
    #[serde(default)]
    registry: Vec<RegistryEntry>,
}

/// One place to try: a registry host, the repository there, and whether
/// it may be reached without verified TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub registry: String,
    pub repository: String,
    pub insecure: bool,
    pub mirror: bool,
}

impl RegistriesConf {
    /// Reads `path`, or the system file if it exists (none: no mirrors).
    pub fn load(path: Option<&Path>) -> Result<RegistriesConf> {
        let (path, must_exist) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_REGISTRIES_CONF), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(RegistriesConf {
                    path,
                    registries: Vec::new(),
                })
            }
            Err(e) => Err(RegistryError::Conf {
                path,
                why: e.to_string(),
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<RegistriesConf> {
        let conf_err = |why: String| RegistryError::Conf {
            path: path.to_path_buf(),
            why,
        };
        let file: ConfFile = toml::from_str(text).map_err(|e| conf_err(e.to_string()))?;
        let mut registries = Vec::new();
        for (i, mut r) in file.registry.into_iter().enumerate() {
            if r.location.is_empty() {
                match &r.prefix {
                    // A prefix alone (e.g. to block it) applies in place.
                    Some(p) => r.location = p.clone(),
                    None => {
                        return Err(conf_err(format!(
                            "[[registry]] {i}: needs a location or a prefix"
                        )))
                    }
                }
            }
            if r.mirror.iter().any(|m| m.location.is_empty()) {
                return Err(conf_err(format!(
                    "[[registry]] {i} ({}): a mirror needs a location",
                    r.location
                )));
            }
            registries.push(r);
        }
        Ok(RegistriesConf {
            path: path.to_path_buf(),
            registries,
        })
    }

    /// Where to fetch `reference` from: the mirrors of the entry whose
    /// prefix matches it best (longest), in order, then its own location.
    pub fn endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>> {
        let name = reference.name();
        let best = self
            .registries
            .iter()
            .filter(|r| prefix_matches(r.prefix.as_deref().unwrap_or(&r.location), &name))
            .max_by_key(|r| r.prefix.as_deref().unwrap_or(&r.location).len());
        let Some(entry) = best else {
            return Ok(vec![Endpoint {
                registry: reference.registry.clone(),
                repository: reference.repository.clone(),
                insecure: false,
                mirror: false,
            }]);
        };
        if entry.blocked {
            return Err(RegistryError::Blocked {
                reference: reference.to_string(),
                registry: entry.prefix.clone().unwrap_or(entry.location.clone()),
                path: self.path.clone(),
            });
        }
        let prefix = entry.prefix.as_deref().unwrap_or(&entry.location);
        let rest = &name[prefix.len()..];
        let mut out = Vec::new();
        for (location, insecure, mirror) in entry
            .mirror
            .iter()
            .map(|m| (m.location.as_str(), m.insecure, true))
            .chain(std::iter::once((
                entry.location.as_str(),
                entry.insecure,
                false,
            )))
        {
            let full = format!("{location}{rest}");
            let (registry, repository) = full.split_once('/').unwrap_or((full.as_str(), ""));
            out.push(Endpoint {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                insecure,
                mirror,
            });
        }
        Ok(out)
    }
}

/// `prefix` matches `name` at a path boundary (`docker.io` matches
/// `docker.io/library/x`, not `docker.iox/y`).
fn prefix_matches(prefix: &str, name: &str) -> bool {
    name == prefix
        || (name.starts_with(prefix)
            && (prefix.ends_with('/') || name[prefix.len()..].starts_with('/')))
}

// ---- credentials -------------------------------------------------------------

/// Credentials from the files podman, skopeo and docker use.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    entries: HashMap<String, (String, String)>,
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

impl Auth {
    /// `path` if given; else the first of `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `/run/containers/0/auth.json`
    /// (root), `~/.config/containers/auth.json`, `~/.docker/config.json`
    /// that exists.
    pub fn load(path: Option<&Path>) -> Result<Auth> {
        let candidates: Vec<(PathBuf, bool)> = match path {
            Some(p) => vec![(p.to_path_buf(), true)],
            None => {
                let mut c = Vec::new();
                if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
                    c.push((PathBuf::from(p), true));
                }
                if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
                    c.push((Path::new(&d).join("containers/auth.json"), false));
                }
                c.push((PathBuf::from("/run/containers/0/auth.json"), false));
                if let Some(h) = std::env::var_os("HOME") {
                    c.push((Path::new(&h).join(".config/containers/auth.json"), false));
                    c.push((Path::new(&h).join(".docker/config.json"), false));
                }
                c
            }
        };
        for (p, must_exist) in candidates {
            match std::fs::read(&p) {
                Ok(bytes) => return Self::parse(&bytes, &p),
                Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(RegistryError::AuthFile {
                        path: p,
                        why: e.to_string(),
                    })
                }
            }
        }
        Ok(Auth::default())
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Auth> {
        let err = |why: String| RegistryError::AuthFile {
            path: path.to_path_buf(),
            why,
        };
        let file: AuthFile = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        let mut entries = HashMap::new();
        for (key, entry) in file.auths {
            let Some(auth) = entry.auth else { continue };
            let decoded = base64_decode(&auth)
                .ok_or_else(|| err(format!("auths.{key:?}.auth is not base64")))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| err(format!("auths.{key:?}.auth is not UTF-8")))?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| err(format!("auths.{key:?}.auth is not USER:PASSWORD")))?;
            // Keys are "host[:port]", sometimes with a scheme or a path.
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let host = host.split('/').next().unwrap_or(host);
            let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
                DOCKER_HUB
            } else {
                host
            };
            entries.insert(host.to_owned(), (user.to_owned(), pass.to_owned()));
        }
        Ok(Auth { entries })
    }

    pub fn for_registry(&self, registry: &str) -> Option<&(String, String)> {
        self.entries.get(registry)
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

pub fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= (b as u32) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---- HTTP --------------------------------------------------------------------

/// The manifest media types we accept, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

pub struct Client {
    /// HTTPS only, redirects included: for registries that must use TLS.
    agent: ureq::Agent,
    /// May follow plain HTTP: only for insecure or loopback registries.
    agent_http: ureq::Agent,
    auth: Auth,
    /// Plain HTTP to 127.0.0.0/8, ::1 and localhost is allowed.
    pub insecure_loopback: bool,
}

/// A conversation with one registry about one repository; keeps the
/// bearer token it earned.
pub struct Session<'a> {
    client: &'a Client,
    agent: &'a ureq::Agent,
    allow_http: bool,
    pub endpoint: Endpoint,
    base: String,
    authorization: Option<String>,
}

pub struct Fetched {
    pub body: Box<dyn Read + Send + Sync + 'static>,
    pub content_type: Option<String>,
    pub digest_header: Option<String>,
    pub length: Option<u64>,
}

impl Client {
    pub fn new(auth: Auth, insecure_loopback: bool) -> Client {
        let agent = |https_only: bool| -> ureq::Agent {
            ureq::Agent::config_builder()
                // We look at every status ourselves (401 starts authentication).
                .http_status_as_error(false)
                .https_only(https_only)
                .timeout_connect(Some(Duration::from_secs(30)))
                // A registry that stops answering must not hold the store's
                // lock for ever; bodies may take long, but not to start.
                .timeout_recv_response(Some(Duration::from_secs(120)))
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                        .build(),
                )
                .user_agent(concat!("podrun/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        Client {
            agent: agent(true),
            agent_http: agent(false),
            auth,
            insecure_loopback,
        }
    }

    fn may_use_http(&self, ep: &Endpoint) -> bool {
        ep.insecure || (self.insecure_loopback && is_loopback(&ep.registry))
    }

    /// Opens a session: HTTPS, or for an insecure/loopback registry HTTPS
    /// then plain HTTP, whichever answers `/v2/`.
    pub fn session(&self, endpoint: &Endpoint) -> Result<Session<'_>> {
        let host = if endpoint.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            endpoint.registry.as_str()
        };
        let schemes: &[&str] = if self.may_use_http(endpoint) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let allow_http = self.may_use_http(endpoint);
        let agent = if allow_http {
            &self.agent_http
        } else {
            &self.agent
        };
        let mut last = None;
        for scheme in schemes {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            match agent.get(&url).call() {
                Ok(_) => {
                    return Ok(Session {
                        client: self,
                        agent,
                        allow_http,
                        endpoint: endpoint.clone(),
                        base,
                        authorization: None,
                    });
                }
                Err(e) => {
                    last = Some(RegistryError::Http {
                        url,
                        why: e.to_string(),
                    })
                }
            }
        }
        let mut err = last.expect("at least one scheme was tried");
        if !self.may_use_http(endpoint) {
            if let RegistryError::Http { why, .. } = &mut err {
                why.push_str(if is_loopback(&endpoint.registry) {
                    " (plain HTTP to a loopback registry needs --insecure-loopback)"
                } else {
                    " (plain HTTP needs `insecure = true` for this registry in registries.conf)"
                });
            }
        }
        Err(err)
    }
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Session<'_> {
    pub fn manifest(&mut self, reference: &str) -> Result<Fetched> {
        let path = format!("/v2/{}/manifests/{reference}", self.endpoint.repository);
        self.get(&path, Some(MANIFEST_ACCEPT))
    }

    pub fn blob(&mut self, digest: &str) -> Result<Fetched> {
        let path = format!("/v2/{}/blobs/{digest}", self.endpoint.repository);
        self.get(&path, None)
    }

    fn get(&mut self, path: &str, accept: Option<&str>) -> Result<Fetched> {
        let url = format!("{}{path}", self.base);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(auth) = &self.authorization {
                req = req.header("Authorization", auth);
            }
            let resp = req.call().map_err(|e| RegistryError::Http {
                url: url.clone(),
                why: e.to_string(),
            })?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if status == 401 && attempt == 0 {
                let challenge = header("www-authenticate").unwrap_or_default();
                self.authenticate(&url, &challenge)?;
                continue;
            }
            if status == 401 {
                let hint = if self
                    .client
                    .auth
                    .for_registry(&self.endpoint.registry)
                    .is_some()
                {
                    " with the credentials in the auth file"
                } else {
                    "; no credentials for this registry in auth.json (--authfile, REGISTRY_AUTH_FILE)"
                };
                return Err(RegistryError::Unauthorized { url, hint });
            }
            if !(200..300).contains(&status) {
                let why = match status {
                    404 => "not found".to_owned(),
                    _ => resp
                        .status()
                        .canonical_reason()
                        .unwrap_or("error")
                        .to_owned(),
                };
                return Err(RegistryError::Status { url, status, why });
            }
            let content_type = header("content-type");
            let digest_header = header("docker-content-digest");
            let length = header("content-length").and_then(|v| v.parse().ok());
            let body = resp.into_body().into_reader();
            return Ok(Fetched {
                body: Box::new(body),
                content_type,
                digest_header,
                length,
            });
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Answers a `WWW-Authenticate` challenge: basic credentials as they
    /// are, or a bearer token from the realm (with the credentials, if any).
    fn authenticate(&mut self, url: &str, challenge: &str) -> Result<()> {
        let creds = self
            .client
            .auth
            .for_registry(&self.endpoint.registry)
            .cloned();
        let basic = creds
            .as_ref()
            .map(|(u, p)| format!("Basic {}", base64_encode(format!("{u}:{p}").as_bytes())));
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let Some(basic) = basic else {
                    return Err(RegistryError::Unauthorized {
                        url: url.to_owned(),
                        hint: "; no credentials for this registry in auth.json (--authfile, REGISTRY_AUTH_FILE)",
                    });
                };
                self.authorization = Some(basic);
                Ok(())
            }
            "bearer" => {
                let realm = params
                    .get("realm")
                    .cloned()
                    .ok_or_else(|| RegistryError::Http {
                        url: url.to_owned(),
                        why: format!("bearer challenge without a realm: {challenge:?}"),
                    })?;
                let mut token_url = realm.clone();
                let mut sep = if realm.contains('?') { '&' } else { '?' };
                for key in ["service", "scope"] {
                    if let Some(v) = params.get(key) {
                        token_url.push_str(&format!("{sep}{key}={}", query_escape(v)));
                        sep = '&';
                    }
                }
                if !params.contains_key("scope") {
                    token_url.push_str(&format!(
                        "{sep}scope=repository:{}:pull",
                        self.endpoint.repository
                    ));
                }
                // Credentials go to the token service only over TLS, unless
                // the registry itself may be reached in the clear.
                if token_url.starts_with("http://") && !self.allow_http {
                    return Err(RegistryError::Http {
                        url: token_url,
                        why: "the token service is plain HTTP; refusing to send credentials there"
                            .into(),
                    });
                }
                let mut req = self.agent.get(&token_url);
                if let Some(b) = &basic {
                    req = req.header("Authorization", b);
                }
                let resp = req.call().map_err(|e| RegistryError::Http {
                    url: token_url.clone(),
                    why: e.to_string(),
                })?;
                if !resp.status().is_success() {
                    return Err(RegistryError::Status {
                        url: token_url,
                        status: resp.status().as_u16(),
                        why: "the token service refused".into(),
                    });
                }
                #[derive(Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let body = resp
                    .into_body()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .map_err(|e| RegistryError::Http {
                        url: token_url.clone(),
                        why: e.to_string(),
                    })?;
                let t: Token = serde_json::from_slice(&body).map_err(|e| RegistryError::Http {
                    url: token_url.clone(),
                    why: format!("token response: {e}"),
                })?;
                let token = t
                    .token
                    .or(t.access_token)
                    .ok_or_else(|| RegistryError::Http {
                        url: token_url,
                        why: "token response holds no token".into(),
                    })?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(())
            }
            _ => Err(RegistryError::Unauthorized {
                url: url.to_owned(),
                hint: "; the registry asks for an authentication scheme podrun does not speak",
            }),
        }
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Bearer realm="https://x/token",service="reg",scope="repository:a:pull"`
/// -> ("Bearer", {realm, service, scope}).
fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_owned(), &q[end + 1..]),
                None => (q.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        params.insert(key, value);
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_owned(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_and_rewrite_the_prefix() {
        let conf = RegistriesConf::parse(
            r#"
            unqualified-search-registries = ["docker.io"]
            [[registry]]
            prefix = "docker.io"
            location = "docker.io"
            [[registry.mirror]]
            location = "mirror.local:5000"
            insecure = true
            [[registry]]
            location = "quay.io/secret"
            blocked = true
            "#,
            Path::new("r.conf"),
        )
        .unwrap();
        let r = Reference::parse("busybox").unwrap();
        let eps = conf.endpoints(&r).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(
            (
                eps[0].registry.as_str(),
                eps[0].repository.as_str(),
                eps[0].insecure
            ),
            ("mirror.local:5000", "library/busybox", true)
        );
        assert_eq!(
            (
                eps[1].registry.as_str(),
                eps[1].repository.as_str(),
                eps[1].insecure
            ),
            ("docker.io", "library/busybox", false)
        );
        let err = conf
            .endpoints(&Reference::parse("quay.io/secret/x").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("blocked"), "{err}");
        // Not a path-boundary match: quay.io/secretive is not blocked.
        assert_eq!(
            conf.endpoints(&Reference::parse("quay.io/secretive/x").unwrap())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn bad_registries_conf_names_the_file() {
        let err = RegistriesConf::parse("[[registry]]\ninsecure = 3\n", Path::new("/etc/x.conf"))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("registries.conf /etc/x.conf:"),
            "{err}"
        );
    }

    #[test]
    fn auth_json_keys_and_base64() {
        let auth = Auth::parse(
            br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjN0"}}}"#,
            Path::new("a.json"),
        )
        .unwrap();
        assert_eq!(
            auth.for_registry("docker.io"),
            Some(&("u".into(), "p".into()))
        );
        assert_eq!(
            auth.for_registry("127.0.0.1:5000"),
            Some(&("alice".into(), "s3cr3t".into()))
        );
        assert_eq!(base64_encode(b"alice:s3cr3t"), "YWxpY2U6czNjcjN0");
        for s in ["", "a", "ab", "abc", "abcd", "hello world!"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
    }

    #[test]
    fn bearer_challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/busybox:pull");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("Basic", "Registry Realm")
        );
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.1:5000", "mirror.local:5000", "docker.io"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
