//! Byte sizes as people write them: `20GiB`, `512M`, `1.5G`, `100000`, `25MiB/s`.

/// Binary units for `K`/`Ki`/`KiB` (and M, G, T); decimal for `KB`, `MB`, `GB`, `TB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let text = text.strip_suffix("/s").unwrap_or(text);
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("bad size {text:?}: expected e.g. 20GiB, 512M or 100000"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => 1 << 10,
        "m" | "mi" | "mib" => 1 << 20,
        "g" | "gi" | "gib" => 1 << 30,
        "t" | "ti" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// `1.5 GiB`, `300 MiB`, `12 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `20GiB`, `256MiB`, `1000`: in the largest binary unit that divides `bytes` evenly, so that
/// [`parse_size`] reads it back exactly (any multiple of 1 KiB, any size below 2^53).
/// Command-line defaults are shown this way.
pub fn format_size_exact(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if bytes != 0 && bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("20GiB"), Ok(20 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("25MiB/s"), Ok(25 << 20));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert!(parse_size("").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("1e400").is_err());
        assert_eq!(format_size(12), "12 B");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(300 << 20), "300 MiB");
        for (bytes, text) in [
            (20 << 30, "20GiB"),
            (256 << 20, "256MiB"),
            (1 << 40, "1TiB"),
            (3 << 39, "1536GiB"),
            (4096, "4KiB"),
            (1000, "1000"),
            (0, "0"),
        ] {
            assert_eq!(format_size_exact(bytes), text);
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }
}
