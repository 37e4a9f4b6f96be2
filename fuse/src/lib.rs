//! FUSE frontend for WeaveDrive.
//!
//! Skeleton: the mount lands with its own issue. It will be a thin adapter (fuser) over
//! `weavedrive_cache`, holding no policy of its own.
