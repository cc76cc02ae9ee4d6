//! `cri-sandbox`: runs, inspects, stops and removes pod sandboxes through a
//! CRI runtime's unix socket (CRI v1; containerd 1.6 in the runtime tests).
//!
//! Only what the tests need: one call per invocation, one line of JSON on
//! stdout, and on failure a message naming the step that failed plus a
//! non-zero exit (1: the runtime call failed, 2: bad command line).
//!
//!     cri-sandbox --socket PATH run --name NAME [--namespace NS] [--uid UID]
//!         → {"id": "...", "pid": N, "state": "SANDBOX_READY"}
//!     cri-sandbox --socket PATH status ID  → {"id": "...", "state": "..."}
//!     cri-sandbox --socket PATH stop ID
//!     cri-sandbox --socket PATH remove ID

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StopPodSandboxRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

const USAGE: &str = "usage: cri-sandbox --socket PATH run --name NAME [--namespace NS] [--uid UID]
       cri-sandbox --socket PATH status|stop|remove ID";

/// Bound on every CRI call. RunPodSandbox includes pulling the sandbox
/// image, which for the tests' local registry takes well under a second.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq)]
enum Cmd {
    Run {
        name: String,
        namespace: String,
        uid: String,
    },
    Status(String),
    Stop(String),
    Remove(String),
}

/// A failure, named after the step that failed.
struct Error {
    step: &'static str,
    detail: String,
}

impl Error {
    fn at(step: &'static str) -> impl FnOnce(tonic::Status) -> Error {
        move |s| Error {
            step,
            detail: format!("{} ({:?})", s.message(), s.code()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} failed: {}", self.step, self.detail)
    }
}

fn main() -> ExitCode {
    let (socket, cmd) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("cri-sandbox: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cri-sandbox: starting the async runtime failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(socket, cmd)) {
        Ok(line) => {
            if let Some(line) = line {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cri-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(PathBuf, Cmd), String> {
    if args.next().as_deref() != Some("--socket") {
        return Err("--socket PATH comes first".into());
    }
    let socket = PathBuf::from(args.next().ok_or("--socket needs a path")?);
    let verb = args.next().ok_or("missing command")?;
    let cmd = match verb.as_str() {
        "run" => {
            let (mut name, mut namespace, mut uid) = (None, None, None);
            while let Some(flag) = args.next() {
                let slot = match flag.as_str() {
                    "--name" => &mut name,
                    "--namespace" => &mut namespace,
                    "--uid" => &mut uid,
                    _ => return Err(format!("run: unknown argument {flag:?}")),
                };
                *slot = Some(args.next().ok_or(format!("{flag} needs a value"))?);
            }
            let name: String = name.ok_or("run needs --name NAME")?;
            Cmd::Run {
                // Kubernetes gives every pod a unique UID; containerd keys
                // the sandbox name on it, so the default must not repeat.
                uid: uid.unwrap_or_else(|| format!("{name}-{}", std::process::id())),
                namespace: namespace.unwrap_or_else(|| "default".into()),
                name,
            }
        }
        "status" | "stop" | "remove" => {
            let id = args.next().ok_or(format!("{verb} needs a sandbox ID"))?;
            match verb.as_str() {
                "status" => Cmd::Status(id),
                "stop" => Cmd::Stop(id),
                _ => Cmd::Remove(id),
            }
        }
        _ => return Err(format!("unknown command {verb:?}")),
    };
    if let Some(extra) = args.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    Ok((socket, cmd))
}

/// Runs one command; returns the line to print, if any.
async fn execute(socket: PathBuf, cmd: Cmd) -> Result<Option<String>, Error> {
    let mut client = RuntimeServiceClient::new(connect(socket).await?);
    match cmd {
        Cmd::Run {
            name,
            namespace,
            uid,
        } => {
            let id = client
                .run_pod_sandbox(RunPodSandboxRequest {
                    config: Some(sandbox_config(name, namespace, uid)),
                    runtime_handler: String::new(),
                })
                .await
                .map_err(Error::at("RunPodSandbox"))?
                .into_inner()
                .pod_sandbox_id;
            let (state, info) = status(&mut client, &id).await?;
            let pid = sandbox_pid(&info).map_err(|detail| Error {
                step: "reading the sandbox pid from PodSandboxStatus",
                detail,
            })?;
            Ok(Some(
                serde_json::json!({"id": id, "pid": pid, "state": state}).to_string(),
            ))
        }
        Cmd::Status(id) => {
            let (state, _) = status(&mut client, &id).await?;
            Ok(Some(
                serde_json::json!({"id": id, "state": state}).to_string(),
            ))
        }
        Cmd::Stop(id) => {
            client
                .stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: id })
                .await
                .map_err(Error::at("StopPodSandbox"))?;
            Ok(None)
        }
        Cmd::Remove(id) => {
            client
                .remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
                .await
                .map_err(Error::at("RemovePodSandbox"))?;
            Ok(None)
        }
    }
}

/// A gRPC channel over the runtime's unix socket. tonic only dials URIs, so
/// the connector ignores the (placeholder) URI and opens the socket itself.
async fn connect(socket: PathBuf) -> Result<Channel, Error> {
    let endpoint = Endpoint::from_static("http://[::]:0").timeout(CALL_TIMEOUT);
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .map_err(|e| Error {
            step: "connecting to the CRI socket",
            detail: format!("{e}: {}", source_chain(&e)),
        })
}

/// The pod: host network (the tests run without CNI), so an empty hostname
/// (the runtime refuses to set one in the host's UTS namespace); pod-level
/// PID and IPC namespaces as a kubelet asks for by default.
fn sandbox_config(name: String, namespace: String, uid: String) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name,
            uid,
            namespace,
            attempt: 0,
        }),
        hostname: String::new(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node.into(),
                    pid: NamespaceMode::Pod.into(),
                    ipc: NamespaceMode::Pod.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// PodSandboxStatus{verbose: true}: the state's name and the `info` map.
async fn status(
    client: &mut RuntimeServiceClient<Channel>,
    id: &str,
) -> Result<(String, HashMap<String, String>), Error> {
    let resp = client
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: true,
        })
        .await
        .map_err(Error::at("PodSandboxStatus"))?
        .into_inner();
    let state = resp.status.as_ref().map_or("UNKNOWN".to_string(), |s| {
        PodSandboxState::try_from(s.state).map_or_else(
            |_| format!("UNKNOWN({})", s.state),
            |st| st.as_str_name().into(),
        )
    });
    Ok((state, resp.info))
}

/// containerd puts the sandbox process's host pid in the verbose `info`
/// map: `info["info"]` is a JSON document with a top-level `pid`.
fn sandbox_pid(info: &HashMap<String, String>) -> Result<u64, String> {
    let doc = info
        .get("info")
        .ok_or("the runtime returned no info[\"info\"] (not containerd?)")?;
    let value: serde_json::Value =
        serde_json::from_str(doc).map_err(|e| format!("info[\"info\"] is not JSON: {e}"))?;
    value["pid"]
        .as_u64()
        .ok_or_else(|| "info[\"info\"] has no numeric \"pid\"".to_string())
}

/// tonic's transport errors say little at the top ("transport error"); the
/// cause (e.g. "No such file or directory") is further down the chain.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split_whitespace().map(String::from)
    }

    #[test]
    fn parses_run_with_defaults_and_flags() {
        let (socket, cmd) = parse(args("--socket /s run --name p --uid u1")).unwrap();
        assert_eq!(socket, PathBuf::from("/s"));
        assert_eq!(
            cmd,
            Cmd::Run {
                name: "p".into(),
                namespace: "default".into(),
                uid: "u1".into()
            }
        );
        let (_, cmd) = parse(args("--socket /s run --namespace ns --name p")).unwrap();
        assert!(matches!(cmd, Cmd::Run { namespace, .. } if namespace == "ns"));
    }

    #[test]
    fn parses_the_id_commands() {
        for (verb, want) in [
            ("status", Cmd::Status("abc".into())),
            ("stop", Cmd::Stop("abc".into())),
            ("remove", Cmd::Remove("abc".into())),
        ] {
            let line = format!("--socket /s {verb} abc");
            assert_eq!(parse(args(&line)).unwrap().1, want);
        }
    }

    #[test]
    fn rejects_bad_command_lines() {
        for line in [
            "",
            "run --name p",
            "--socket /s",
            "--socket /s run",
            "--socket /s run --name",
            "--socket /s run --name p --bogus x",
            "--socket /s stop",
            "--socket /s stop a b",
            "--socket /s frob x",
        ] {
            assert!(parse(args(line)).is_err(), "{line:?} should be rejected");
        }
    }

    #[test]
    fn reads_the_pid_from_verbose_info() {
        let mut info = HashMap::new();
        info.insert("info".to_string(), r#"{"pid": 4242, "image": "x"}"#.into());
        assert_eq!(sandbox_pid(&info), Ok(4242));
        info.insert("info".to_string(), r#"{"image": "x"}"#.into());
        assert!(sandbox_pid(&info).is_err());
        assert!(sandbox_pid(&HashMap::new()).is_err());
    }
}
