//! Black-box tests of the real binaries, one module per binary/feature.
//! Everything runs as root against the real kernel; see harness.rs.

mod image;
mod pause;
mod pod_validate;
mod pull;
mod runtimes;
mod store;

/// The orphan-making helper (tests/orphans.rs); cargo builds it for the
/// integration tests and tells only them where.
pub fn orphans() -> &'static str {
    env!("CARGO_BIN_EXE_orphans")
}
