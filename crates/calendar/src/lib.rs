//! qiao-calendar: a business calendar — working hours (one or more intervals a day, e.g. a lunch break between
//! two), working weekdays, a time zone and date overrides — and the arithmetic approval deadlines need: add N
//! business minutes to an instant, count the business minutes between two instants, tell whether an instant is
//! in working time.
//!
//! The time zone is a **fixed UTC offset** (`+08:00`): China (the platforms' home) has had no daylight saving
//! time since 1991, so an offset is exact there; a zone with DST would need a rule table this crate does not carry.
//! China moves weekends around public holidays (调休), so overrides go both ways: `holidays` close a date that
//! would be a working day, `workdays` open a date that would not be (a working Saturday).
//!
//! Pure: no IO, no clock. Instants are milliseconds since the Unix epoch.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// `business_ms_between` looks at most this many days (about 27 years): inputs are bounded, not trusted.
const MAX_SPAN_DAYS: i64 = 10_000;
/// At most this many dates in `holidays` and in `workdays`, and intervals in `hours`.
pub const MAX_DATES: usize = 2_000;
pub const MAX_INTERVALS: usize = 8;

/// The calendar as written in `qiao.toml` (`[calendar]`). The defaults: 09:00–18:00, Monday to Friday, `+08:00`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spec {
    /// Working intervals of a working day, `"HH:MM-HH:MM"` (end may be `24:00`), in order and not overlapping:
    /// `["09:00-12:00", "13:00-18:00"]` for a lunch break.
    pub hours: Vec<String>,
    /// Working weekdays: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun` (or the full English names).
    pub weekdays: Vec<String>,
    /// `+08:00`, `-05:30`, `Z`: the fixed offset every date and hour above is read in.
    pub utc_offset: String,
    /// Dates (`YYYY-MM-DD`) that are not worked though their weekday is (public holidays).
    pub holidays: Vec<String>,
    /// Dates that are worked though their weekday is not (a make-up working Saturday, 调休).
    pub workdays: Vec<String>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            hours: vec!["09:00-18:00".into()],
            weekdays: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            utc_offset: "+08:00".into(),
            holidays: Vec::new(),
            workdays: Vec::new(),
        }
    }
}

/// A checked calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    offset_ms: i64,
    /// Working intervals within a day, in ms since local midnight: sorted, disjoint, non-empty.
    hours: Vec<(i64, i64)>,
    /// Monday = 0.
    weekdays: [bool; 7],
    /// Days since 1970-01-01 (local dates).
    holidays: BTreeSet<i64>,
    workdays: BTreeSet<i64>,
}

/// Every problem found in a [`Spec`], each a sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for Invalid {}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::new(&Spec::default()).expect("the default calendar is valid")
    }
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEKDAY_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

impl Calendar {
    /// Checks a spec, listing every problem.
    pub fn new(spec: &Spec) -> Result<Calendar, Invalid> {
        let mut problems = Vec::new();
        let offset_ms = parse_offset(&spec.utc_offset).unwrap_or_else(|| {
            problems.push(format!("utc_offset {:?} is not an offset like \"+08:00\"", spec.utc_offset));
            0
        });

        let mut hours = Vec::new();
        if spec.hours.is_empty() {
            problems.push("hours is empty: give at least one interval like \"09:00-18:00\"".into());
        }
        if spec.hours.len() > MAX_INTERVALS {
            problems.push(format!("hours lists {} intervals; at most {MAX_INTERVALS}", spec.hours.len()));
        }
        for entry in spec.hours.iter().take(MAX_INTERVALS) {
            match parse_interval(entry) {
                Some((start, end)) if start < end => {
                    if let Some(&(_, previous_end)) = hours.last()
                        && start < previous_end
                    {
                        problems.push(format!(
                            "hours {entry:?} starts before the previous interval ends (list intervals in order, without overlap)"
                        ));
                    }
                    hours.push((start, end));
                }
                Some(_) => problems.push(format!("hours {entry:?} ends before it starts")),
                None => problems.push(format!("hours {entry:?} is not an interval like \"09:00-12:00\"")),
            }
        }

        let mut weekdays = [false; 7];
        for day in &spec.weekdays {
            let lower = day.to_ascii_lowercase();
            match WEEKDAYS.iter().zip(WEEKDAY_NAMES).position(|(short, long)| lower == *short || lower == long) {
                Some(i) => weekdays[i] = true,
                None => problems.push(format!("weekdays: {day:?} is not a weekday (mon, tue, … sun)")),
            }
        }

        let mut dates = |field: &str, list: &[String]| -> BTreeSet<i64> {
            if list.len() > MAX_DATES {
                problems.push(format!("{field} lists {} dates; at most {MAX_DATES}", list.len()));
            }
            list.iter()
                .take(MAX_DATES)
                .filter_map(|d| {
                    let day = parse_date(d);
                    if day.is_none() {
                        problems.push(format!("{field}: {d:?} is not a date like \"2026-10-01\""));
                    }
                    day
                })
                .collect()
        };
        let holidays = dates("holidays", &spec.holidays);
        let workdays = dates("workdays", &spec.workdays);
        for both in holidays.intersection(&workdays) {
            problems.push(format!("{} is both in holidays and in workdays", format_date(*both)));
        }
        if !weekdays.contains(&true) && workdays.is_empty() {
            problems.push("no working day: weekdays is empty and so is workdays".into());
        }
        if !problems.is_empty() {
            return Err(Invalid(problems));
        }
        Ok(Calendar { offset_ms, hours, weekdays, holidays, workdays })
    }

    /// Whether a local date (days since 1970-01-01) is worked.
    fn works(&self, day: i64) -> bool {
        self.workdays.contains(&day) || (self.weekdays[weekday(day)] && !self.holidays.contains(&day))
    }

    /// After the last working day the overrides know of, a working day comes within a week only if some weekday
    /// is worked; without one, nothing does.
    fn last_override(&self) -> i64 {
        self.workdays.iter().next_back().copied().unwrap_or(i64::MIN)
    }

    fn local(&self, instant_ms: i64) -> (i64, i64) {
        let local = instant_ms.saturating_add(self.offset_ms);
        (local.div_euclid(DAY_MS), local.rem_euclid(DAY_MS))
    }

    fn instant(&self, day: i64, time_ms: i64) -> i64 {
        day * DAY_MS + time_ms - self.offset_ms
    }

    /// Whether the instant falls in working time.
    pub fn is_working(&self, instant_ms: i64) -> bool {
        let (day, time) = self.local(instant_ms);
        self.works(day) && self.hours.iter().any(|&(s, e)| s <= time && time < e)
    }

    /// The instant `business_ms` of working time after `start_ms`. Starting outside working hours counts from the
    /// next working moment; a total that ends exactly at the end of an interval answers that end (18:00, not the
    /// next morning). `None` when the calendar has no working time left (only overrides, all in the past).
    pub fn add_business_ms(&self, start_ms: i64, business_ms: i64) -> Option<i64> {
        let (mut day, mut time) = self.local(start_ms);
        let mut left = business_ms.max(0);
        if left == 0 {
            return Some(start_ms);
        }
        let no_weekday = !self.weekdays.contains(&true);
        loop {
            if no_weekday && day > self.last_override() {
                return None;
            }
            if self.works(day) {
                for &(s, e) in &self.hours {
                    if e <= time {
                        continue;
                    }
                    let from = s.max(time);
                    if left <= e - from {
                        return Some(self.instant(day, from + left));
                    }
                    left -= e - from;
                }
            }
            day += 1;
            time = 0;
        }
    }

    /// [`Calendar::add_business_ms`] in minutes.
    pub fn add_business_minutes(&self, start_ms: i64, minutes: i64) -> Option<i64> {
        self.add_business_ms(start_ms, minutes.saturating_mul(MINUTE_MS))
    }

    /// Working time between two instants, in ms (0 when `to` is not after `from`). Spans longer than about 27
    /// years are counted up to that.
    pub fn business_ms_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let (first, from_time) = self.local(from_ms);
        let (last, to_time) = self.local(to_ms);
        let last = last.min(first + MAX_SPAN_DAYS);
        let mut total = 0;
        for day in first..=last {
            if !self.works(day) {
                continue;
            }
            let lower = if day == first { from_time } else { 0 };
            let upper = if day == last { to_time } else { DAY_MS };
            total += self
                .hours
                .iter()
                .map(|&(s, e)| (e.min(upper) - s.max(lower)).max(0))
                .sum::<i64>();
        }
        total
    }

    /// Whole business minutes between two instants.
    pub fn business_minutes_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        self.business_ms_between(from_ms, to_ms) / MINUTE_MS
    }

    /// The instant of a local date and time in this calendar's offset, e.g. `at("2026-10-09", 9, 30)`; `None`
    /// for a date that does not parse.
    pub fn at(&self, date: &str, hour: u32, minute: u32) -> Option<i64> {
        let day = parse_date(date)?;
        Some(self.instant(day, (hour as i64 * 60 + minute as i64) * MINUTE_MS))
    }
}

/// Monday = 0: 1970-01-01 was a Thursday.
fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

fn parse_offset(text: &str) -> Option<i64> {
    if text == "Z" || text == "z" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let minutes = parse_clock(rest).filter(|&m| m <= 14 * 60)?;
    Some(sign * minutes * MINUTE_MS)
}

/// `HH:MM` → minutes since midnight (`24:00` allowed).
fn parse_clock(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn parse_interval(text: &str) -> Option<(i64, i64)> {
    let (start, end) = text.split_once('-')?;
    Some((parse_clock(start.trim())? * MINUTE_MS, parse_clock(end.trim())? * MINUTE_MS))
}

/// `YYYY-MM-DD` → days since 1970-01-01; `None` for anything else, or a date that does not exist (02-30).
pub fn parse_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts[..] else { return None };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

pub fn format_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`); months and days out
/// of range roll over.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 60;

    /// 09:00–12:00 and 13:00–18:00 (8 h a day), Monday to Friday, +08:00; 2030-11-18 (a Monday) a holiday and
    /// 2030-11-23 (a Saturday) a working day.
    fn china() -> Calendar {
        Calendar::new(&Spec {
            hours: vec!["09:00-12:00".into(), "13:00-18:00".into()],
            holidays: vec!["2030-11-18".into()],
            workdays: vec!["2030-11-23".into()],
            ..Spec::default()
        })
        .unwrap()
    }

    fn at(c: &Calendar, date: &str, h: u32, m: u32) -> i64 {
        c.at(date, h, m).unwrap()
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2030, 11, 15)), (2030, 11, 15));
        for day in [-800_000, -1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(weekday(days_from_civil(2030, 11, 15)), 4, "a Friday");
        assert_eq!(parse_date("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2026-1-01"), None);
        assert_eq!(format_date(days_from_civil(2026, 10, 1)), "2026-10-01");
    }

    #[test]
    fn the_offset_places_working_hours() {
        let c = china();
        // 2030-11-15 09:00 +08:00 is 01:00 UTC.
        assert_eq!(at(&c, "2030-11-15", 9, 0) % DAY_MS, H * MINUTE_MS);
        assert!(c.is_working(at(&c, "2030-11-15", 9, 0)));
        assert!(!c.is_working(at(&c, "2030-11-15", 8, 59)));
        assert!(!c.is_working(at(&c, "2030-11-15", 12, 30)), "lunch");
        assert!(!c.is_working(at(&c, "2030-11-15", 18, 0)), "the end is not in");
        assert!(!c.is_working(at(&c, "2030-11-16", 10, 0)), "Saturday");
        assert!(!c.is_working(at(&c, "2030-11-18", 10, 0)), "the holiday Monday");
        assert!(c.is_working(at(&c, "2030-11-23", 10, 0)), "the working Saturday");
        let utc = Calendar::new(&Spec { utc_offset: "Z".into(), ..Spec::default() }).unwrap();
        assert!(utc.is_working(at(&c, "2030-11-15", 17, 0)), "17:00 +08:00 is 09:00 UTC");
    }

    #[test]
    fn adding_within_a_day_skips_lunch() {
        let c = china();
        let start = at(&c, "2030-11-15", 10, 0);
        assert_eq!(c.add_business_minutes(start, 150), Some(at(&c, "2030-11-15", 13, 30)));
        assert_eq!(c.add_business_minutes(start, 2 * H), Some(at(&c, "2030-11-15", 12, 0)), "ends at the interval's end");
        assert_eq!(c.add_business_minutes(start, 0), Some(start));
        assert_eq!(c.add_business_ms(start, 30_000), Some(start + 30_000));
    }

    #[test]
    fn adding_across_a_weekend_and_a_holiday() {
        let c = china();
        // Friday 17:00 + 2 h: one hour on Friday, the weekend and the holiday Monday skipped, one on Tuesday.
        let friday = at(&c, "2030-11-15", 17, 0);
        assert_eq!(c.add_business_minutes(friday, 2 * H), Some(at(&c, "2030-11-19", 10, 0)));
        assert_eq!(c.business_minutes_between(friday, at(&c, "2030-11-19", 10, 0)), 2 * H);
        // Without the holiday, Monday would do.
        let plain = Calendar::new(&Spec { hours: vec!["09:00-12:00".into(), "13:00-18:00".into()], ..Spec::default() }).unwrap();
        assert_eq!(plain.add_business_minutes(friday, 2 * H), Some(at(&c, "2030-11-18", 10, 0)));
    }

    #[test]
    fn a_working_saturday_counts() {
        let c = china();
        let friday = at(&c, "2030-11-22", 17, 0);
        assert_eq!(c.add_business_minutes(friday, 2 * H), Some(at(&c, "2030-11-23", 10, 0)));
        assert_eq!(c.business_minutes_between(friday, at(&c, "2030-11-25", 9, 0)), 9 * H, "1 h Friday, 8 h Saturday");
    }

    #[test]
    fn starting_outside_hours_counts_from_the_next_working_moment() {
        let c = china();
        for start in [at(&c, "2030-11-15", 7, 0), at(&c, "2030-11-14", 20, 0), at(&c, "2030-11-15", 0, 0)] {
            assert_eq!(c.add_business_minutes(start, 30), Some(at(&c, "2030-11-15", 9, 30)));
        }
        assert_eq!(c.add_business_minutes(at(&c, "2030-11-15", 12, 15), 30), Some(at(&c, "2030-11-15", 13, 30)));
        assert_eq!(c.add_business_minutes(at(&c, "2030-11-16", 11, 0), 60), Some(at(&c, "2030-11-19", 10, 0)));
        assert_eq!(c.business_minutes_between(at(&c, "2030-11-16", 0, 0), at(&c, "2030-11-18", 23, 0)), 0);
    }

    #[test]
    fn between_counts_partial_days_and_is_the_inverse_of_add() {
        let c = china();
        let a = at(&c, "2030-11-12", 11, 30);
        assert_eq!(c.business_minutes_between(a, at(&c, "2030-11-12", 14, 0)), 30 + 60);
        assert_eq!(c.business_minutes_between(a, at(&c, "2030-11-13", 9, 30)), 30 + 5 * H + 30);
        assert_eq!(c.business_minutes_between(a, a - 1), 0);
        for minutes in [1, 59, 8 * H, 8 * H + 1, 40 * H, 123 * H + 7] {
            let end = c.add_business_minutes(a, minutes).unwrap();
            assert_eq!(c.business_minutes_between(a, end), minutes, "{minutes}");
        }
    }

    #[test]
    fn a_negative_offset_and_midnight_end() {
        let c = Calendar::new(&Spec {
            hours: vec!["20:00-24:00".into()],
            weekdays: vec!["Monday".into()],
            utc_offset: "-05:30".into(),
            ..Spec::default()
        })
        .unwrap();
        let monday = at(&c, "2030-11-11", 22, 0);
        assert!(c.is_working(monday));
        assert_eq!(c.add_business_minutes(monday, 3 * H), Some(at(&c, "2030-11-18", 21, 0)));
    }

    #[test]
    fn only_overrides_run_out() {
        let c = Calendar::new(&Spec { weekdays: vec![], workdays: vec!["2030-11-23".into()], ..Spec::default() }).unwrap();
        let before = at(&c, "2030-11-20", 9, 0);
        assert_eq!(c.add_business_minutes(before, 60), Some(at(&c, "2030-11-23", 10, 0)));
        assert_eq!(c.add_business_minutes(before, 10 * H), None);
    }

    #[test]
    fn every_problem_is_listed() {
        let err = Calendar::new(&Spec {
            hours: vec!["9:00-12:00".into(), "13:00-12:30".into(), "11:00-19:00".into()],
            weekdays: vec!["mon".into(), "funday".into()],
            utc_offset: "8".into(),
            holidays: vec!["2026-10-01".into(), "2026-13-01".into()],
            workdays: vec!["2026-10-01".into()],
        })
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "utc_offset \"8\"",
            "hours \"9:00-12:00\" is not an interval",
            "hours \"13:00-12:30\" ends before it starts",
            "weekdays: \"funday\"",
            "holidays: \"2026-13-01\"",
            "2026-10-01 is both in holidays and in workdays",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let overlap = Calendar::new(&Spec { hours: vec!["09:00-13:00".into(), "12:00-18:00".into()], ..Spec::default() });
        assert!(overlap.unwrap_err().to_string().contains("starts before the previous interval ends"));
        let none = Calendar::new(&Spec { weekdays: vec![], ..Spec::default() });
        assert!(none.unwrap_err().to_string().contains("no working day"));
    }
}
