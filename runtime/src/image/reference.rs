//! Image references as users type them (`busybox`, `quay.io/x/y:1.2`,
//! `localhost:5000/a@sha256:…`), normalized the way docker, podman and the
//! kubelet do: a name without a registry is on `docker.io`, a single
//! component there is under `library/`, and no tag means `latest`.
//! Pure parsing; nothing here touches the network or the disk.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("image reference {0:?}: empty")]
    Empty(String),
    #[error("image reference {reference:?}: {why}")]
    Invalid {
        reference: String,
        why: &'static str,
    },
}

/// A fully qualified reference: registry host, repository path, and a tag
/// and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

pub const DOCKER_HUB: &str = "docker.io";

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let bad = |why| ReferenceError::Invalid {
            reference: input.to_owned(),
            why,
        };
        if input.is_empty() {
            return Err(ReferenceError::Empty(input.to_owned()));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains white space or control characters"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                check_digest(d).map_err(bad)?;
                (r, Some(d.to_owned()))
            }
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/' (a ':'
        // before it belongs to a registry port).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(bad)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ if name.contains('/') => (DOCKER_HUB.to_owned(), name.to_owned()),
            _ => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        check_registry(&registry).map_err(bad)?;
        check_repository(&repository).map_err(bad)?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn check_digest(d: &str) -> Result<(), &'static str> {
    let hex = d
        .strip_prefix("sha256:")
        .ok_or("only sha256 digests are supported")?;
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err("a sha256 digest has 64 lowercase hex digits")
    }
}

fn check_tag(t: &str) -> Result<(), &'static str> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'")
    }
}

fn check_registry(r: &str) -> Result<(), &'static str> {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err("the registry must be a host name with an optional :port")
    }
}

/// Path components: lowercase alphanumerics separated by '.', '_', '__'
/// or runs of '-' (the distribution spec's grammar).
fn check_repository(path: &str) -> Result<(), &'static str> {
    const WHY: &str = "repository path components are lowercase letters and digits, separated by '.', '_', '__' or '-'";
    if path.is_empty() || path.len() > 255 {
        return Err(WHY);
    }
    for comp in path.split('/') {
        let b = comp.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return Err(WHY);
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &comp[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
                return Err(WHY);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn short_names_resolve_like_docker_and_podman() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            norm("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(norm("localhost/pause"), "localhost/pause:latest");
        assert_eq!(
            norm("127.0.0.1:5000/k8s/pause:0.1.0"),
            "127.0.0.1:5000/k8s/pause:0.1.0"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm(&format!("mirror.local:5000/x@{d}")),
            format!("mirror.local:5000/x@{d}")
        );
        assert_eq!(
            norm(&format!("x:1@{d}")),
            format!("docker.io/library/x:1@{d}")
        );
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (input, says) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busy box", "white space"),
            ("busybox:", "a tag is"),
            ("busybox:-x", "a tag is"),
            ("busybox@md5:abc", "only sha256"),
            ("busybox@sha256:abc", "64 lowercase hex"),
            ("a//b", "lowercase"),
            ("bad_host.:5000/x", "registry"),
            ("x.io:port/y", "registry"),
        ] {
            let err = Reference::parse(input).unwrap_err().to_string();
            assert!(err.contains(says), "{input:?}: {err}");
        }
    }
}
