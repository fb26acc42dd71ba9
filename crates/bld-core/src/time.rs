//! Seconds since the epoch as RFC 3339 UTC text, without a date-time dependency.

/// `1970-01-01T00:00:00Z` for 0.
pub fn rfc3339(epoch_seconds: u64) -> String {
    rfc3339_nanos(epoch_seconds, None)
}

/// [`rfc3339`] with nine digits of fraction when `nanos` is given, as Docker's json-file log
/// stamps each line: `2026-12-01T23:40:00.123456789Z`.
pub fn rfc3339_nanos(epoch_seconds: u64, nanos: Option<u32>) -> String {
    let days = epoch_seconds / 86_400;
    let secs = epoch_seconds % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let fraction = nanos.map_or(String::new(), |n| format!(".{n:09}"));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            super::rfc3339_nanos(0, Some(5)),
            "1970-01-01T00:00:00.000000005Z"
        );
    }
}
