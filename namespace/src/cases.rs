//! One table of namespace cases, run against every transport: in-process over
//! [`crate::Namespace`] (`namespace/tests/cases.rs`), through a real FUSE mount
//! (`fuse/tests/mount_cases.rs`) and by a wasm guest through the WASI shim
//! (`wasi-adapter/tests/guest_cases.rs`). A transport answers with bytes, names or an
//! [`ErrorKind`] (mapping its own error numbers back); every expectation is computed from the
//! fixture's source data, never from the namespace under test.
//!
//! The cases run in order against one tree: the listings of what was read (`/data`,
//! `/block`, `/manifest`) expect what the cases before them read.

use std::collections::HashSet;

use bytes::Bytes;
use weavedrive_cache::{AccessPolicy, TxId};
use weavedrive_testgw::{GatewayData, MANIFEST_CONTENT_TYPE, TestWallet, pseudo_random_data};

use crate::{ErrorKind, TOP};

/// What a transport says about a file or directory: a directory, or a file of this size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Dir,
    File(u64),
}

/// The operations every transport offers, by absolute path in the tree (`/data/<id>`).
/// Errors are [`ErrorKind`]s; a transport maps its errno back with its own edge's table.
pub trait Transport {
    /// The whole file.
    fn read(&self, path: &str) -> Result<Vec<u8>, ErrorKind>;
    /// Following symlinks, as `stat(2)` does.
    fn stat(&self, path: &str) -> Result<Stat, ErrorKind>;
    /// The names in a directory, without `.` and `..`, in any order.
    fn list(&self, path: &str) -> Result<Vec<String>, ErrorKind>;
    /// Opens an existing file for writing (and closes it).
    fn open_for_write(&self, path: &str) -> Result<(), ErrorKind>;
    /// Whether the transport has the tree's root directory. A WASI guest has only the
    /// preopens under it (`/data`, `/tx`, `/block`, `/manifest`), so the cases about the root
    /// itself are not its to answer.
    fn has_root(&self) -> bool {
        true
    }
}

/// What a case expects.
#[derive(Debug, Clone)]
pub enum Expect {
    Content(Bytes),
    /// JSON with these top-level fields equal to these values.
    JsonWith(Vec<(&'static str, serde_json::Value)>),
    Names(Vec<String>),
    Attr(Stat),
    Fails(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Stat,
    List,
    Write,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub what: &'static str,
    /// About the root directory itself (see [`Transport::has_root`]).
    pub at_root: bool,
    pub op: Op,
    pub path: String,
    pub expect: Expect,
}

/// The gateway data the cases run on, and what the table needs to know about it.
pub struct Fixture {
    pub data: GatewayData,
    /// A plain transaction with tags (300 KiB + 7).
    pub plain: (TxId, Bytes),
    /// Weights a manifest names (2 MiB + 1, four chunks and a bit).
    pub weights: (TxId, Bytes),
    /// An empty transaction.
    pub empty: (TxId, Bytes),
    /// A path manifest: `index.html` -> plain, `weights/x.bin` -> weights,
    /// `weights/deep/y.bin` -> empty, `broken` -> an id that is not one; fallback plain.
    pub manifest: TxId,
    /// A transaction the policy denies.
    pub denied: TxId,
    /// A valid id no gateway has.
    pub absent: TxId,
    /// A block height the gateway serves.
    pub height: u64,
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut data = GatewayData::new(TestWallet::fixed());
        let mut add = |seed: u64, size: usize, tags: Vec<(String, String)>| {
            let bytes = pseudo_random_data(seed, size);
            (data.add_tx(bytes.clone(), tags), bytes)
        };
        let plain = add(
            1,
            300 * 1024 + 7,
            vec![("App-Name".into(), "weavedrive-cases".into())],
        );
        let weights = add(2, 2 * 1024 * 1024 + 1, vec![]);
        let empty = add(3, 0, vec![]);
        let denied = add(4, 1000, vec![]).0;
        // Written by hand, in the order manifest tools write it: gateways read a manifest as a
        // stream, and a fallback before the version would not count (serde_json would sort
        // the keys, putting "fallback" first).
        let json = format!(
            r#"{{"manifest":"arweave/paths","version":"0.2.0","index":{{"path":"index.html"}},"fallback":{{"id":"{plain}"}},"paths":{{"index.html":{{"id":"{plain}"}},"weights/x.bin":{{"id":"{weights}"}},"weights/deep/y.bin":{{"id":"{empty}"}},"broken":{{"id":"not-an-id"}}}}}}"#,
            plain = plain.0,
            weights = weights.0,
            empty = empty.0,
        );
        let manifest = data.add_tx(
            Bytes::from(json),
            vec![("Content-Type".into(), MANIFEST_CONTENT_TYPE.into())],
        );
        let height = 2;
        assert!(data.block_json(height).is_some());
        Fixture {
            data,
            plain,
            weights,
            empty,
            manifest,
            denied,
            absent: TxId([0x5a; 32]),
            height,
        }
    }

    /// Every id but [`Fixture::denied`].
    pub fn policy(&self) -> AccessPolicy {
        let denied = self.denied;
        AccessPolicy::callback(move |id| *id != denied)
    }

    /// The table, in the order it runs.
    pub fn cases(&self) -> Vec<Case> {
        use Expect::*;
        use Op::*;
        let (plain, weights, empty) = (&self.plain, &self.weights, &self.empty);
        let (m, denied, absent, h) = (self.manifest, self.denied, self.absent, self.height);
        let case = |what, op, path: String, expect| Case {
            what,
            at_root: !TOP
                .iter()
                .any(|(top, _)| path.split('/').nth(1) == Some(*top)),
            op,
            path,
            expect,
        };
        let names = |names: &[&str]| Names(names.iter().map(|n| n.to_string()).collect());
        let file = |bytes: &Bytes| Attr(self::Stat::File(bytes.len() as u64));
        vec![
            case(
                "the top level",
                List,
                "/".into(),
                names(&["block", "data", "manifest", "tx"]),
            ),
            case("a directory", Stat, "/data".into(), Attr(self::Stat::Dir)),
            case(
                "data",
                Read,
                format!("/data/{}", plain.0),
                Content(plain.1.clone()),
            ),
            case(
                "data's size",
                Stat,
                format!("/data/{}", plain.0),
                file(&plain.1),
            ),
            case(
                "several chunks",
                Read,
                format!("/data/{}", weights.0),
                Content(weights.1.clone()),
            ),
            case(
                "empty data",
                Read,
                format!("/data/{}", empty.0),
                Content(empty.1.clone()),
            ),
            case(
                "the header as JSON",
                Read,
                format!("/tx/{}", plain.0),
                JsonWith(vec![("id", plain.0.to_string().into())]),
            ),
            case(
                "a block as JSON, marked unverified",
                Read,
                format!("/block/{h}"),
                JsonWith(vec![
                    ("height", h.into()),
                    ("weavedrive_verified", false.into()),
                ]),
            ),
            case(
                "a height not canonical",
                Stat,
                format!("/block/0{h}"),
                Fails(ErrorKind::NotFound),
            ),
            case(
                "a manifest",
                List,
                format!("/manifest/{m}"),
                names(&["index.html", "weights"]),
            ),
            case(
                "a manifest's directory",
                Stat,
                format!("/manifest/{m}/weights"),
                Attr(self::Stat::Dir),
            ),
            case(
                "its listing",
                List,
                format!("/manifest/{m}/weights"),
                names(&["deep", "x.bin"]),
            ),
            case(
                "a manifest's file is its data",
                Read,
                format!("/manifest/{m}/weights/x.bin"),
                Content(weights.1.clone()),
            ),
            case(
                "deeper",
                Read,
                format!("/manifest/{m}/weights/deep/y.bin"),
                Content(empty.1.clone()),
            ),
            case(
                "its size",
                Stat,
                format!("/manifest/{m}/index.html"),
                file(&plain.1),
            ),
            case(
                "a name the manifest lacks: its fallback",
                Read,
                format!("/manifest/{m}/no-such-name"),
                Content(plain.1.clone()),
            ),
            case(
                "a name listed with a bad id: nothing, not the fallback",
                Read,
                format!("/manifest/{m}/broken"),
                Fails(ErrorKind::NotFound),
            ),
            case(
                "data that is not a manifest",
                List,
                format!("/manifest/{}", plain.0),
                Fails(ErrorKind::NotADirectory),
            ),
            case(
                "denied data",
                Read,
                format!("/data/{denied}"),
                Fails(ErrorKind::Denied),
            ),
            case(
                "denied data's size",
                Stat,
                format!("/data/{denied}"),
                Fails(ErrorKind::Denied),
            ),
            case(
                "a denied header",
                Read,
                format!("/tx/{denied}"),
                Fails(ErrorKind::Denied),
            ),
            case(
                "a denied manifest",
                List,
                format!("/manifest/{denied}"),
                Fails(ErrorKind::Denied),
            ),
            case(
                "an id no gateway has",
                Read,
                format!("/data/{absent}"),
                Fails(ErrorKind::NotFound),
            ),
            case(
                "its header",
                Stat,
                format!("/tx/{absent}"),
                Fails(ErrorKind::NotFound),
            ),
            case(
                "not an id",
                Stat,
                "/data/not-an-id".into(),
                Fails(ErrorKind::NotFound),
            ),
            case(
                "not at the top",
                Stat,
                "/nothing".into(),
                Fails(ErrorKind::NotFound),
            ),
            case(
                "under a file",
                Stat,
                format!("/data/{}/x", plain.0),
                Fails(ErrorKind::NotADirectory),
            ),
            case(
                "a directory read as a file",
                Read,
                "/data".into(),
                Fails(ErrorKind::IsADirectory),
            ),
            case(
                "a file listed",
                List,
                format!("/data/{}", plain.0),
                Fails(ErrorKind::NotADirectory),
            ),
            case(
                "writing",
                Write,
                format!("/data/{}", plain.0),
                Fails(ErrorKind::ReadOnly),
            ),
            case(
                "writing a header",
                Write,
                format!("/tx/{}", plain.0),
                Fails(ErrorKind::ReadOnly),
            ),
            case(
                "cached data, allowed",
                List,
                "/data".into(),
                Names(self.cached()),
            ),
            case(
                "cached headers, allowed",
                List,
                "/tx".into(),
                Names(self.cached()),
            ),
            case(
                "blocks read",
                List,
                "/block".into(),
                names(&[&h.to_string()]),
            ),
            case(
                "manifests read",
                List,
                "/manifest".into(),
                names(&[&m.to_string()]),
            ),
        ]
    }

    /// The ids the cases before the listings read: every allowed one the gateway has.
    fn cached(&self) -> Vec<String> {
        [self.plain.0, self.weights.0, self.empty.0, self.manifest]
            .iter()
            .map(TxId::to_string)
            .collect()
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// A Drive's config for the cases: the test gateway at `gateway`, a disk cache in `dir`, few
/// and quick retries.
pub fn drive_config(gateway: String, dir: &std::path::Path) -> weavedrive_cache::DriveConfig {
    weavedrive_cache::DriveConfig {
        cache_dir: Some(dir.join("cache")),
        gateway: weavedrive_cache::GatewayConfig {
            gateways: vec![gateway],
            retries: 1,
            backoff: std::time::Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Fails unless the gateway was asked something, and never about `denied` (the policy is
/// applied before any network request). `asked`: the paths the gateway logged.
pub fn assert_never_asked(asked: &[String], denied: &TxId) {
    let denied = denied.to_string();
    assert!(!asked.is_empty(), "the cases asked the gateway nothing");
    let about: Vec<&String> = asked.iter().filter(|p| p.contains(&denied)).collect();
    assert!(about.is_empty(), "the denied id was asked for: {about:?}");
}

/// Runs every case against `transport`; returns one line per case that did not answer as
/// expected (empty: all passed).
pub fn check(transport: &dyn Transport, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        if case.at_root && !transport.has_root() {
            continue;
        }
        if let Err(why) = check_one(transport, case) {
            failures.push(format!(
                "{} ({:?} {}): {why}",
                case.what, case.op, case.path
            ));
        }
    }
    failures
}

fn check_one(transport: &dyn Transport, case: &Case) -> Result<(), String> {
    let path = case.path.as_str();
    let got: Result<Got, ErrorKind> = match case.op {
        Op::Read => transport.read(path).map(Got::Bytes),
        Op::Stat => transport.stat(path).map(Got::Stat),
        Op::List => transport.list(path).map(Got::Names),
        Op::Write => transport.open_for_write(path).map(|()| Got::Written),
    };
    match (&case.expect, got) {
        (Expect::Fails(want), Err(kind)) if *want == kind => Ok(()),
        (want, Err(kind)) => Err(format!("expected {}, got error {kind:?}", describe(want))),
        (Expect::Content(want), Ok(Got::Bytes(bytes))) => {
            if bytes == want[..] {
                Ok(())
            } else {
                Err(format!(
                    "expected {} bytes, got {} bytes that differ",
                    want.len(),
                    bytes.len()
                ))
            }
        }
        (Expect::JsonWith(fields), Ok(Got::Bytes(bytes))) => {
            let json: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
            for (key, value) in fields {
                if json.get(key) != Some(value) {
                    return Err(format!("{key} is {:?}, expected {value}", json.get(key)));
                }
            }
            Ok(())
        }
        (Expect::Names(want), Ok(Got::Names(names))) => {
            let want: HashSet<&String> = want.iter().collect();
            let got: HashSet<&String> = names.iter().collect();
            if want == got && names.len() == want.len() {
                Ok(())
            } else {
                Err(format!("expected names {want:?}, got {names:?}"))
            }
        }
        (Expect::Attr(want), Ok(Got::Stat(stat))) if *want == stat => Ok(()),
        (want, Ok(got)) => Err(format!("expected {}, got {got:?}", describe(want))),
    }
}

#[derive(Debug)]
enum Got {
    Bytes(Vec<u8>),
    Stat(Stat),
    Names(Vec<String>),
    Written,
}

fn describe(expect: &Expect) -> String {
    match expect {
        Expect::Content(b) => format!("{} bytes", b.len()),
        other => format!("{other:?}"),
    }
}
