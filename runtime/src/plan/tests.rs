use super::*;
use crate::pod::{from_yaml, Mode};

fn settings() -> PlanSettings {
    PlanSettings {
        state_dir: "/run/podrun/p".into(),
        pause_path: "/usr/libexec/podrun/pause".into(),
        init: false,
        host_hostname: "node1".into(),
    }
}

/// An image config with this `config` object (busybox-like by default).
fn image(config: serde_json::Value) -> ImageInfo {
    let doc = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": config,
    });
    ImageInfo {
        config: serde_json::from_value(doc).unwrap(),
        layers: vec!["/l/bottom".into(), "/l/middle".into(), "/l/top".into()],
    }
}

fn busybox() -> ImageInfo {
    image(serde_json::json!({"Cmd": ["sh"], "Env": ["PATH=/bin:/usr/bin"]}))
}

/// A pod from its `spec:` body (indented two spaces), every container
/// with `img`.
fn pod(spec: &str) -> ValidatedPod {
    let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n{spec}");
    from_yaml(&yaml, Mode::Strict).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn plan_with(pod: &ValidatedPod, img: &ImageInfo, s: &PlanSettings) -> Result<Plan, PlanError> {
    let images = pod
        .init_containers()
        .iter()
        .chain(&pod.spec().containers)
        .map(|c| (c.name.clone(), img.clone()))
        .collect();
    plan(pod, &images, s)
}

fn one(container: &str, img: &ImageInfo) -> Result<ContainerPlan, PlanError> {
    let p = pod(&format!(
        "  containers:\n  - name: c\n    image: i\n{container}"
    ));
    plan_with(&p, img, &settings()).map(|mut p| p.containers.remove(0))
}

fn argv(container: &str, img: serde_json::Value) -> Result<Vec<String>, PlanError> {
    one(container, &image(img)).map(|c| c.process.argv)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn argv_follows_kubernetes_command_args_entrypoint_cmd() {
    let img = serde_json::json!({"Entrypoint": ["/ep"], "Cmd": ["cmd"]});
    // Neither: Entrypoint + Cmd.
    assert_eq!(argv("", img.clone()).unwrap(), strings(&["/ep", "cmd"]));
    // Only args: Entrypoint + args.
    assert_eq!(
        argv("    args: [a, b]\n", img.clone()).unwrap(),
        strings(&["/ep", "a", "b"])
    );
    // Only command: command, no Cmd.
    assert_eq!(
        argv("    command: [/bin/x]\n", img.clone()).unwrap(),
        strings(&["/bin/x"])
    );
    // Both: command + args.
    assert_eq!(
        argv("    command: [/bin/x]\n    args: [a]\n", img).unwrap(),
        strings(&["/bin/x", "a"])
    );
    // Only Cmd in the image.
    assert_eq!(
        argv("", serde_json::json!({"Cmd": ["sh"]})).unwrap(),
        strings(&["sh"])
    );
}

#[test]
fn no_command_anywhere_is_an_error() {
    let err = argv("", serde_json::json!({})).unwrap_err();
    assert_eq!(
        err,
        PlanError::NoCommand {
            container: "c".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "container \"c\": no command: the image has no Entrypoint or Cmd and the Pod sets no command"
    );
    // The image config may have no `config` at all.
    let mut img = image(serde_json::json!({}));
    img.config.set_config(None);
    assert!(matches!(one("", &img), Err(PlanError::NoCommand { .. })));
}

#[test]
fn dollar_var_expansion_as_kubernetes() {
    let vars: HashMap<&str, &str> = [("A", "x"), ("EMPTY", "")].into_iter().collect();
    let cases = [
        ("$(A)", "x"),
        ("pre-$(A)-post", "pre-x-post"),
        ("$(EMPTY)", ""),
        ("$(UNDEFINED)", "$(UNDEFINED)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$x"),
        ("$$", "$"),
        ("$A", "$A"),
        ("$(A", "$(A"),
        ("a$", "a$"),
        ("$()", "$()"),
        ("é$(A)é", "éxé"),
    ];
    for (input, want) in cases {
        assert_eq!(expand(input, &vars), want, "{input}");
    }
    let got = argv(
        "    command: [echo, '$(A)', '$$(A)', '$(NOPE)']\n    env:\n    - {name: A, value: one}\n",
        serde_json::json!({}),
    )
    .unwrap();
    assert_eq!(got, strings(&["echo", "one", "$(A)", "$(NOPE)"]));
    // Image Env is not seen by the expansion.
    let got = argv(
        "    command: ['$(IMG)']\n",
        serde_json::json!({"Env": ["IMG=no"]}),
    )
    .unwrap();
    assert_eq!(got, strings(&["$(IMG)"]));
}

#[test]
fn env_order_override_and_field_refs() {
    let c = one(
        "    env:
    - {name: B, value: '$(A)-b'}
    - {name: A, value: a}
    - {name: C, value: '$(A)-c'}
    - {name: PATH, value: /mine}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - {name: A, value: again}
    - {name: E}
",
        &image(serde_json::json!({"Cmd": ["sh"], "Env": ["X=1", "A=image"]})),
    )
    .unwrap();
    assert_eq!(
        c.process.env,
        strings(&[
            "PATH=/mine",
            "HOSTNAME=p",
            "X=1",
            "A=again",
            // B refers to A before A is defined: kept as is.
            "B=$(A)-b",
            "C=a-c",
            "POD=p",
            "NS=default",
            "E=",
        ])
    );
    // The default PATH when the image has none.
    let c = one("", &image(serde_json::json!({"Cmd": ["sh"]}))).unwrap();
    assert_eq!(c.process.env, strings(&[DEFAULT_PATH, "HOSTNAME=p"]));
}

#[test]
fn working_dir_precedence() {
    let with = |img: serde_json::Value| image(img);
    let c = one(
        "    workingDir: /pod\n",
        &with(serde_json::json!({"Cmd": ["sh"], "WorkingDir": "/img"})),
    );
    assert_eq!(c.unwrap().process.cwd, PathBuf::from("/pod"));
    let c = one(
        "",
        &with(serde_json::json!({"Cmd": ["sh"], "WorkingDir": "/img"})),
    );
    assert_eq!(c.unwrap().process.cwd, PathBuf::from("/img"));
    let c = one(
        "",
        &with(serde_json::json!({"Cmd": ["sh"], "WorkingDir": ""})),
    );
    assert_eq!(c.unwrap().process.cwd, PathBuf::from("/"));
    let c = one("", &busybox());
    assert_eq!(c.unwrap().process.cwd, PathBuf::from("/"));
}

#[test]
fn user_precedence() {
    let user = |sc: &str, image_user: &str| {
        one(
            sc,
            &image(serde_json::json!({"Cmd": ["sh"], "User": image_user})),
        )
        .unwrap()
        .process
        .user
    };
    let u = |user: Id, group: Option<Id>| User { user, group };
    // No user anywhere: root, primary group from /etc/passwd.
    assert_eq!(user("", ""), u(Id::Id(0), None));
    assert_eq!(user("", "1000"), u(Id::Id(1000), None));
    // The image's group is ignored, as by the kubelet.
    assert_eq!(user("", "1000:1000"), u(Id::Id(1000), None));
    assert_eq!(user("", "nobody"), u(Id::Name("nobody".into()), None));
    assert_eq!(
        user("", "nobody:nogroup"),
        u(Id::Name("nobody".into()), None)
    );
    let sc = |s: &str| format!("    securityContext: {{{s}}}\n");
    assert_eq!(user(&sc("runAsUser: 5"), "1000:1000"), u(Id::Id(5), None));
    assert_eq!(user(&sc("runAsUser: 5"), "nobody"), u(Id::Id(5), None));
    assert_eq!(
        user(&sc("runAsGroup: 7"), "1000:1000"),
        u(Id::Id(1000), Some(Id::Id(7)))
    );
    assert_eq!(
        user(&sc("runAsGroup: 7"), "nobody"),
        u(Id::Name("nobody".into()), Some(Id::Id(7)))
    );
    assert_eq!(
        user(&sc("runAsGroup: 7"), ""),
        u(Id::Id(0), Some(Id::Id(7)))
    );
    assert_eq!(
        user(&sc("runAsUser: 5, runAsGroup: 6"), "nobody:x"),
        u(Id::Id(5), Some(Id::Id(6)))
    );
}

fn namespaces(spec_fields: &str) -> (Infra, Vec<Namespace>, Vec<Namespace>) {
    let p = pod(&format!(
        "{spec_fields}  containers:\n  - name: c\n    image: i\n"
    ));
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    let c = &plan.containers[0];
    (
        plan.infra.clone(),
        c.join_namespaces.clone(),
        c.new_namespaces.clone(),
    )
}

#[test]
fn namespaces_by_host_and_share_settings() {
    use Namespace::*;
    let (infra, join, new) = namespaces("");
    assert_eq!(infra.new_namespaces, [Net, Ipc, Uts]);
    assert_eq!(infra.hostname.as_deref(), Some("p"));
    assert_eq!(infra.argv, ["/usr/libexec/podrun/pause"]);
    assert_eq!((join, new), (vec![Net, Ipc, Uts], vec![Pid, Mount]));

    let (infra, join, new) = namespaces("  shareProcessNamespace: true\n");
    assert_eq!(infra.new_namespaces, [Net, Ipc, Uts, Pid]);
    assert_eq!((join, new), (vec![Net, Ipc, Uts, Pid], vec![Mount]));

    let (infra, join, new) = namespaces("  hostNetwork: true\n");
    assert_eq!(infra.new_namespaces, [Ipc]);
    assert_eq!(infra.hostname, None);
    assert_eq!((join, new), (vec![Ipc], vec![Pid, Mount]));

    let (infra, join, new) = namespaces("  hostIPC: true\n");
    assert_eq!(infra.new_namespaces, [Net, Uts]);
    assert_eq!((join, new), (vec![Net, Uts], vec![Pid, Mount]));

    let (infra, join, new) = namespaces("  hostPID: true\n");
    assert_eq!(infra.new_namespaces, [Net, Ipc, Uts]);
    assert_eq!((join, new), (vec![Net, Ipc, Uts], vec![Mount]));

    let (infra, join, new) =
        namespaces("  hostNetwork: true\n  hostIPC: true\n  shareProcessNamespace: true\n");
    assert_eq!(infra.new_namespaces, [Pid]);
    assert_eq!((join, new), (vec![Pid], vec![Mount]));

    let (infra, join, new) = namespaces("  hostNetwork: true\n  hostIPC: true\n  hostPID: true\n");
    assert_eq!(infra.new_namespaces, []);
    assert_eq!((join, new), (vec![], vec![Mount]));
}

#[test]
fn hostname_files_and_host_network() {
    let p = pod("  hostname: web\n  containers:\n  - name: c\n    image: i\n");
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    assert_eq!(plan.hostname, "web");
    assert!(plan.containers[0]
        .process
        .env
        .contains(&"HOSTNAME=web".to_owned()));
    let FileContent::Text(hosts) = &plan.files[0].content else {
        panic!("{:?}", plan.files[0]);
    };
    assert_eq!(plan.files[0].path, PathBuf::from("/run/podrun/p/etc/hosts"));
    assert!(hosts.contains("127.0.0.1\tlocalhost\n"));
    assert!(hosts.contains("::1\tlocalhost"));
    assert!(hosts.ends_with("127.0.0.1\tweb\n"));
    assert_eq!(plan.files[1].content, FileContent::Text("web\n".into()));
    assert_eq!(
        plan.files[2].content,
        FileContent::CopyOf("/etc/resolv.conf".into())
    );

    let p = pod("  hostNetwork: true\n  containers:\n  - name: c\n    image: i\n");
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    assert_eq!(plan.hostname, "node1");
    assert_eq!(
        plan.files[0].content,
        FileContent::CopyOf("/etc/hosts".into())
    );
    assert!(plan.containers[0]
        .process
        .env
        .contains(&"HOSTNAME=node1".to_owned()));

    // A long pod name is cut to 63 characters, without a trailing '-'.
    let name = format!("{}-x", "a".repeat(62));
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: i\n"
    );
    let p = from_yaml(&yaml, Mode::Strict).unwrap();
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    assert_eq!(plan.hostname, "a".repeat(62));
}

#[test]
fn volume_plans_for_every_type() {
    let types = [
        ("", HostPathAction::CreateDirIfMissing),
        ("DirectoryOrCreate", HostPathAction::DirectoryOrCreate),
        ("FileOrCreate", HostPathAction::FileOrCreate),
        ("Directory", HostPathAction::MustBe(FileKind::Directory)),
        ("File", HostPathAction::MustBe(FileKind::File)),
        ("Socket", HostPathAction::MustBe(FileKind::Socket)),
        ("CharDevice", HostPathAction::MustBe(FileKind::CharDevice)),
        ("BlockDevice", HostPathAction::MustBe(FileKind::BlockDevice)),
    ];
    let mut spec = String::from("  volumes:\n");
    for (i, (t, _)) in types.iter().enumerate() {
        spec += &format!("  - name: h{i}\n    hostPath: {{path: /h/{i}, type: '{t}'}}\n");
    }
    spec += "  - name: nt\n    hostPath: {path: /h/nt}\n";
    spec += "  - name: disk\n    emptyDir: {}\n";
    spec += "  - name: mem\n    emptyDir: {medium: Memory, sizeLimit: 64Mi}\n";
    spec += "  - name: memnolimit\n    emptyDir: {medium: Memory}\n";
    spec += "  containers:\n  - name: c\n    image: i\n";
    let plan = plan_with(&pod(&spec), &busybox(), &settings()).unwrap();
    for (i, (t, action)) in types.iter().enumerate() {
        assert_eq!(
            plan.volumes[i],
            VolumePlan {
                name: format!("h{i}"),
                source: format!("/h/{i}").into(),
                setup: VolumeSetup::HostPath {
                    type_: t.to_string(),
                    action: *action
                },
            }
        );
    }
    let n = types.len();
    assert_eq!(
        plan.volumes[n].setup,
        VolumeSetup::HostPath {
            type_: String::new(),
            action: HostPathAction::CreateDirIfMissing
        }
    );
    assert_eq!(
        plan.volumes[n + 1],
        VolumePlan {
            name: "disk".into(),
            source: "/run/podrun/p/volumes/disk".into(),
            setup: VolumeSetup::EmptyDir {
                tmpfs: false,
                size_limit: None
            },
        }
    );
    assert_eq!(
        plan.volumes[n + 2].setup,
        VolumeSetup::EmptyDir {
            tmpfs: true,
            size_limit: Some(64 << 20)
        }
    );
    assert_eq!(
        plan.volumes[n + 3].setup,
        VolumeSetup::EmptyDir {
            tmpfs: true,
            size_limit: None
        }
    );
}

#[test]
fn overlay_lowerdirs_are_top_first() {
    let c = one("", &busybox()).unwrap();
    assert_eq!(
        c.rootfs,
        Overlay {
            lower: vec!["/l/top".into(), "/l/middle".into(), "/l/bottom".into()],
            upper: "/run/podrun/p/containers/c/upper".into(),
            work: "/run/podrun/p/containers/c/work".into(),
            merged: "/run/podrun/p/containers/c/rootfs".into(),
        }
    );
    assert_eq!(
        c.rootfs.options(),
        "lowerdir=/l/top:/l/middle:/l/bottom,upperdir=/run/podrun/p/containers/c/upper,workdir=/run/podrun/p/containers/c/work"
    );
    let mut img = busybox();
    img.layers.clear();
    assert!(matches!(one("", &img), Err(PlanError::NoLayers { .. })));
}

#[test]
fn mounts_in_order() {
    let p = pod("  volumes:
  - {name: v, emptyDir: {}}
  - {name: etc, hostPath: {path: /srv/etc}}
  containers:
  - name: c
    image: i
    volumeMounts:
    - {name: v, mountPath: /data/deep, subPath: a/b, readOnly: true}
    - {name: etc, mountPath: /etc}
    - {name: v, mountPath: /data}
");
    let c = plan_with(&p, &busybox(), &settings())
        .unwrap()
        .containers
        .remove(0);
    let dests: Vec<String> = c
        .mounts
        .iter()
        .map(|m| m.destination.display().to_string())
        .collect();
    let mut want = strings(&["/proc", "/sys", "/dev"]);
    want.extend(DEVICES.iter().map(|d| format!("/dev/{d}")));
    want.extend(strings(&[
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        // By depth, stable: /etc before the files in it, /data before
        // /data/deep.
        "/etc",
        "/data",
        "/data/deep",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    ]));
    want.extend(strings(MASKED_PATHS));
    want.extend(strings(READONLY_PATHS));
    assert_eq!(dests, want);

    let find = |d: &str| {
        c.mounts
            .iter()
            .find(|m| m.destination == Path::new(d))
            .unwrap()
    };
    assert_eq!(find("/proc").kind, MountKind::Proc);
    assert_eq!(
        find("/sys").options,
        strings(&["nosuid", "noexec", "nodev", "ro"])
    );
    assert!(find("/dev").options.contains(&"mode=755".to_owned()));
    assert_eq!(
        find("/dev/null").kind,
        MountKind::Bind {
            source: "/dev/null".into()
        }
    );
    assert!(find("/dev/pts").options.contains(&"newinstance".to_owned()));
    assert!(find("/dev/pts")
        .options
        .contains(&"ptmxmode=0666".to_owned()));
    assert!(find("/dev/shm").options.contains(&"size=65536k".to_owned()));
    assert_eq!(
        *find("/data/deep"),
        Mount {
            destination: "/data/deep".into(),
            kind: MountKind::Volume {
                name: "v".into(),
                source: "/run/podrun/p/volumes/v".into(),
                sub_path: Some("a/b".into()),
            },
            options: strings(&["rbind", "rprivate", "ro"]),
        }
    );
    assert_eq!(find("/data").options, strings(&["rbind", "rprivate"]));
    assert_eq!(
        *find("/etc/hosts"),
        Mount {
            destination: "/etc/hosts".into(),
            kind: MountKind::Bind {
                source: "/run/podrun/p/etc/hosts".into()
            },
            options: strings(&["rbind", "rprivate", "ro"]),
        }
    );
    assert_eq!(find("/proc/kcore").kind, MountKind::Mask);
    assert_eq!(find("/proc/sys").kind, MountKind::ReadOnly);
    assert_eq!(
        c.dev_symlinks[0],
        ("/dev/fd".into(), "/proc/self/fd".into())
    );
}

#[test]
fn a_volume_on_etc_hosts_replaces_the_generated_one() {
    let p = pod("  volumes:
  - {name: h, hostPath: {path: /etc/hosts, type: File}}
  containers:
  - name: c
    image: i
    volumeMounts:
    - {name: h, mountPath: /etc/hosts}
");
    let c = plan_with(&p, &busybox(), &settings())
        .unwrap()
        .containers
        .remove(0);
    let hosts: Vec<&Mount> = c
        .mounts
        .iter()
        .filter(|m| m.destination == Path::new("/etc/hosts"))
        .collect();
    assert_eq!(hosts.len(), 1);
    assert!(matches!(hosts[0].kind, MountKind::Volume { .. }));
}

#[test]
fn init_mode_prefixes_pause_and_mounts_it() {
    let s = PlanSettings {
        init: true,
        ..settings()
    };
    let p = pod("  containers:\n  - name: c\n    image: i\n    args: [x]\n");
    let c = plan_with(&p, &busybox(), &s).unwrap().containers.remove(0);
    assert_eq!(c.process.argv, strings(&[INIT_PATH, "--", "x"]));
    let m = c
        .mounts
        .iter()
        .find(|m| m.destination == Path::new(INIT_PATH))
        .unwrap();
    assert_eq!(
        m.kind,
        MountKind::Bind {
            source: "/usr/libexec/podrun/pause".into()
        }
    );
    assert!(m.options.contains(&"ro".to_owned()));
    // Before the masks.
    let at = |d: &str| c.mounts.iter().position(|m| m.destination == Path::new(d));
    assert!(at(INIT_PATH) < at("/proc/acpi"));
}

#[test]
fn pod_settings_and_process_defaults() {
    let p = pod("  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: i1, image: i}
  - {name: i2, image: i}
  containers:
  - {name: c, image: i}
");
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    assert_eq!(plan.restart_policy, RestartPolicy::OnFailure);
    assert_eq!(plan.termination_grace_period_seconds, 5);
    let names: Vec<&str> = plan
        .init_containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["i1", "i2"]);
    let c = &plan.containers[0];
    assert_eq!(c.log_dir, PathBuf::from("/run/podrun/p/logs/c"));
    assert!(c.process.no_new_privileges);
    assert_eq!(c.process.capabilities, strings(DEFAULT_CAPABILITIES));
    assert_eq!(c.process.capabilities.len(), 14);

    let p = pod("  containers:\n  - {name: c, image: i}\n");
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    assert_eq!(plan.restart_policy, RestartPolicy::Always);
    assert_eq!(plan.termination_grace_period_seconds, 30);
    // Printable as JSON for debugging.
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["infra"]["new_namespaces"],
        serde_json::json!(["net", "ipc", "uts"])
    );

    // A container without an image entry.
    let err = super::plan(&p, &Images::new(), &settings()).unwrap_err();
    assert_eq!(
        err,
        PlanError::NoImage {
            container: "c".into()
        }
    );
}

#[test]
fn the_counter_example() {
    let text = include_str!("../../../examples/counter.yaml");
    let p = from_yaml(text, Mode::Strict).unwrap();
    let plan = plan_with(&p, &busybox(), &settings()).unwrap();
    assert_eq!(plan.hostname, "counter");
    assert_eq!(
        plan.volumes,
        [VolumePlan {
            name: "varlog".into(),
            source: "/var/log/counter".into(),
            setup: VolumeSetup::HostPath {
                type_: String::new(),
                action: HostPathAction::CreateDirIfMissing
            },
        }]
    );
    let count = &plan.containers[0];
    assert_eq!(count.name, "count");
    assert_eq!(count.process.argv[..2], strings(&["/bin/sh", "-c"]));
    assert_eq!(count.process.argv.len(), 3);
    assert!(count.process.argv[2].starts_with("i=0; while true; do"));
    assert!(count.process.argv[2].contains("echo \"$i: $(date)\" >> /var/log/1.log;"));
    let log = &plan.containers[1];
    assert_eq!(
        log.process.argv,
        strings(&["/bin/sh", "-c", "tail -n+1 -f /opt/log/1.log"])
    );
    assert!(log
        .mounts
        .iter()
        .any(|m| m.destination == Path::new("/opt/log")
            && m.kind
                == MountKind::Volume {
                    name: "varlog".into(),
                    source: "/var/log/counter".into(),
                    sub_path: None
                }));
}
