//! The namespace's case table answered by a wasm guest (std::fs through wasi-libc) through the
//! shim: the same cases the namespace answers in process (namespace/tests/cases.rs) and the
//! mount through the kernel (fuse/tests/mount_cases.rs), WASI errnos mapped back through the
//! shim's one errno edge. Then what only a guest does: paths that climb out of a preopen.

mod common;

use std::sync::Arc;

use common::*;
use weavedrive_namespace::ErrorKind;
use weavedrive_namespace::cases::{Fixture, Stat, Transport, assert_never_asked, check};
use weavedrive_wasi::vfs::errno_for;
use weavedrive_wasi::{HostOptions, VirtualFs};

struct Guest(Arc<VirtualFs>);

impl Guest {
    /// One probe command; its output line, or the kind of the WASI errno it printed.
    fn run(&self, args: &[&str]) -> Result<String, ErrorKind> {
        let (code, out) = probe(&self.0, args, HostOptions::default());
        assert_eq!(code, 0, "probe {args:?} exited {code}: {out}");
        match out.strip_prefix("error ") {
            None => Ok(out),
            Some(error) => {
                let raw: u16 = error.split(' ').next().unwrap().parse().unwrap();
                Err(*ErrorKind::ALL
                    .iter()
                    .find(|k| errno_for(**k).0 == raw)
                    .unwrap_or_else(|| panic!("WASI errno {raw} ({out}) is no kind's")))
            }
        }
    }
}

impl Transport for Guest {
    fn read(&self, path: &str) -> Result<Vec<u8>, ErrorKind> {
        let out = self.run(&["cat", path])?;
        let hex = out.strip_prefix("hex").expect("cat prints hex").trim();
        Ok(hex::decode(hex).unwrap())
    }

    fn stat(&self, path: &str) -> Result<Stat, ErrorKind> {
        let out = self.run(&["stat", path])?;
        let words: Vec<&str> = out.split(' ').collect();
        Ok(match words[..] {
            ["size", _, "dir", "true"] => Stat::Dir,
            ["size", size, "dir", "false"] => Stat::File(size.parse().unwrap()),
            _ => panic!("stat said {out}"),
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>, ErrorKind> {
        let out = self.run(&["list", path])?;
        let names = out.strip_prefix("entries").unwrap().trim();
        Ok(names
            .split(' ')
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect())
    }

    fn open_for_write(&self, path: &str) -> Result<(), ErrorKind> {
        self.run(&["write", path]).map(drop)
    }

    fn has_root(&self) -> bool {
        false
    }
}

#[test]
fn the_case_table_through_the_shim() {
    let fx = Fixture::new();
    let cases = fx.cases();
    let policy = fx.policy();
    let fixture = fixture_from(fx.data, vec![]);
    fixture.gateway.log_requests();
    let guest = Guest(fixture.vfs(policy));
    let failures = check(&guest, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let asked: Vec<String> = fixture
        .gateway
        .request_log()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_never_asked(&asked, &fx.denied);

    // A guest's paths stay inside their preopen, lexically, before any lookup.
    let plain = fx.plain.0;
    let climbs = format!("/manifest/{}/weights/../../../data/{plain}", fx.manifest);
    assert_eq!(guest.stat(&climbs), Err(ErrorKind::Escapes));
    let inside = format!("/manifest/{}/weights/../index.html", fx.manifest);
    assert_eq!(guest.stat(&inside), Ok(Stat::File(fx.plain.1.len() as u64)));
}
