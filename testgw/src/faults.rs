//! Fault injection: count-based rules, settable at runtime, so tests can say exactly how many
//! requests misbehave and then check the client recovered.

use std::sync::Mutex;
use std::time::Duration;

/// What kind of request a response answers; used for stats and fault targeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    /// `/tx/{id}`
    TxHeader,
    /// `/tx/{id}/offset` and `/tx/{id}/data_size`
    Offset,
    /// `/chunk/{offset}`
    Chunk,
    /// `/{id}` and `/raw/{id}`
    Data,
    /// Everything else (`/info`, unknown paths).
    Other,
    /// `/block/height/{h}` (counted with `Other` in the stats).
    Block,
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Chunk,
    TxHeader,
    Offset,
    Data,
    Any,
    /// `/block/height/{h}`.
    Block,
    /// `/chunk/{offset}` for an absolute weave offset in `start..end`: one place in the weave
    /// that a gateway gets wrong however often it is asked.
    ChunkIn {
        start: u64,
        end: u64,
    },
}

impl Target {
    fn matches(self, req: RequestInfo) -> bool {
        let endpoint = req.endpoint;
        match self {
            Target::Any => true,
            Target::Chunk => endpoint == Endpoint::Chunk,
            Target::ChunkIn { start, end } => {
                endpoint == Endpoint::Chunk
                    && req.chunk_offset.is_some_and(|o| (start..end).contains(&o))
            }
            Target::TxHeader => endpoint == Endpoint::TxHeader,
            Target::Offset => endpoint == Endpoint::Offset,
            Target::Data => endpoint == Endpoint::Data,
            Target::Block => endpoint == Endpoint::Block,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (e.g. 429, 500, 502, 503) and a short text body.
    Status(u16),
    /// Close the connection (RST) without answering.
    ResetBeforeResponse,
    /// Send the head and about half the body, then reset the connection.
    ResetMidBody,
    /// Send the full Content-Length but only about half the body, then close.
    Truncate,
    /// Flip one byte of the chunk (`/chunk`, proof unchanged) or of the data (`/{id}`).
    CorruptChunk,
    /// Serve the right chunk with a wrong `data_path` (another chunk's proof, or a flipped
    /// byte when the tx has a single chunk).
    ForgeProof,
    /// `/tx/{id}` with `data_root` (or, for empty data, the tags) altered: the signature no
    /// longer verifies.
    WrongHeader,
    /// `/chunk` with the chunk cut to half its length inside valid JSON.
    ShortChunk,
    /// Accept the request and never answer (until the gateway shuts down).
    Hang,
    /// Extra delay before the response head. Adds to other faults instead of replacing them.
    Latency(Duration),
    /// `302 Found` to the same path on `localhost:PORT`: another host than the 127.0.0.1 the
    /// client was given (a gateway luring clients elsewhere).
    RedirectToPort(u16),
    /// `/tx/{id}/offset` with the right size but the place of another transaction at least
    /// as large: every chunk asked for there is another transaction's, and fails its proof.
    WrongOffset,
    /// The true answer followed by `extra` bytes of padding (spaces, so a JSON answer still
    /// parses), streamed from one shared buffer: a 1 GiB body costs the gateway nothing. With
    /// `content_length` the head announces the whole size; without, the body is chunked.
    Oversized { extra: u64, content_length: bool },
    /// Answer `status` (429 or 503) with `Retry-After`: `secs` seconds, written as a number
    /// or, with `date`, as the HTTP-date that many seconds from now (whole seconds, so the
    /// pause it asks for is between `secs - 1` and `secs`).
    Throttle { status: u16, secs: u64, date: bool },
}

/// Every way a gateway can lie (as opposed to fail): each must be an error for the reader,
/// never bytes. The fault-matrix tests of the Drive, the mount and the WASI shim all take
/// their cases from here, so a new lie is tested everywhere at once.
pub const LIES: [(Target, Fault); 4] = [
    (Target::Chunk, Fault::CorruptChunk),
    (Target::Chunk, Fault::ForgeProof),
    (Target::Chunk, Fault::ShortChunk),
    (Target::TxHeader, Fault::WrongHeader),
];

/// Which of the requests a rule matches it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Every one.
    All,
    /// The n-th, 2n-th, 3n-th... (`EveryNth(2)`: every other one).
    EveryNth(u64),
    /// Each with a probability of `percent`%, decided by a hash of the seed and the request's
    /// position among the matching ones: the same seed hits the same positions every run.
    Random { percent: u8, seed: u64 },
}

impl Pick {
    /// Whether the matching request number `position` (from 0) is hit.
    fn hits(self, position: u64) -> bool {
        match self {
            Pick::All => true,
            Pick::EveryNth(n) => (position + 1).is_multiple_of(n.max(1)),
            Pick::Random { percent, seed } => {
                splitmix64(seed ^ position.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 100
                    < percent as u64
            }
        }
    }
}

/// A well-mixed 64-bit hash (the SplitMix64 finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Handle to an injected rule, for reading its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(usize);

/// A rule's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStatus {
    pub target: Target,
    pub fault: Fault,
    /// Matching requests it will still hit (`u64::MAX`: unlimited).
    pub remaining: u64,
    pub fired: u64,
    /// Which matching requests it hits.
    pub pick: Pick,
    /// Matching requests seen while it was active, hit or not.
    pub matched: u64,
}

/// What the server knows about a request when picking faults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestInfo {
    pub endpoint: Endpoint,
    /// The undisturbed response would be a 2xx.
    pub ok: bool,
    /// The undisturbed response has body bytes to send (a GET with a non-empty body).
    pub has_body: bool,
    /// The weave offset a `/chunk/{offset}` request asks for.
    pub chunk_offset: Option<u64>,
}

/// The faults picked for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub fault: Option<Fault>,
    pub extra_latency: Duration,
}

/// The shared set of fault rules of a gateway.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<RuleStatus>>,
}

impl Faults {
    /// Makes the next `count` requests matching `target` (and where `fault` makes sense, e.g.
    /// `ForgeProof` only hits successful `/chunk` answers) suffer `fault`.
    pub fn inject(&self, target: Target, fault: Fault, count: u64) -> FaultId {
        self.inject_picked(target, fault, Pick::All, count)
    }

    /// `inject`, hitting only the matching requests `pick` selects (e.g. every other one):
    /// `count` is how many it hits.
    pub fn inject_picked(&self, target: Target, fault: Fault, pick: Pick, count: u64) -> FaultId {
        if let Fault::Status(code) | Fault::Throttle { status: code, .. } = fault {
            assert!((100..=999).contains(&code), "invalid HTTP status {code}");
        }
        let mut rules = self.rules.lock().unwrap();
        rules.push(RuleStatus {
            target,
            fault,
            remaining: count,
            fired: 0,
            pick,
            matched: 0,
        });
        FaultId(rules.len() - 1)
    }

    /// `inject_picked` with no limit.
    pub fn always_picked(&self, target: Target, fault: Fault, pick: Pick) -> FaultId {
        self.inject_picked(target, fault, pick, u64::MAX)
    }

    /// `inject` with no limit.
    pub fn always(&self, target: Target, fault: Fault) -> FaultId {
        self.inject(target, fault, u64::MAX)
    }

    /// Stops every rule (their counters stay readable).
    pub fn clear(&self) {
        for rule in self.rules.lock().unwrap().iter_mut() {
            rule.remaining = 0;
        }
    }

    pub fn status(&self, id: FaultId) -> RuleStatus {
        self.rules.lock().unwrap()[id.0].clone()
    }

    /// How many requests rule `id` has hit.
    pub fn fired(&self, id: FaultId) -> u64 {
        self.status(id).fired
    }

    /// How many faults of any rule have fired.
    pub fn total_fired(&self) -> u64 {
        self.rules.lock().unwrap().iter().map(|r| r.fired).sum()
    }

    /// Every rule ever injected, in order.
    pub fn rules(&self) -> Vec<RuleStatus> {
        self.rules.lock().unwrap().clone()
    }

    /// Picks the faults for a request and counts them: every matching `Latency` rule, plus
    /// the first (oldest) other matching rule. A request suffers at most one non-latency
    /// fault, so counts stay exact.
    pub(crate) fn decide(&self, req: RequestInfo) -> Decision {
        let mut decision = Decision::default();
        for rule in self.rules.lock().unwrap().iter_mut() {
            if rule.remaining == 0 || !rule.target.matches(req) || !applies(rule.fault, req) {
                continue;
            }
            if !matches!(rule.fault, Fault::Latency(_)) && decision.fault.is_some() {
                continue;
            }
            rule.matched += 1;
            if !rule.pick.hits(rule.matched - 1) {
                continue;
            }
            match rule.fault {
                Fault::Latency(extra) => decision.extra_latency += extra,
                fault => decision.fault = Some(fault),
            }
            if rule.remaining != u64::MAX {
                rule.remaining -= 1;
            }
            rule.fired += 1;
        }
        decision
    }
}

/// Whether `fault` can do anything to this request; rules skip requests where it cannot, so
/// e.g. `CorruptChunk` on `Target::Any` is not used up by `/info` calls.
fn applies(fault: Fault, req: RequestInfo) -> bool {
    match fault {
        Fault::Status(_)
        | Fault::ResetBeforeResponse
        | Fault::Hang
        | Fault::Latency(_)
        | Fault::RedirectToPort(_)
        | Fault::Throttle { .. } => true,
        Fault::ResetMidBody | Fault::Truncate => req.has_body,
        Fault::CorruptChunk => {
            req.ok && req.has_body && matches!(req.endpoint, Endpoint::Chunk | Endpoint::Data)
        }
        Fault::ForgeProof | Fault::ShortChunk => {
            req.ok && req.has_body && req.endpoint == Endpoint::Chunk
        }
        Fault::WrongHeader => req.ok && req.has_body && req.endpoint == Endpoint::TxHeader,
        Fault::WrongOffset => req.ok && req.has_body && req.endpoint == Endpoint::Offset,
        Fault::Oversized { .. } => req.ok && req.has_body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(endpoint: Endpoint) -> RequestInfo {
        RequestInfo {
            endpoint,
            ok: true,
            has_body: true,
            chunk_offset: None,
        }
    }

    #[test]
    fn counts_are_exact_and_latency_stacks() {
        let faults = Faults::default();
        let status = faults.inject(Target::Chunk, Fault::Status(503), 2);
        let corrupt = faults.inject(Target::Any, Fault::CorruptChunk, 1);
        let slow = faults.always(Target::Any, Fault::Latency(Duration::from_millis(5)));
        let d = faults.decide(req(Endpoint::TxHeader));
        assert_eq!((d.fault, d.extra_latency), (None, Duration::from_millis(5)));
        assert_eq!(
            faults.decide(req(Endpoint::Chunk)).fault,
            Some(Fault::Status(503))
        );
        assert_eq!(
            faults.decide(req(Endpoint::Chunk)).fault,
            Some(Fault::Status(503))
        );
        assert_eq!(
            faults.decide(req(Endpoint::Chunk)).fault,
            Some(Fault::CorruptChunk)
        );
        assert_eq!(faults.decide(req(Endpoint::Chunk)).fault, None);
        assert_eq!((faults.fired(status), faults.fired(corrupt)), (2, 1));
        assert_eq!(faults.fired(slow), 5);
        faults.clear();
        assert_eq!(
            faults.decide(req(Endpoint::Chunk)).extra_latency,
            Duration::ZERO
        );
        assert_eq!(faults.total_fired(), 8);
    }

    #[test]
    fn a_chunk_range_rule_hits_only_chunks_there() {
        let faults = Faults::default();
        let rule = faults.always(
            Target::ChunkIn {
                start: 1000,
                end: 2000,
            },
            Fault::CorruptChunk,
        );
        let at = |offset| RequestInfo {
            chunk_offset: Some(offset),
            ..req(Endpoint::Chunk)
        };
        let hit: Vec<bool> = [999, 1000, 1999, 2000, 1500]
            .map(|o| faults.decide(at(o)).fault.is_some())
            .to_vec();
        assert_eq!(hit, [false, true, true, false, true]);
        assert_eq!(faults.decide(req(Endpoint::Data)).fault, None);
        assert_eq!(faults.fired(rule), 3);
    }

    #[test]
    fn picks_every_nth_and_a_seeded_random_fraction() {
        let faults = Faults::default();
        let every_other =
            faults.always_picked(Target::Chunk, Fault::Status(503), Pick::EveryNth(2));
        let hits: Vec<bool> = (0..6)
            .map(|_| faults.decide(req(Endpoint::Chunk)).fault.is_some())
            .collect();
        assert_eq!(hits, [false, true, false, true, false, true]);
        assert_eq!(faults.status(every_other).matched, 6);

        let random = Pick::Random {
            percent: 50,
            seed: 7,
        };
        let run = || {
            let faults = Faults::default();
            let rule = faults.always_picked(Target::Any, Fault::Status(503), random);
            let hits: Vec<bool> = (0..1000)
                .map(|_| faults.decide(req(Endpoint::Chunk)).fault.is_some())
                .collect();
            (hits, faults.fired(rule))
        };
        let (hits, fired) = run();
        assert_eq!(run().0, hits, "same seed, same hits");
        assert!((400..600).contains(&fired), "{fired} of 1000 hit at 50%");
    }
}
