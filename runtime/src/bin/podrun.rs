//! podrun: run Kubernetes Pods on one machine. This binary only parses the
//! command line, calls the library and maps errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use podrun::image::load::{self, Platform};
use podrun::image::pull::Puller;
use podrun::image::reference::Reference;
use podrun::image::registry::{Auth, Client, RegistriesConf};
use podrun::image::store::{Store, DEFAULT_ROOT};
use podrun::pod::{self, Mode};

#[derive(Parser)]
#[command(
    name = "podrun",
    version,
    about = "Run Kubernetes Pods on one Linux machine"
)]
struct Cli {
    /// The image store.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load images from an oci-archive, an OCI layout directory or a docker-archive.
    Load {
        /// The archive file or layout directory.
        input: PathBuf,
        /// Pick this platform from multi-platform images (os/arch[/variant]).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Pull an image from a registry (or the mirrors registries.conf names for it).
    Pull {
        /// The image (busybox, quay.io/org/app:1.0, host:5000/repo@sha256:...).
        image: String,
        /// Pick this platform from multi-platform images (os/arch[/variant]).
        #[arg(long)]
        platform: Option<String>,
        /// Mirrors and insecure registries (containers-registries.conf v2).
        #[arg(long, value_name = "FILE")]
        registries_conf: Option<PathBuf>,
        /// Credentials (auth.json / ~/.docker/config.json format).
        #[arg(long, value_name = "FILE")]
        authfile: Option<PathBuf>,
        /// Allow plain HTTP to registries on 127.0.0.0/8, ::1 and localhost.
        #[arg(long)]
        insecure_loopback: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the images in the store.
    Images,
    /// Remove an image (and whatever no other image uses).
    Rmi {
        /// The image, as a reference (busybox, docker.io/library/busybox:latest, NAME@sha256:...).
        image: String,
    },
    /// Check a Pod file as `run` would: print every problem, exit 2 if refused.
    Validate {
        /// The Pod YAML (apiVersion: v1, kind: Pod).
        pod: PathBuf,
        /// Fields podrun does not implement: refuse the Pod (strict), print
        /// warnings and accept it (warn), or accept it silently (ignore).
        #[arg(long, value_name = "strict|warn|ignore", default_value_t = Mode::Strict)]
        validate: Mode,
    },
}

/// A refused Pod, like a bad command line, exits 2.
const REFUSED: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("podrun: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Load { input, platform } => {
            let platform = match platform {
                Some(p) => Platform::parse(&p)
                    .ok_or_else(|| format!("--platform {p:?}: want os/arch[/variant]"))?,
                None => Platform::host(),
            };
            let store = Store::open(&cli.root)?;
            let lock = lock_store(&store)?;
            for name in load::load(&store, &lock, &input, &platform)? {
                println!("Loaded image: {name}");
            }
        }
        Command::Pull {
            image,
            platform,
            registries_conf,
            authfile,
            insecure_loopback,
            quiet,
        } => {
            let reference = Reference::parse(&image)?;
            let platform = parse_platform(platform)?;
            let conf = RegistriesConf::load(registries_conf.as_deref())?;
            let client = Client::new(Auth::load(authfile.as_deref())?, insecure_loopback);
            let store = Store::open(&cli.root)?;
            let lock = lock_store(&store)?;
            let puller = Puller {
                store: &store,
                lock: &lock,
                client: &client,
                conf: &conf,
                platform,
                progress: !quiet,
            };
            let result = puller.pull(&reference);
            // Whatever a failed pull moved in is named by no image; the
            // pull's own error, if any, is the one to report.
            let gc = store.collect_garbage(&lock);
            println!("Pulled image: {}", result?);
            gc?;
        }
        Command::Images => {
            let store = Store::open(&cli.root)?;
            println!(
                "{:<40} {:<16} {:<20} {:>10}",
                "REPOSITORY", "TAG", "DIGEST", "SIZE"
            );
            for image in store.images()? {
                let r = Reference::parse(&image.reference)?;
                let digest = image.manifest.digest().to_string();
                let short = &digest[..digest.len().min(19)];
                // A damaged image is listed (so it can be removed) and named.
                let size = image_size(&store, &digest)
                    .map(human)
                    .unwrap_or_else(|err| {
                        eprintln!("podrun: image {}: {err}", image.reference);
                        "?".into()
                    });
                println!(
                    "{:<40} {:<16} {:<20} {:>10}",
                    r.name(),
                    r.tag.as_deref().unwrap_or("<none>"),
                    short,
                    size
                );
            }
        }
        Command::Rmi { image } => {
            let reference = Reference::parse(&image)?;
            let store = Store::open(&cli.root)?;
            let lock = lock_store(&store)?;
            let removed = store.remove(&lock, &reference)?;
            println!("Untagged: {}", removed.reference);
        }
        Command::Validate { pod, validate } => {
            let file = pod.display().to_string();
            let text = std::fs::read_to_string(&pod).map_err(|e| format!("{file}: {e}"))?;
            match pod::from_yaml(&text, validate) {
                Ok(valid) => {
                    for w in valid.warnings() {
                        eprintln!("podrun: {}", w.in_file(&file));
                    }
                    println!("{file}: Pod {:?} is valid", valid.name());
                }
                Err(refused) => {
                    for d in &refused.diagnostics {
                        eprintln!("podrun: {}", d.in_file(&file));
                    }
                    return Ok(ExitCode::from(REFUSED));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The writers' lock, saying so when another podrun holds it.
fn lock_store(
    store: &Store,
) -> Result<podrun::image::store::WriteLock, podrun::image::store::StoreError> {
    store.lock_or_wait(|| {
        eprintln!(
            "podrun: waiting for the image store {} (another podrun is writing to it)",
            store.root().display()
        )
    })
}

fn parse_platform(p: Option<String>) -> Result<Platform, String> {
    match p {
        Some(p) => {
            Platform::parse(&p).ok_or_else(|| format!("--platform {p:?}: want os/arch[/variant]"))
        }
        None => Ok(Platform::host()),
    }
}

/// Manifest, config and layers, as stored.
fn image_size(store: &Store, manifest: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let m = store.read_manifest(manifest)?;
    let mut size = std::fs::metadata(store.blob_path(manifest))?.len() + m.config().size();
    size += m.layers().iter().map(|l| l.size()).sum::<u64>();
    Ok(size)
}

/// Decimal units, as podman prints sizes.
fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.3} {}", units[u])
    }
}
