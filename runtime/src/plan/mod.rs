//! The third stage of `podrun run` (parse → validate → **plan** →
//! execute): a validated Pod plus its images' configs and layer
//! directories become a [`Plan`], a pure description of everything the
//! executor creates — the infra (pause) process and its namespaces, the
//! pod's volumes and generated files, and for each container its overlay
//! rootfs, namespaces, mounts (in order) and process. No file is read and
//! no system call made here, so every decision is unit tested without
//! root; what needs the OS (user names, the host's hostname and files) is
//! either passed in ([`PlanSettings`]) or recorded for the executor to
//! resolve (documented on each type).
//!
//! Kubernetes semantics are the kubelet's plus containerd's CRI plugin
//! (what a kubelet node with containerd does), cited where they matter.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde::Serialize;

use crate::pod::{Container, ValidatedPod, VolumeKind};

#[cfg(test)]
mod tests;

/// Where the pause binary appears in a container with `--init`.
pub const INIT_PATH: &str = "/.podrun/pause";

/// PATH when the image sets none: containerd's default spec.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's default capability set (the bounding, effective,
/// permitted sets; inheritable and ambient empty), in its order.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// containerd's default masked paths: hidden (a read-only tmpfs over a
/// directory, /dev/null bound over anything else, as runc does; a path
/// missing in this kernel is skipped).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// containerd's default read-only paths: bound onto themselves and
/// remounted read-only (a missing one is skipped).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes every container gets, bound from the host's `/dev`
/// (see [`MountKind::Bind`] on /dev/null…): binding works wherever
/// podrun runs (also without CAP_MKNOD, or later in a user namespace),
/// and the nodes are the host's own, so nothing can be made wrong; runc
/// does the same whenever it cannot mknod.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Symlinks runc creates in every container's /dev, after its mounts.
pub const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
];

/// What the executor knows about the run, outside the Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// The pod's state directory, e.g. `/run/podrun/<pod>`.
    pub state_dir: PathBuf,
    /// The pause binary on the host (the infra process; with `init`, also
    /// each container's PID 1).
    pub pause_path: PathBuf,
    /// `--init`: run pause in init mode as each container's PID 1.
    pub init: bool,
    /// The host's hostname (`gethostname`): a `hostNetwork` pod has the
    /// host's UTS namespace, so this is its hostname (Kubernetes sets
    /// none for such a pod, and containerd then uses the host's).
    pub host_hostname: String,
}

/// One container's image, as the store has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// The image's config (`Store::read_config` of the manifest's config).
    pub config: ImageConfiguration,
    /// The unpacked layer directories (`<root>/layers/<diff id>`), bottom
    /// (first in the manifest) first.
    pub layers: Vec<PathBuf>,
}

/// The images of a pod: by container name (init containers too).
pub type Images = BTreeMap<String, ImageInfo>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("container {container:?}: no image (the store's config and layers were not passed)")]
    NoImage { container: String },
    #[error("container {container:?}: image {image}: it has no layers, and an overlay needs one")]
    NoLayers { container: String, image: String },
    #[error(
        "container {container:?}: no command: the image has no Entrypoint or Cmd and the Pod sets no command"
    )]
    NoCommand { container: String },
    #[error("container {container:?}: {field}: volume {volume:?} is not a volume of the pod")]
    NoSuchVolume {
        container: String,
        field: String,
        volume: String,
    },
    #[error("container {container:?}: {field}: {value:?} not supported")]
    Unsupported {
        container: String,
        field: String,
        value: String,
    },
    #[error("pod {pod:?}: spec.volumes[{index}]: {detail}")]
    Volume {
        pod: String,
        index: usize,
        detail: String,
    },
    #[error("pod {pod:?}: {field}: {value:?} is not a valid hostname")]
    Hostname {
        pod: String,
        field: &'static str,
        value: String,
    },
}

/// Everything the executor creates for one pod, in the order it does so:
/// volumes and files, the infra, then init containers one after the other
/// and the containers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub pod: String,
    pub namespace: String,
    pub state_dir: PathBuf,
    /// The pod's hostname: in its UTS namespace, /etc/hostname, /etc/hosts
    /// and `HOSTNAME`.
    pub hostname: String,
    pub infra: Infra,
    /// Files the executor writes under `<state_dir>/etc/` before any
    /// container starts; containers bind them read-only.
    pub files: Vec<PodFile>,
    pub volumes: Vec<VolumePlan>,
    pub init_containers: Vec<ContainerPlan>,
    pub containers: Vec<ContainerPlan>,
    pub restart_policy: RestartPolicy,
    /// SIGTERM → SIGKILL (spec.terminationGracePeriodSeconds, default 30).
    pub termination_grace_period_seconds: u64,
}

/// A Linux namespace. Lists of them are in [`NAMESPACE_ORDER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    Net,
    Ipc,
    Uts,
    Pid,
    Mount,
}

/// Order of every namespace list in a plan: joining/creating is one
/// static table, the mount namespace last (it changes what paths mean).
pub const NAMESPACE_ORDER: [Namespace; 5] = [
    Namespace::Net,
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Pid,
    Namespace::Mount,
];

/// The pause process: it holds the pod's shared namespaces for the pod's
/// lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Infra {
    pub argv: Vec<String>,
    /// Namespaces pause gets new (the rest are the host's).
    pub new_namespaces: Vec<Namespace>,
    /// Set in its new UTS namespace; `None` when it has none (hostNetwork).
    pub hostname: Option<String>,
}

/// A file the executor writes before the containers start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodFile {
    /// On the host, under `<state_dir>/etc/`.
    pub path: PathBuf,
    pub content: FileContent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileContent {
    Text(String),
    /// A copy of this host file, taken when the pod starts (later edits
    /// on the host are not seen, as with containerd).
    CopyOf(PathBuf),
}

/// A pod volume, set up before any container starts; containers bind
/// `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumePlan {
    pub name: String,
    /// On the host: the hostPath, or `<state_dir>/volumes/<name>`.
    pub source: PathBuf,
    pub setup: VolumeSetup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeSetup {
    /// What to check or create at `source` (never removed at stop).
    HostPath {
        type_: String,
        action: HostPathAction,
    },
    /// A directory made at `source` (mode 0777 as the kubelet does),
    /// removed with the pod. `tmpfs`: medium Memory, a tmpfs mounted on
    /// it, with `size=` when a sizeLimit is set (else the kernel's default
    /// of half of RAM). For a disk emptyDir `size_limit` is recorded only:
    /// Kubernetes enforces it by eviction, which podrun does not do.
    EmptyDir {
        tmpfs: bool,
        size_limit: Option<u64>,
    },
}

/// Kubernetes' hostPath types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostPathAction {
    /// Type "": nothing checked; a missing path is made a 0755 directory
    /// (with its parents), as containerd does for any missing bind source.
    CreateDirIfMissing,
    /// DirectoryOrCreate: a missing path is made a 0755 directory (with
    /// its parents); an existing one must be a directory.
    DirectoryOrCreate,
    /// FileOrCreate: a missing path is made an empty 0644 file (its
    /// parent must exist, as in Kubernetes); an existing one must be a
    /// file.
    FileOrCreate,
    /// Must exist and be of this kind (Directory, File, Socket,
    /// CharDevice, BlockDevice).
    MustBe(FileKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Directory,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

/// One container (or init container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPlan {
    pub name: String,
    pub image: String,
    pub rootfs: Overlay,
    /// Joined from the infra process (pidfd or /proc/<pause>/ns/*).
    pub join_namespaces: Vec<Namespace>,
    /// Made new for this container (PID: for its children, see
    /// ARCHITECTURE.md).
    pub new_namespaces: Vec<Namespace>,
    /// In order, after the overlay is mounted at `rootfs.merged`; each
    /// `destination` is inside the container. A missing mount point is
    /// created in the rootfs: a directory, or an empty file when the
    /// source is not a directory.
    pub mounts: Vec<Mount>,
    /// `(link, target)`, created once the /dev mounts are done.
    pub dev_symlinks: Vec<(PathBuf, PathBuf)>,
    pub process: Process,
    /// CRI layout: the executor writes `<log_dir>/<restart count>.log`.
    pub log_dir: PathBuf,
}

/// The container's root: an overlay of the image layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// Top-most first, the order of overlayfs' `lowerdir=` (the leftmost
    /// is the top): the image's layers reversed.
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl Overlay {
    /// The `mount -t overlay` data: `lowerdir=…,upperdir=…,workdir=…`.
    /// (Paths with `,` or `:` would need escaping; store paths have none.
    /// Past a page of options the executor must shorten the paths, e.g.
    /// by relative lowerdirs from the store's layers directory.)
    pub fn options(&self) -> String {
        let lower: Vec<String> = self.lower.iter().map(|p| p.display().to_string()).collect();
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        )
    }
}

/// A mount inside the container. `options` are mount(8) spellings, as in
/// an OCI config.json (`nosuid`, `ro`, `mode=755`, `rbind`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub destination: PathBuf,
    pub kind: MountKind,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    Proc,
    Sysfs,
    Tmpfs,
    Devpts,
    Mqueue,
    /// A host path (a device node, a generated file, the pause binary).
    Bind {
        source: PathBuf,
    },
    /// A pod volume. `sub_path` is the Pod's subPath as given (relative,
    /// without `..`, validated): the executor resolves it under `source`
    /// without following any symlink out of the volume (openat2
    /// RESOLVE_IN_ROOT or component by component with O_NOFOLLOW) and
    /// binds what it opened (`/proc/self/fd/N`), so a container cannot
    /// swap a component for a symlink between check and mount. Kubernetes
    /// creates a missing subPath as a directory.
    Volume {
        name: String,
        source: PathBuf,
        sub_path: Option<String>,
    },
    /// Hide `destination`: read-only tmpfs over a directory, /dev/null
    /// bound over anything else; skipped when missing.
    Mask,
    /// Bind `destination` onto itself, read-only; skipped when missing.
    ReadOnly,
}

/// The container's first process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub argv: Vec<String>,
    /// `NAME=value`, in order.
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub user: User,
    pub no_new_privileges: bool,
    /// Bounding, effective and permitted.
    pub capabilities: Vec<String>,
}

/// The user and group to run as, as far as the Pod and the image config
/// say; the executor resolves the rest in the container's rootfs:
/// - a `Name` is looked up in the rootfs' /etc/passwd (or /etc/group);
///   not found is an error;
/// - `group: None` is the user's primary group from /etc/passwd, or 0 when
///   the user has no entry (containerd's `WithUserID`);
/// - supplementary groups are those /etc/group lists the user in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub user: Id,
    pub group: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Id {
    Id(u32),
    Name(String),
}

/// spec.restartPolicy (default Always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// Plans `pod`. `images` has an entry for every container and init
/// container, by name.
pub fn plan(
    pod: &ValidatedPod,
    images: &Images,
    settings: &PlanSettings,
) -> Result<Plan, PlanError> {
    let spec = pod.spec();
    let host_network = spec.host_network == Some(true);
    let host_ipc = spec.host_ipc == Some(true);
    let host_pid = spec.host_pid == Some(true);
    // Validation refuses shareProcessNamespace with hostPID; hostPID wins.
    let share_pid = spec.share_process_namespace == Some(true) && !host_pid;

    let hostname = if host_network {
        settings.host_hostname.clone()
    } else {
        pod_hostname(pod)?
    };

    let mut infra_ns = Vec::new();
    let mut join = Vec::new();
    for ns in NAMESPACE_ORDER {
        let shared = match ns {
            Namespace::Net | Namespace::Uts => !host_network,
            Namespace::Ipc => !host_ipc,
            Namespace::Pid => share_pid,
            Namespace::Mount => false,
        };
        if shared {
            infra_ns.push(ns);
            join.push(ns);
        }
    }
    let mut create = Vec::new();
    if !share_pid && !host_pid {
        create.push(Namespace::Pid);
    }
    create.push(Namespace::Mount);

    let infra = Infra {
        argv: vec![settings.pause_path.display().to_string()],
        hostname: infra_ns.contains(&Namespace::Uts).then(|| hostname.clone()),
        new_namespaces: infra_ns,
    };

    let etc = settings.state_dir.join("etc");
    let files = pod_files(&etc, &hostname, host_network);
    let volumes = plan_volumes(pod, settings)?;

    let ctx = Ctx {
        pod,
        images,
        settings,
        hostname: &hostname,
        etc: &etc,
        volumes: &volumes,
        join: &join,
        create: &create,
    };
    let init_containers = pod
        .init_containers()
        .iter()
        .enumerate()
        .map(|(i, c)| ctx.container(c, &format!("spec.initContainers[{i}]")))
        .collect::<Result<_, _>>()?;
    let containers = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| ctx.container(c, &format!("spec.containers[{i}]")))
        .collect::<Result<_, _>>()?;

    Ok(Plan {
        pod: pod.name().to_owned(),
        namespace: pod.namespace().to_owned(),
        state_dir: settings.state_dir.clone(),
        hostname,
        infra,
        files,
        volumes,
        init_containers,
        containers,
        restart_policy: match spec.restart_policy.as_deref() {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        },
        termination_grace_period_seconds: spec
            .termination_grace_period_seconds
            .map_or(30, |s| s.max(0) as u64),
    })
}

/// The kubelet's pod hostname: spec.hostname, else the pod's name cut to
/// 63 characters without a trailing `-` or `.`
/// (`truncatePodHostnameIfNeeded`).
fn pod_hostname(pod: &ValidatedPod) -> Result<String, PlanError> {
    let (field, name) = match pod.spec().hostname.as_deref() {
        Some(h) if !h.is_empty() => ("spec.hostname", h),
        _ => ("metadata.name", pod.name()),
    };
    let cut = name
        .get(..name.len().min(63))
        .unwrap_or(name)
        .trim_end_matches(['-', '.']);
    if cut.is_empty() {
        return Err(PlanError::Hostname {
            pod: pod.name().to_owned(),
            field,
            value: name.to_owned(),
        });
    }
    Ok(cut.to_owned())
}

/// /etc/hosts, /etc/hostname, /etc/resolv.conf for every container.
/// - hosts: the kubelet's managed file, with the pod IP 127.0.0.1 (there
///   is no pod network yet); a hostNetwork pod gets the host's /etc/hosts,
///   as from the kubelet.
/// - resolv.conf: the host's. The kubelet's default dnsPolicy
///   (ClusterFirst) falls back to the host's when there is no cluster DNS,
///   which is the case on one machine.
fn pod_files(etc: &Path, hostname: &str, host_network: bool) -> Vec<PodFile> {
    let hosts = if host_network {
        FileContent::CopyOf("/etc/hosts".into())
    } else {
        FileContent::Text(format!(
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             127.0.0.1\t{hostname}\n"
        ))
    };
    vec![
        PodFile {
            path: etc.join("hosts"),
            content: hosts,
        },
        PodFile {
            path: etc.join("hostname"),
            content: FileContent::Text(format!("{hostname}\n")),
        },
        PodFile {
            path: etc.join("resolv.conf"),
            content: FileContent::CopyOf("/etc/resolv.conf".into()),
        },
    ]
}

fn plan_volumes(pod: &ValidatedPod, settings: &PlanSettings) -> Result<Vec<VolumePlan>, PlanError> {
    let mut out = Vec::new();
    for (index, v) in pod.spec().volumes.iter().flatten().enumerate() {
        let err = |detail: String| PlanError::Volume {
            pod: pod.name().to_owned(),
            index,
            detail,
        };
        let plan = match pod.volume(&v.name) {
            Some(VolumeKind::HostPath { path, type_ }) => {
                let action = match type_ {
                    "" => HostPathAction::CreateDirIfMissing,
                    "DirectoryOrCreate" => HostPathAction::DirectoryOrCreate,
                    "FileOrCreate" => HostPathAction::FileOrCreate,
                    "Directory" => HostPathAction::MustBe(FileKind::Directory),
                    "File" => HostPathAction::MustBe(FileKind::File),
                    "Socket" => HostPathAction::MustBe(FileKind::Socket),
                    "CharDevice" => HostPathAction::MustBe(FileKind::CharDevice),
                    "BlockDevice" => HostPathAction::MustBe(FileKind::BlockDevice),
                    other => return Err(err(format!("hostPath.type {other:?} not supported"))),
                };
                VolumePlan {
                    name: v.name.clone(),
                    source: PathBuf::from(path),
                    setup: VolumeSetup::HostPath {
                        type_: type_.to_owned(),
                        action,
                    },
                }
            }
            Some(VolumeKind::EmptyDir { memory, size_limit }) => VolumePlan {
                name: v.name.clone(),
                source: settings.state_dir.join("volumes").join(&v.name),
                setup: VolumeSetup::EmptyDir {
                    tmpfs: memory,
                    size_limit,
                },
            },
            None => return Err(err("neither hostPath nor emptyDir".to_owned())),
        };
        out.push(plan);
    }
    Ok(out)
}

/// What every container's plan is made from.
struct Ctx<'a> {
    pod: &'a ValidatedPod,
    images: &'a Images,
    settings: &'a PlanSettings,
    hostname: &'a str,
    etc: &'a Path,
    volumes: &'a [VolumePlan],
    join: &'a [Namespace],
    create: &'a [Namespace],
}

impl Ctx<'_> {
    fn container(&self, c: &Container, field: &str) -> Result<ContainerPlan, PlanError> {
        let name = &c.name;
        let image = self.images.get(name).ok_or_else(|| PlanError::NoImage {
            container: name.clone(),
        })?;
        if image.layers.is_empty() {
            return Err(PlanError::NoLayers {
                container: name.clone(),
                image: c.image.clone().unwrap_or_default(),
            });
        }
        let dir = self.settings.state_dir.join("containers").join(name);
        let rootfs = Overlay {
            lower: image.layers.iter().rev().cloned().collect(),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("rootfs"),
        };
        let config = image.config.config().clone().unwrap_or_default();

        let container_env = container_env(self.pod, c, field)?;
        let mut argv = command(c, &config, &container_env)?;
        if self.settings.init {
            argv.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
        }

        // PATH default, HOSTNAME, image Env, container env: a later
        // variable replaces an earlier one in place (containerd's
        // `WithEnv`).
        let mut env = vec![
            DEFAULT_PATH.to_owned(),
            format!("HOSTNAME={}", self.hostname),
        ];
        for e in config.env().iter().flatten() {
            set_env(&mut env, e.clone());
        }
        for (k, v) in &container_env {
            set_env(&mut env, format!("{k}={v}"));
        }

        let cwd = match (c.working_dir.as_deref(), config.working_dir().as_deref()) {
            (Some(w), _) if !w.is_empty() => w,
            (_, Some(w)) if !w.is_empty() => w,
            _ => "/",
        };

        Ok(ContainerPlan {
            name: name.clone(),
            image: c.image.clone().unwrap_or_default(),
            rootfs,
            join_namespaces: self.join.to_vec(),
            new_namespaces: self.create.to_vec(),
            mounts: self.mounts(c, field)?,
            dev_symlinks: DEV_SYMLINKS
                .iter()
                .map(|(l, t)| (PathBuf::from(l), PathBuf::from(t)))
                .collect(),
            process: Process {
                argv,
                env,
                cwd: PathBuf::from(cwd),
                user: user(c, config.user().as_deref()),
                no_new_privileges: true,
                capabilities: DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            },
            log_dir: self.settings.state_dir.join("logs").join(name),
        })
    }

    /// The kernel file systems (runc's and containerd's defaults), then
    /// the generated files, the volumes and the pause binary sorted by
    /// depth (containerd sorts them so /a is mounted before /a/b), then
    /// the masked and read-only paths, last so nothing mounts over them.
    fn mounts(&self, c: &Container, field: &str) -> Result<Vec<Mount>, PlanError> {
        let opts = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let fs = |dest: &str, kind: MountKind, o: &[&str]| Mount {
            destination: dest.into(),
            kind,
            options: opts(o),
        };
        let mut mounts = vec![
            fs("/proc", MountKind::Proc, &["nosuid", "noexec", "nodev"]),
            fs(
                "/sys",
                MountKind::Sysfs,
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            fs(
                "/dev",
                MountKind::Tmpfs,
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
        ];
        for d in DEVICES {
            let path = format!("/dev/{d}");
            mounts.push(Mount {
                destination: path.clone().into(),
                kind: MountKind::Bind {
                    source: path.into(),
                },
                options: opts(&["bind"]),
            });
        }
        mounts.extend([
            fs(
                "/dev/pts",
                MountKind::Devpts,
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            // Per container, as runc's default (containerd would bind the
            // sandbox's /dev/shm so the pod's containers share it).
            fs(
                "/dev/shm",
                MountKind::Tmpfs,
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            fs(
                "/dev/mqueue",
                MountKind::Mqueue,
                &["nosuid", "noexec", "nodev"],
            ),
        ]);

        let ro_bind = ["rbind", "rprivate", "ro"];
        let mut user_mounts = Vec::new();
        for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
            let Some(v) = self.volumes.iter().find(|v| v.name == m.name) else {
                return Err(PlanError::NoSuchVolume {
                    container: c.name.clone(),
                    field: format!("{field}.volumeMounts[{i}].name"),
                    volume: m.name.clone(),
                });
            };
            let ro = m.read_only == Some(true);
            user_mounts.push(Mount {
                destination: m.mount_path.clone().into(),
                kind: MountKind::Volume {
                    name: m.name.clone(),
                    source: v.source.clone(),
                    sub_path: m.sub_path.clone().filter(|s| !s.is_empty()),
                },
                options: opts(if ro { &ro_bind } else { &ro_bind[..2] }),
            });
        }
        // A volume mounted on one of these replaces it (the kubelet does
        // not add /etc/hosts then).
        for f in ["hosts", "hostname", "resolv.conf"] {
            let dest = Path::new("/etc").join(f);
            if !user_mounts.iter().any(|m| m.destination == dest) {
                user_mounts.push(Mount {
                    destination: dest,
                    kind: MountKind::Bind {
                        source: self.etc.join(f),
                    },
                    options: opts(&ro_bind),
                });
            }
        }
        if self.settings.init {
            user_mounts.push(Mount {
                destination: INIT_PATH.into(),
                kind: MountKind::Bind {
                    source: self.settings.pause_path.clone(),
                },
                options: opts(&ro_bind),
            });
        }
        // Stable: same depth keeps the order above.
        user_mounts.sort_by_key(|m| m.destination.components().count());
        mounts.extend(user_mounts);

        for p in MASKED_PATHS {
            mounts.push(fs(p, MountKind::Mask, &[]));
        }
        for p in READONLY_PATHS {
            mounts.push(fs(p, MountKind::ReadOnly, &["ro"]));
        }
        Ok(mounts)
    }
}

/// Replaces `NAME=` in place, or appends.
fn set_env(env: &mut Vec<String>, var: String) {
    let key = var.split('=').next().unwrap_or_default();
    match env
        .iter_mut()
        .find(|e| e.split('=').next().unwrap_or_default() == key)
    {
        Some(e) => *e = var,
        None => env.push(var),
    }
}

/// The container's env as the kubelet computes it
/// (`makeEnvironmentVariables`): in order, a value expanded with the
/// variables defined before it, a fieldRef resolved; a later duplicate
/// replaces the earlier value (kept at the first position). The image's
/// Env is not seen by `$(VAR)`, as in Kubernetes.
fn container_env(
    pod: &ValidatedPod,
    c: &Container,
    field: &str,
) -> Result<Vec<(String, String)>, PlanError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, e) in c.env.iter().flatten().enumerate() {
        let value = match (e.value.as_deref(), &e.value_from) {
            (Some(v), _) if !v.is_empty() => expand(v, &lookup(&out)),
            (_, Some(from)) => match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                Some("metadata.name") => pod.name().to_owned(),
                Some("metadata.namespace") => pod.namespace().to_owned(),
                other => {
                    return Err(PlanError::Unsupported {
                        container: c.name.clone(),
                        field: format!("{field}.env[{i}].valueFrom"),
                        value: other.unwrap_or("(not a fieldRef)").to_owned(),
                    });
                }
            },
            _ => String::new(),
        };
        match out.iter_mut().find(|(k, _)| *k == e.name) {
            Some(slot) => slot.1 = value,
            None => out.push((e.name.clone(), value)),
        }
    }
    Ok(out)
}

fn lookup(env: &[(String, String)]) -> HashMap<&str, &str> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion):
/// `$(VAR)` becomes VAR's value when defined and stays as is when not;
/// `$$` becomes `$` (so `$$(VAR)` is the literal `$(VAR)`); any other `$`,
/// an unclosed `$(`, and a trailing `$` stay as they are.
pub fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(next) = after.strip_prefix('$') {
            out.push('$');
            rest = next;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let name = &inner[..close];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// argv as the kubelet and containerd make it: command and args expanded
/// with the container's env (kubelet `ExpandContainerCommandAndArgs`),
/// then (containerd `WithProcessArgs`): command set → command + args (the
/// image's Entrypoint and Cmd ignored); only args → Entrypoint + args;
/// neither → Entrypoint + Cmd; empty → error.
fn command(
    c: &Container,
    config: &oci_spec::image::Config,
    env: &[(String, String)],
) -> Result<Vec<String>, PlanError> {
    let vars = lookup(env);
    let expand_all = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter().flatten().map(|s| expand(s, &vars)).collect()
    };
    let mut command = expand_all(&c.command);
    let mut args = expand_all(&c.args);
    if command.is_empty() {
        if args.is_empty() {
            args = config.cmd().clone().unwrap_or_default();
        }
        command = config.entrypoint().clone().unwrap_or_default();
    }
    command.extend(args);
    if command.is_empty() {
        return Err(PlanError::NoCommand {
            container: c.name.clone(),
        });
    }
    Ok(command)
}

/// The user, exactly as a kubelet with containerd decides it: the kubelet
/// takes the user part of the image's `User` (a number or a name; "" is
/// uid 0) unless runAsUser is set, and sends it with runAsGroup;
/// containerd runs that. So the group in an image's `User` ("1000:1000")
/// is ignored in Kubernetes (kubernetes/kubernetes#61967, #93666): the
/// group is runAsGroup, else the user's primary group.
fn user(c: &Container, image_user: Option<&str>) -> User {
    let sc = c.security_context.as_ref();
    let id = |n: i64| Id::Id(u32::try_from(n).unwrap_or(u32::MAX));
    let user = match sc.and_then(|s| s.run_as_user) {
        Some(uid) => id(uid),
        None => {
            let name = image_user.unwrap_or_default();
            let name = name.split(':').next().unwrap_or_default();
            if name.is_empty() {
                Id::Id(0)
            } else {
                match name.parse::<u32>() {
                    Ok(uid) => Id::Id(uid),
                    Err(_) => Id::Name(name.to_owned()),
                }
            }
        }
    };
    User {
        user,
        group: sc.and_then(|s| s.run_as_group).map(id),
    }
}
