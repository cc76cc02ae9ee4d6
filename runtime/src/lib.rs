//! podrun: runs a Kubernetes Pod on one Linux machine around the pause
//! infra process. This crate is built in layers: `image` reads and writes
//! OCI images (the pause image writer lives there too).

pub mod image;
pub mod sys;
