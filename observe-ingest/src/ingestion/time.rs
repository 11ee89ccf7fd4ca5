//! The ISO 8601 date-times the ingestion API takes: a date, `T`, hours and minutes,
//! optional seconds and fraction, and a zone (`Z`, `+02:00`, `+0200` or `+02`), as
//! Langfuse's validation accepts them. A time without a zone is refused, as there.

use observe_model::model::Timestamp;

/// The instant `text` names, or `None` when it is not such a date-time (or is before 1970,
/// which the store's clock cannot hold).
pub(crate) fn parse_iso(text: &str) -> Option<Timestamp> {
    let (date, rest) = (text.get(..10)?, text.get(10..)?);
    let rest = rest.strip_prefix('T')?;
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (
        digits(&date[0..4])?,
        digits(&date[5..7])?,
        digits(&date[8..10])?,
    );
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let zone_at = rest.find(['Z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let offset_minutes = zone_offset(zone)?;
    let (hh, mm, ss, fraction) = clock_parts(clock)?;
    // The model's reader takes `YYYY-MM-DDTHH:MM:SS.fffffffffZ`: written on the stack, as
    // every event carries a few of these.
    let mut canonical = *b"0000-00-00T00:00:00.000000000Z";
    canonical[..10].copy_from_slice(date.as_bytes());
    for (at, value) in [(11, hh), (14, mm), (17, ss)] {
        canonical[at] = b'0' + (value / 10) as u8;
        canonical[at + 1] = b'0' + (value % 10) as u8;
    }
    canonical[20..29].copy_from_slice(&fraction);
    let local = Timestamp::parse_rfc3339(std::str::from_utf8(&canonical).ok()?)?.as_nanos() as i128;
    let utc = local - i128::from(offset_minutes) * 60_000_000_000;
    u64::try_from(utc).ok().map(Timestamp)
}

/// `HH:MM[:SS[.fraction]]` as hours, minutes, seconds and nine fraction digits.
fn clock_parts(clock: &str) -> Option<(u32, u32, u32, [u8; 9])> {
    let (hm, seconds) = match clock.len() {
        5 => (clock, None),
        n if n >= 8 => (clock.get(..5)?, Some(clock.get(5..)?.strip_prefix(':')?)),
        _ => return None,
    };
    if hm.as_bytes()[2] != b':' {
        return None;
    }
    let (hh, mm) = (digits(&hm[0..2])?, digits(&hm[3..5])?);
    if hh > 23 || mm > 59 {
        return None;
    }
    let (ss, fraction) = match seconds {
        None => (0, ""),
        Some(s) => {
            let ss = digits(s.get(..2)?)?;
            let fraction = match s.get(2..)? {
                "" => "",
                f => {
                    let f = f.strip_prefix('.')?;
                    if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    f
                }
            };
            (ss, fraction)
        }
    };
    if ss > 59 {
        return None;
    }
    // Nanoseconds are the clock's resolution: further digits are cut, not rounded.
    let mut nine = *b"000000000";
    let kept = fraction.len().min(9);
    nine[..kept].copy_from_slice(&fraction.as_bytes()[..kept]);
    Some((hh, mm, ss, nine))
}

/// Minutes east of UTC for `Z`, `±HH:MM`, `±HHMM` or `±HH`.
fn zone_offset(zone: &str) -> Option<i32> {
    if zone == "Z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &zone[1..];
    let (hh, mm) = match body.len() {
        2 => (body, "00"),
        // `get`: the text may hold characters of more than one byte anywhere.
        4 => (body.get(..2)?, body.get(2..)?),
        5 if body.as_bytes()[2] == b':' => (&body[..2], &body[3..]),
        _ => return None,
    };
    let (hh, mm) = (digits(hh)?, digits(mm)?);
    if hh > 23 || mm > 59 {
        return None;
    }
    Some(sign * (hh * 60 + mm) as i32)
}

/// A field of ASCII digits only (no sign, no space) as a number.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON_UTC: u64 = 1_796_644_800_000_000_000; // 2026-12-07T12:00:00Z

    #[test]
    fn every_zone_form_names_the_same_instant() {
        for text in [
            "2026-12-07T12:00:00Z",
            "2026-12-07T12:00Z",
            "2026-12-07T12:00:00.000000000Z",
            "2026-12-07T14:00:00+02:00",
            "2026-12-07T14:00:00+0200",
            "2026-12-07T14:00:00+02",
            "2026-12-07T06:30:00-05:30",
            "2026-12-08T00:00:00+12:00",
        ] {
            assert_eq!(parse_iso(text), Some(Timestamp(NOON_UTC)), "{text}");
        }
    }

    #[test]
    fn fractions_of_any_length_are_kept_to_the_nanosecond() {
        assert_eq!(
            parse_iso("2026-12-07T12:00:00.5Z"),
            Some(Timestamp(NOON_UTC + 500_000_000))
        );
        assert_eq!(
            parse_iso("2026-12-07T12:00:00.123456Z"),
            Some(Timestamp(NOON_UTC + 123_456_000))
        );
        assert_eq!(
            parse_iso("2026-12-07T12:00:00.1234567891234Z"),
            Some(Timestamp(NOON_UTC + 123_456_789))
        );
    }

    #[test]
    fn no_text_makes_it_panic() {
        // Near misses of the form, with characters of one to four bytes in every place.
        let pieces = [
            "2026-12-07T12:00",
            ":00",
            ".5",
            "Z",
            "+",
            "-",
            "0",
            "é",
            "€",
            "😀",
            ":",
            "T",
        ];
        let mut rng = fastrand::Rng::with_seed(18);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.usize(1..6) {
                text.push_str(pieces[rng.usize(..pieces.len())]);
            }
            let _ = parse_iso(&text);
        }
        assert_eq!(parse_iso("2026-12-07T12:00+0é0"), None);
    }

    #[test]
    fn what_the_api_refuses_is_refused() {
        for text in [
            "",
            "2026-12-07",
            "2026-12-07T12:00:00",
            "2026-12-07 12:00:00Z",
            "2026-12-07T12:00:00+00:00:00",
            "2026-12-07T24:00:00Z",
            "2026-02-30T12:00:00Z",
            "2026-13-01T12:00:00Z",
            "2026-12-07T12:00:60Z",
            "2026-12-07T12:00:00.Z",
            "2026-12-07T12:00:00z",
            "1969-12-31T23:59:59Z",
            "+2026-12-07T12:00:00Z",
            "2026-12-07T12:0:00Z",
        ] {
            assert_eq!(parse_iso(text), None, "{text}");
        }
        assert!(parse_iso("2024-02-29T00:00:00Z").is_some());
        assert!(parse_iso("2100-02-29T00:00:00Z").is_none());
    }
}
