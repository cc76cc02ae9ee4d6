//! OCI images: layouts and archives (`layout`), the multi-arch pause image
//! (`pause`), image references (`reference`), the store (`store`), loading
//! archives into it (`load`), and safe layer unpacking (`unpack`).

pub mod layout;
pub mod load;
pub mod pause;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;
