//! Policy math, pure: which policy applies to an approval, when a step's reminders and escalation fall due (in
//! business time from when the step entered pending), and what is due at a given instant.

use qiao_calendar::Calendar;
use qiao_config::DeadlinePolicy;

const HOUR_MS: f64 = 3_600_000.0;

fn hours_ms(hours: f64) -> i64 {
    (hours * HOUR_MS).round() as i64
}

/// The first policy naming this connection and template (an empty list names every one).
pub fn policy_for<'a>(policies: &'a [DeadlinePolicy], connection: &str, template: Option<&str>) -> Option<&'a DeadlinePolicy> {
    policies.iter().find(|p| {
        (p.connections.is_empty() || p.connections.iter().any(|c| c == connection))
            && (p.templates.is_empty() || template.is_some_and(|t| p.templates.iter().any(|x| x == t)))
    })
}

/// Business time after entry at which reminder `n` (from 1) is due; None past `max_reminders`, or for a second
/// reminder when the policy repeats none.
fn reminder_after(p: &DeadlinePolicy, n: u32) -> Option<i64> {
    let first = p.remind_after_hours?;
    match n {
        0 => None,
        1 => Some(hours_ms(first)),
        n if n <= p.max_reminders => Some(hours_ms(first + p.remind_every_hours? * (n - 1) as f64)),
        _ => None,
    }
}

/// A step's timers given what was sent so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// The first deadline (first reminder or escalation): from then on the step is overdue.
    pub first_due_ms: Option<i64>,
    /// The next thing to do; None: nothing left.
    pub next_due_ms: Option<i64>,
}

/// What is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    /// The reminder to send (the latest one due: reminders missed while Qiao was down are not all sent in a row).
    pub reminder: Option<u32>,
    pub escalate: bool,
}

pub struct Schedule<'a> {
    pub policy: &'a DeadlinePolicy,
    pub calendar: &'a Calendar,
    pub entered_ms: i64,
}

impl Schedule<'_> {
    fn at(&self, after_ms: Option<i64>) -> Option<i64> {
        self.calendar.add_business_ms(self.entered_ms, after_ms?)
    }

    fn reminder_at(&self, n: u32) -> Option<i64> {
        self.at(reminder_after(self.policy, n))
    }

    fn escalation_at(&self) -> Option<i64> {
        self.at(self.policy.escalate_after_hours.map(hours_ms))
    }

    pub fn timers(&self, reminders: u32, escalated: bool) -> Timers {
        let first = [self.reminder_at(1), self.escalation_at()].into_iter().flatten().min();
        let next_reminder = self.reminder_at(reminders + 1);
        let escalation = self.escalation_at().filter(|_| !escalated);
        Timers { first_due_ms: first, next_due_ms: [next_reminder, escalation].into_iter().flatten().min() }
    }

    pub fn due(&self, reminders: u32, escalated: bool, now_ms: i64) -> Due {
        let reminder = (reminders + 1..=self.policy.max_reminders)
            .take_while(|n| self.reminder_at(*n).is_some_and(|at| at <= now_ms))
            .last();
        Due { reminder, escalate: !escalated && self.escalation_at().is_some_and(|at| at <= now_ms) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qiao_calendar::Spec;
    use qiao_config::Via;

    fn policy(remind: Option<f64>, every: Option<f64>, escalate: Option<f64>) -> DeadlinePolicy {
        DeadlinePolicy {
            templates: vec![],
            connections: vec![],
            remind_after_hours: remind,
            remind_every_hours: every,
            escalate_after_hours: escalate,
            max_reminders: 3,
            via: Via::Notice,
            chat: None,
            text: None,
            escalation_text: None,
            connection: None,
        }
    }

    fn calendar() -> Calendar {
        Calendar::new(&Spec {
            hours: vec!["09:00-12:00".into(), "13:00-18:00".into()],
            holidays: vec!["2030-11-18".into()],
            ..Spec::default()
        })
        .unwrap()
    }

    #[test]
    fn the_first_matching_policy_applies() {
        let mut leave = policy(Some(1.0), None, None);
        leave.templates = vec!["LEAVE".into()];
        let mut dt = policy(Some(2.0), None, None);
        dt.connections = vec!["dt".into()];
        let all = policy(Some(3.0), None, None);
        let policies = [leave, dt, all];
        assert_eq!(policy_for(&policies, "fs", Some("LEAVE")).unwrap().remind_after_hours, Some(1.0));
        assert_eq!(policy_for(&policies, "dt", Some("EXPENSE")).unwrap().remind_after_hours, Some(2.0));
        assert_eq!(policy_for(&policies, "fs", None).unwrap().remind_after_hours, Some(3.0));
        assert!(policy_for(&policies[..1], "fs", None).is_none(), "a template policy needs a template");
    }

    #[test]
    fn reminders_repeat_then_escalate_across_a_weekend_and_a_holiday() {
        let c = calendar();
        let p = policy(Some(2.0), Some(1.5), Some(4.0));
        let s = Schedule { policy: &p, calendar: &c, entered_ms: c.at("2030-11-15", 17, 0).unwrap() };
        // Friday 17:00 + 2 h: Tuesday 10:00 (the weekend and the holiday Monday skipped); +1.5 h: 11:30; the
        // escalation at 4 h: Tuesday 12:00; the third reminder at 5 h: 13:00 + 1 h.
        let t = s.timers(0, false);
        assert_eq!(t.first_due_ms, c.at("2030-11-19", 10, 0));
        assert_eq!(t.next_due_ms, c.at("2030-11-19", 10, 0));
        assert_eq!(s.timers(1, false).next_due_ms, c.at("2030-11-19", 11, 30));
        assert_eq!(s.timers(2, false).next_due_ms, c.at("2030-11-19", 12, 0), "the escalation comes first");
        assert_eq!(s.timers(2, true).next_due_ms, c.at("2030-11-19", 14, 0));
        assert_eq!(s.timers(3, true).next_due_ms, None, "max_reminders reached");
        assert_eq!(s.timers(3, true).first_due_ms, t.first_due_ms, "the first deadline does not move");

        assert_eq!(s.due(0, false, c.at("2030-11-18", 17, 0).unwrap()), Due::default(), "the holiday does not count");
        assert_eq!(s.due(0, false, c.at("2030-11-19", 10, 0).unwrap()), Due { reminder: Some(1), escalate: false });
        // Down from Friday until Tuesday 12:30: the latest reminder and the escalation, not every reminder missed.
        assert_eq!(s.due(0, false, c.at("2030-11-19", 12, 30).unwrap()), Due { reminder: Some(2), escalate: true });
        assert_eq!(s.due(2, true, c.at("2030-11-19", 12, 30).unwrap()), Due::default());
    }

    #[test]
    fn one_reminder_without_a_repeat_and_escalation_only_policies() {
        let c = calendar();
        let entered = c.at("2030-11-12", 9, 0).unwrap();
        let once = policy(Some(0.5), None, None);
        let s = Schedule { policy: &once, calendar: &c, entered_ms: entered };
        assert_eq!(s.timers(0, false).next_due_ms, c.at("2030-11-12", 9, 30));
        assert_eq!(s.timers(1, false).next_due_ms, None);
        assert_eq!(s.due(0, false, c.at("2030-11-20", 9, 0).unwrap()).reminder, Some(1));
        let escalate = policy(None, None, Some(8.0));
        let s = Schedule { policy: &escalate, calendar: &c, entered_ms: entered };
        assert_eq!(s.timers(0, false).first_due_ms, c.at("2030-11-12", 18, 0));
        assert_eq!(s.due(0, false, c.at("2030-11-12", 18, 0).unwrap()), Due { reminder: None, escalate: true });
    }
}
