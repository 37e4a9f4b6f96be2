//! `Retry-After` values from an untrusted gateway: parsing never panics (huge numbers, dates
//! near the ends of the calendar), delay-seconds mean exactly that many seconds, and a date
//! never asks for a pause longer than the time until it.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::gateway::parse_retry_after;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let Some(pause) = parse_retry_after(text, now) else {
        return;
    };
    let trimmed = text.trim();
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let expected = trimmed.parse::<u64>().unwrap_or(u64::MAX);
        assert_eq!(pause, Duration::from_secs(expected));
    } else {
        // An HTTP-date: at most the year 9999, so under 8000 years from `now`.
        assert!(pause < Duration::from_secs(8000 * 366 * 24 * 3600));
    }
});
