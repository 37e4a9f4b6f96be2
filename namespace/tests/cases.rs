//! The namespace's case table, in process: no FUSE, no wasm, the same cases the mount and the
//! WASI guest answer (fuse/tests/mount_cases.rs, wasi-adapter/tests/guest_cases.rs).

use weavedrive_cache::Drive;
use weavedrive_namespace::cases::{
    Fixture, Stat, Transport, assert_never_asked, check, drive_config,
};
use weavedrive_namespace::{ErrorKind, Kind, Namespace, Node};
use weavedrive_testgw::{GatewayOptions, TestGateway};

/// Paths walked from the root as a frontend would, symlinks followed at the end.
struct InProcess(Namespace);

impl InProcess {
    fn node(&self, path: &str) -> Result<Node, ErrorKind> {
        let node = self.0.walk(Node::Root, path.trim_start_matches('/'));
        let node = node.map_err(|e| e.kind())?.followed();
        self.0.attr(node).map_err(|e| e.kind())?;
        Ok(node)
    }
}

impl Transport for InProcess {
    fn read(&self, path: &str) -> Result<Vec<u8>, ErrorKind> {
        let file = self.0.open(self.node(path)?).map_err(|e| e.kind())?;
        let mut out = vec![0; file.size() as usize];
        let n = file.read_into(0, &mut out).map_err(|e| e.kind())?;
        assert_eq!(n, out.len(), "a whole read is whole");
        Ok(out)
    }

    fn stat(&self, path: &str) -> Result<Stat, ErrorKind> {
        let attr = self.0.attr(self.node(path)?).map_err(|e| e.kind())?;
        Ok(match attr.kind {
            Kind::Directory => Stat::Dir,
            _ => Stat::File(attr.size),
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>, ErrorKind> {
        let listed = self.0.list(self.node(path)?).map_err(|e| e.kind())?;
        Ok(listed.into_iter().map(|l| l.name).collect())
    }

    fn open_for_write(&self, path: &str) -> Result<(), ErrorKind> {
        self.0.access(self.node(path)?, true).map_err(|e| e.kind())
    }
}

#[test]
fn the_case_table_in_process() {
    let fx = Fixture::new();
    let cases = fx.cases();
    let policy = fx.policy();
    let gateway = TestGateway::spawn_background(fx.data, GatewayOptions::default()).unwrap();
    gateway.log_requests();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = {
        let _entered = runtime.enter();
        Drive::new(drive_config(gateway.url(), dir.path())).unwrap()
    };
    let ns = InProcess(Namespace::new(drive, runtime.handle().clone(), policy));
    let failures = check(&ns, &cases);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Tags as extended attributes (the mount's xattrs; a guest reads them in the /tx JSON).
    let tags = ns.0.xattrs(Node::Data(fx.plain.0)).unwrap();
    let app = tags
        .iter()
        .find(|(name, _)| name == b"user.arweave.tag.App-Name");
    assert_eq!(app.map(|(_, v)| &v[..]), Some(&b"weavedrive-cases"[..]));
    let denied = ns.0.xattrs(Node::Data(fx.denied)).unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::Denied);
    let asked: Vec<String> = gateway.request_log().into_iter().map(|r| r.path).collect();
    assert_never_asked(&asked, &fx.denied);
}
