//! podrun: runs a Kubernetes Pod on one Linux machine around the pause
//! infra process. This crate is built in layers: `image` reads and writes
//! OCI images (the pause image writer lives there too).

// Unsafe code lives in `sys` alone (which allows it and documents every
// block); everywhere else the compiler refuses it.
#![deny(unsafe_code)]

pub mod image;
pub mod plan;
pub mod pod;
pub mod sys;
