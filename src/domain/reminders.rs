//! What falls due on a case, from its clear timeline (kinds and times, never
//! content), its agreed return date and the node's calendar: the verification
//! the home side owes, the reintegration follow-ups after reception, and the
//! handover once the agreed return day has passed. Time is a parameter.

use super::sop::{Kind, Side, State};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// A month, for follow-ups: thirty days.
const MONTH_MS: i64 = 30 * DAY_MS;

/// How the node schedules follow-ups and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Follow-ups after reception, in months (1, 3, 6, 12 by default).
    pub follow_up_months: Vec<u32>,
    /// Days the home side has to verify a referral.
    pub verification_days: u32,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            follow_up_months: vec![1, 3, 6, 12],
            verification_days: 14,
        }
    }
}

/// Something due, and since when (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// The referral is not verified yet.
    Verification { since: i64 },
    /// The n-th follow-up (its month after reception) has not been sent.
    FollowUp { month: u32, since: i64 },
    /// The agreed return day has passed and no handover is recorded.
    Handover { since: i64 },
}

/// Both countries keep UTC+7 all year (Asia/Bangkok, Asia/Vientiane): a return
/// day ends at midnight there.
const BORDER_OFFSET_MS: i64 = 7 * 3600 * 1000;

/// What is overdue at `now` on a case whose timeline holds `moves` (kind and
/// time, in order, applied only), on our `side`, in `state`, with the return
/// date agreed (`return_date`, when known).
pub fn overdue(
    schedule: &Schedule,
    side: Side,
    state: State,
    moves: &[(Kind, i64)],
    return_date: Option<time::Date>,
    now: i64,
) -> Vec<Due> {
    let mut out = Vec::new();
    if state.is_end() {
        return out;
    }
    // Either side: the host records the handover, the home side waits for the
    // person at the border.
    if state == State::ReturnConfirmed
        && let Some(day) = return_date
    {
        let midnight = day.midnight().assume_utc().unix_timestamp() * 1000;
        let due = midnight + DAY_MS - BORDER_OFFSET_MS;
        if now >= due {
            out.push(Due::Handover { since: due });
        }
    }
    if side != Side::Home {
        return out;
    }
    let at = |kind: Kind| moves.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t);
    if matches!(state, State::Referred | State::Acknowledged)
        && let Some(referred) = at(Kind::Referral)
    {
        let due = referred + i64::from(schedule.verification_days) * DAY_MS;
        if now >= due {
            out.push(Due::Verification { since: due });
        }
    }
    if let Some(received) = at(Kind::Reception) {
        let sent = moves
            .iter()
            .filter(|(k, _)| *k == Kind::ReintegrationUpdate)
            .count();
        for (i, month) in schedule.follow_up_months.iter().enumerate() {
            let due = received + i64::from(*month) * MONTH_MS;
            if i >= sent && now >= due {
                out.push(Due::FollowUp {
                    month: *month,
                    since: due,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_and_verification_fall_due_with_the_clock() {
        let s = Schedule::default();
        let day = DAY_MS;
        let referred = vec![(Kind::Referral, 0)];
        assert!(
            overdue(
                &s,
                Side::Home,
                State::Referred,
                &referred,
                None,
                14 * day - 1
            )
            .is_empty()
        );
        assert_eq!(
            overdue(&s, Side::Home, State::Referred, &referred, None, 14 * day),
            [Due::Verification { since: 14 * day }]
        );
        assert!(
            overdue(&s, Side::Host, State::Referred, &referred, None, 99 * day).is_empty(),
            "the home side verifies"
        );
        let received = vec![(Kind::Referral, 0), (Kind::Reception, 10 * day)];
        assert!(overdue(&s, Side::Home, State::Received, &received, None, 39 * day).is_empty());
        assert_eq!(
            overdue(&s, Side::Home, State::Received, &received, None, 41 * day),
            [Due::FollowUp {
                month: 1,
                since: 40 * day
            }]
        );
        let mut one = received.clone();
        one.push((Kind::ReintegrationUpdate, 41 * day));
        assert!(overdue(&s, Side::Home, State::Reintegrating, &one, None, 99 * day).is_empty());
        assert_eq!(
            overdue(&s, Side::Home, State::Reintegrating, &one, None, 101 * day).len(),
            1
        );
        assert!(
            overdue(&s, Side::Home, State::Closed, &one, None, 999 * day).is_empty(),
            "ended"
        );
    }

    #[test]
    fn a_handover_falls_due_after_the_agreed_day_ends_at_the_border() {
        let s = Schedule::default();
        let day = time::macros::date!(2026 - 03 - 10);
        // 2026-03-11 00:00 at UTC+7 is 2026-03-10 17:00 UTC.
        let end = time::macros::datetime!(2026-03-10 17:00 UTC).unix_timestamp() * 1000;
        for side in [Side::Host, Side::Home] {
            assert!(overdue(&s, side, State::ReturnConfirmed, &[], Some(day), end - 1).is_empty());
            assert_eq!(
                overdue(&s, side, State::ReturnConfirmed, &[], Some(day), end),
                [Due::Handover { since: end }]
            );
        }
        assert!(
            overdue(
                &s,
                Side::Host,
                State::HandedOver,
                &[],
                Some(day),
                end + DAY_MS
            )
            .is_empty(),
            "handed over"
        );
        assert!(overdue(&s, Side::Host, State::ReturnConfirmed, &[], None, end).is_empty());
    }
}
