//! OCI images: content-addressed blobs, image layouts, and the writer of the
//! multi-arch pause image.

pub mod layout;
pub mod pause;
// pub mod load;
pub mod reference;
// pub mod store;
pub mod unpack;
