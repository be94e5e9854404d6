//! Calendar dates of Unix times, for every crate that prints timestamps (reports, the
//! filter's `evt.time`, audit JSON, the CLI) without a date-time dependency.

/// `(year, month 1-12, day 1-31)` of a count of days since 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's civil-from-days), exact for any `i64` day count
/// a timestamp can produce.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // The algorithm keeps d in 1..=31 and m in 1..=12.
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(17_256), (2017, 3, 31));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
    }
}
