//! OCI images: content-addressed blobs, image layouts, and the writer of the
//! multi-arch pause image.

pub mod layout;
pub mod pause;
