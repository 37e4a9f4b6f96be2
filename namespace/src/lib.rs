//! The tree WeaveDrive shows, written once for every frontend: `/data`, `/tx`, `/block`,
//! `/manifest`, tags as extended attributes, the access policy, listings, the bounded memos
//! of what was shown, and one error kind. The FUSE mount (`weavedrive-fuse`) and the WASI
//! shim (`weavedrive-wasi`) are glue over it: requests in, [`Namespace`] calls out, and
//! [`ErrorKind`] to their own error numbers at their edge.
//!
//! ```text
//!   fuser (inodes)      wasmtime (fds)        a new frontend
//!         \                  |                  /
//!          +---------- Namespace (this) -------+
//!                            |
//!                  weavedrive_cache::Drive (fetch, verify, cache)
//! ```

#[cfg(feature = "cases")]
pub mod cases;
mod error;
mod file;
pub mod memo;
mod node;
mod tree;
pub mod xattr;

pub use error::{ErrorKind, NsError, NsResult};
pub use file::{File, slice};
pub use node::{Kind, Node, TOP, link_target};
pub use tree::{Attr, Listed, Namespace};
