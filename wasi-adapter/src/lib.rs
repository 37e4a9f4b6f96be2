//! WASI filesystem shim for WeaveDrive.
//!
//! Skeleton: the shim lands with its own issue. It will register the preview1 `fd_*`/`path_*`
//! imports for a virtual `/data` preopen served from `weavedrive_cache`.
