//! Writes the multi-arch pause image as an OCI layout and an oci-archive;
//! prints the image index digest. Run by scripts/build-image.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use podrun::image::{layout, pause};

#[derive(Parser)]
#[command(about = "Write the multi-arch pause image as an OCI layout and oci-archive")]
struct Args {
    /// The OCI layout directory to write (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
    /// Also write the layout as an oci-archive here.
    #[arg(long)]
    archive: Option<PathBuf>,
    /// The tag index.json gives the image (org.opencontainers.image.ref.name).
    #[arg(long)]
    tag: String,
    #[arg(long)]
    version: String,
    /// The source revision (git commit).
    #[arg(long)]
    revision: String,
    /// Where the source lives (org.opencontainers.image.source).
    #[arg(long)]
    source: String,
    #[arg(long, default_value = "Apache-2.0")]
    licenses: String,
    /// Creation time, seconds since the epoch (SOURCE_DATE_EPOCH).
    #[arg(long)]
    created: u64,
    /// PLATFORM=PATH of a pause binary (amd64 arm64 arm ppc64le s390x riscv64); repeat.
    #[arg(long = "binary", value_name = "PLATFORM=PATH", required = true)]
    binaries: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(digest) => {
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("pause-image: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let mut binaries = Vec::new();
    for b in &args.binaries {
        let (platform, path) = b
            .split_once('=')
            .ok_or_else(|| format!("--binary {b:?}: want PLATFORM=PATH"))?;
        let bytes = std::fs::read(path)
            .map_err(|e| format!("--binary {platform}: cannot read {path}: {e}"))?;
        binaries.push((platform.to_owned(), bytes));
    }
    let meta = pause::Metadata {
        tag: args.tag.clone(),
        version: args.version.clone(),
        revision: args.revision.clone(),
        source: args.source.clone(),
        licenses: args.licenses.clone(),
        created: args.created,
    };
    // Written beside the destination first, so a failure leaves any
    // previous layout in place and never a half-written one.
    let mut partial = args.out.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_dir_all(&partial);
    let result = pause::write(&partial, &meta, &binaries)
        .map_err(Into::into)
        .and_then(|index| {
            if let Some(archive) = &args.archive {
                layout::write_archive(&partial, archive, args.created)?;
            }
            Ok::<_, Box<dyn std::error::Error>>(index)
        });
    let index = match result {
        Ok(index) => index,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(err);
        }
    };
    if args.out.exists() {
        std::fs::remove_dir_all(&args.out)
            .map_err(|e| format!("cannot replace {}: {e}", args.out.display()))?;
    }
    std::fs::rename(&partial, &args.out).map_err(|e| {
        format!(
            "cannot move {} to {}: {e}",
            partial.display(),
            args.out.display()
        )
    })?;
    Ok(index.digest.to_string())
}
