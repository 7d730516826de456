//! Calendar arithmetic done at expansion time: `"2026-01-15"` and RFC 3339 timestamps to unix
//! seconds, so the generated constants are plain integers and no date library runs in the user's
//! build. Everything is proleptic Gregorian, UTC.

use std::fmt;

/// A calendar day, validated (month 1-12, day within the month, leap years included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CivilDate {
    pub(crate) year: u16,
    pub(crate) month: u8,
    pub(crate) day: u8,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub(crate) fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days of `month` (1-12) in `year`.
pub(crate) fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a (valid) civil date; negative before the epoch. Howard Hinnant's
/// `days_from_civil`: years start in March, so the leap day is the last day of its year.
pub(crate) fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // 0..=399
    let month_from_march = (month + 9) % 12; // March = 0, ..., February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

impl CivilDate {
    /// Whether `text` looks like `YYYY-MM-DD` (digits and dashes in place).
    fn has_shape(text: &str) -> bool {
        let bytes = text.as_bytes();
        bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && [0, 1, 2, 3, 5, 6, 8, 9]
                .iter()
                .all(|&i| bytes[i].is_ascii_digit())
    }

    /// Parses exactly `YYYY-MM-DD`, checking the month and the day of the month.
    pub(crate) fn parse(text: &str) -> Result<CivilDate, String> {
        if !Self::has_shape(text) {
            return Err(format!("`{text}` is not a date of the form YYYY-MM-DD"));
        }
        let year: u16 = digits(&text[0..4]);
        let month: u8 = digits(&text[5..7]);
        let day: u8 = digits(&text[8..10]);
        if !(1..=12).contains(&month) {
            return Err(format!("`{text}` has month {month}; months are 01 to 12"));
        }
        let last = days_in_month(i64::from(year), month);
        if !(1..=last).contains(&day) {
            let name = MONTHS[usize::from(month - 1)];
            return Err(format!(
                "`{text}` has day {day}; {name} {year} has {last} days"
            ));
        }
        Ok(CivilDate { year, month, day })
    }

    /// Days since 1970-01-01.
    pub(crate) fn days(self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day)
    }

    /// Unix seconds of 00:00:00 UTC on this day.
    pub(crate) fn unix_seconds(self) -> i64 {
        self.days() * 86_400
    }

    /// The following day, or `None` after 9999-12-31.
    pub(crate) fn next_day(self) -> Option<CivilDate> {
        let CivilDate { year, month, day } = self;
        if day < days_in_month(i64::from(year), month) {
            Some(CivilDate {
                day: day + 1,
                ..self
            })
        } else if month < 12 {
            Some(CivilDate {
                month: month + 1,
                day: 1,
                ..self
            })
        } else if year < 9999 {
            Some(CivilDate {
                year: year + 1,
                month: 1,
                day: 1,
            })
        } else {
            None
        }
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Parses a run of ASCII digits the caller has already checked.
fn digits<T: From<u8> + std::ops::Mul<Output = T> + std::ops::Add<Output = T>>(text: &str) -> T {
    text.bytes()
        .fold(T::from(0), |acc, b| acc * T::from(10) + T::from(b - b'0'))
}

/// Parses `HH:MM` of a time or an offset, each within its range.
fn hours_minutes(text: &str, what: &str) -> Result<(i64, i64), String> {
    let bytes = text.as_bytes();
    if bytes.len() != 5
        || bytes[2] != b':'
        || ![0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit())
    {
        return Err(format!("the {what} `{text}` is not of the form HH:MM"));
    }
    let (hours, minutes): (i64, i64) = (digits(&text[0..2]), digits(&text[3..5]));
    if hours > 23 || minutes > 59 {
        return Err(format!(
            "the {what} `{text}` is out of range (00:00 to 23:59)"
        ));
    }
    Ok((hours, minutes))
}

/// An instant as unix seconds: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp
/// (`2026-01-01T12:00:00Z`, `2026-01-01T12:00:00.5+02:00`; fractions of a second are dropped).
pub(crate) fn parse_instant(text: &str) -> Result<i64, String> {
    let Some(date_part) = text.get(..10) else {
        return CivilDate::parse(text).map(CivilDate::unix_seconds);
    };
    let date = CivilDate::parse(date_part).map_err(|why| {
        if CivilDate::has_shape(date_part) {
            why
        } else {
            format!(
                "`{text}` is neither YYYY-MM-DD nor an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SSZ)"
            )
        }
    })?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Ok(date.unix_seconds());
    }
    let Some(time) = rest.strip_prefix(['T', 't', ' ']) else {
        return Err(format!(
            "`{text}` is neither YYYY-MM-DD nor an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SSZ)"
        ));
    };
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => {
            return Err(format!(
                "`{text}` has no UTC offset: end it with `Z` or an offset like `+02:00`"
            ));
        }
    };
    // HH:MM:SS, then an optional fraction.
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("`{text}` has a malformed fraction of a second"));
    }
    let bytes = hms.as_bytes();
    if bytes.len() != 8 || bytes[5] != b':' || !bytes[6..].iter().all(u8::is_ascii_digit) {
        return Err(format!("`{text}` has no time of the form HH:MM:SS"));
    }
    let (hours, minutes) = hours_minutes(&hms[..5], "time")?;
    let seconds: i64 = digits(&hms[6..8]);
    if seconds > 60 {
        return Err(format!("`{text}` has {seconds} seconds; at most 60"));
    }
    let offset_seconds = match offset {
        "Z" | "z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = hours_minutes(&offset[1..], "offset")?;
            sign * (h * 3600 + m * 60)
        }
    };
    Ok(date.unix_seconds() + hours * 3600 + minutes * 60 + seconds - offset_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_have_known_unix_timestamps() {
        assert_eq!(parse_instant("1970-01-01"), Ok(0));
        assert_eq!(parse_instant("2000-03-01"), Ok(951_868_800));
        assert_eq!(parse_instant("2026-01-01"), Ok(1_767_225_600));
        assert_eq!(parse_instant("2027-06-30"), Ok(1_814_313_600));
        assert_eq!(parse_instant("1969-12-31"), Ok(-86_400));
    }

    #[test]
    fn days_from_civil_counts_every_day_from_1900_to_2100() {
        let mut expected = days_from_civil(1900, 1, 1);
        assert_eq!(expected, -25_567);
        for year in 1900..2100 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                }
            }
        }
    }

    #[test]
    fn rfc3339_timestamps_honour_time_fraction_and_offset() {
        let midnight = 1_767_225_600;
        assert_eq!(parse_instant("2026-01-01T00:00:00Z"), Ok(midnight));
        assert_eq!(parse_instant("2026-01-01t00:00:00z"), Ok(midnight));
        assert_eq!(parse_instant("2026-01-01T12:30:15Z"), Ok(midnight + 45_015));
        assert_eq!(
            parse_instant("2026-01-01T12:30:15.999Z"),
            Ok(midnight + 45_015)
        );
        assert_eq!(parse_instant("2026-01-01T02:00:00+02:00"), Ok(midnight));
        assert_eq!(parse_instant("2025-12-31T19:00:00-05:00"), Ok(midnight));
    }

    #[test]
    fn month_and_day_ranges_include_leap_years() {
        assert!(CivilDate::parse("2024-02-29").is_ok());
        assert!(CivilDate::parse("2000-02-29").is_ok());
        assert_eq!(
            CivilDate::parse("2026-02-29"),
            Err("`2026-02-29` has day 29; February 2026 has 28 days".into())
        );
        assert!(CivilDate::parse("1900-02-29").is_err());
        assert!(CivilDate::parse("2026-04-31").is_err());
        assert!(CivilDate::parse("2026-13-01").is_err());
        assert!(CivilDate::parse("2026-00-10").is_err());
        assert!(CivilDate::parse("2026-01-00").is_err());
    }

    #[test]
    fn malformed_instants_say_why() {
        for bad in [
            "",
            "2026",
            "2026-1-1",
            "26-01-01",
            "2026/01/01",
            "2026-01-01T00:00:00",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+2:00",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01 junk",
            "next tuesday",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_quote_the_whole_text() {
        assert_eq!(
            parse_instant("next tuesday"),
            Err("`next tuesday` is neither YYYY-MM-DD nor an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SSZ)".into())
        );
        assert_eq!(
            parse_instant("2026-02-30T00:00:00Z"),
            Err("`2026-02-30` has day 30; February 2026 has 28 days".into())
        );
    }

    #[test]
    fn next_day_rolls_over_months_and_years() {
        let next = |s: &str| CivilDate::parse(s).unwrap().next_day().unwrap().to_string();
        assert_eq!(next("2026-01-15"), "2026-01-16");
        assert_eq!(next("2024-02-28"), "2024-02-29");
        assert_eq!(next("2026-02-28"), "2026-03-01");
        assert_eq!(next("2026-12-31"), "2027-01-01");
        assert_eq!(CivilDate::parse("9999-12-31").unwrap().next_day(), None);
    }
}
