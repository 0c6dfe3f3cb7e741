//! The prosecution track (DESIGN §2): the order its milestones may come in, and
//! the summary a legal-aid lawyer follows. Pure: history in, verdict out.

use serde::Serialize;

use super::messages::{Milestone, ProsecutionUpdate};

/// Why a milestone cannot come now (answered with 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OutOfOrder(pub String);

fn refuse(m: &str) -> Result<(), OutOfOrder> {
    Err(OutOfOrder(m.to_owned()))
}

/// Whether `next` may follow `history` (the milestones so far, in order).
///
/// - nothing follows `prosecution_closed`, except an `appeal`, which reopens;
/// - a verdict needs `charges_filed`, and one verdict stands until an `appeal`;
/// - an `appeal` needs a verdict since the last appeal;
/// - `testimony_given` needs an open `testimony_requested` (testimony may be taken
///   before charges: Anti-Trafficking Act s.31);
/// - compensation goes claimed → awarded → paid; an award needs a conviction.
pub fn check_next(history: &[Milestone], next: Milestone) -> Result<(), OutOfOrder> {
    use Milestone::*;
    let seen = |m: Milestone| history.contains(&m);
    let since_last = |m: Milestone| -> &[Milestone] {
        match history.iter().rposition(|h| *h == m) {
            Some(i) => &history[i + 1..],
            None => history,
        }
    };
    let since_appeal = since_last(Appeal);
    let verdict_standing = since_appeal
        .iter()
        .any(|m| matches!(m, VerdictConvicted | VerdictAcquitted));
    let convicted = history.contains(&VerdictConvicted);
    if history.last() == Some(&ProsecutionClosed) && next != Appeal {
        return refuse("the prosecution is closed: only an appeal reopens it");
    }
    match next {
        VerdictConvicted | VerdictAcquitted if !seen(ChargesFiled) => {
            refuse("no verdict before charges are filed")
        }
        VerdictConvicted | VerdictAcquitted if verdict_standing => {
            refuse("a verdict already stands: record an appeal first")
        }
        Appeal if !verdict_standing => refuse("an appeal needs a verdict to appeal against"),
        TestimonyGiven if !since_last(TestimonyGiven).contains(&TestimonyRequested) => {
            refuse("no testimony was requested")
        }
        CompensationAwarded if !seen(CompensationClaimed) => {
            refuse("no compensation awarded before it is claimed")
        }
        CompensationAwarded if !convicted => refuse("no compensation awarded without a conviction"),
        CompensationPaid if !seen(CompensationAwarded) => {
            refuse("no compensation paid before it is awarded")
        }
        TrialScheduled if !seen(ChargesFiled) => refuse("no trial before charges are filed"),
        _ => Ok(()),
    }
}

/// A milestone's name as the wire and the clear columns spell it (`charges_filed`).
pub fn milestone_name(m: Milestone) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What a lawyer following the case sees: milestones and dates, the court, the
/// charges, the next hearing, compensation, and whose move it is. Never the
/// person: no names, contacts, addresses, health or testimony content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Track {
    pub milestones: Vec<MilestoneEntry>,
    pub current: Option<Milestone>,
    pub police_unit: Option<String>,
    pub police_case_number: Option<String>,
    pub court: Option<String>,
    pub court_case_number: Option<String>,
    pub charges: Vec<String>,
    pub next_hearing: Option<String>,
    pub compensation: Compensation,
    /// `home` while a testimony arrangement is awaited, else `host`.
    pub turn: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MilestoneEntry {
    pub milestone: Milestone,
    pub date: String,
}

/// Amounts in Thai baht, as last recorded at each step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Compensation {
    pub claimed_thb: Option<u64>,
    pub awarded_thb: Option<u64>,
    pub paid_thb: Option<u64>,
}

/// The track from the case's updates, in order; `testimony_pending` from the case.
pub fn summarise(updates: &[ProsecutionUpdate], testimony_pending: bool) -> Track {
    let mut t = Track {
        turn: if testimony_pending { "home" } else { "host" },
        ..Track::default()
    };
    for u in updates {
        t.milestones.push(MilestoneEntry {
            milestone: u.milestone,
            date: u.date.to_string(),
        });
        t.current = Some(u.milestone);
        let keep = |field: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
                *field = Some(v.clone());
            }
        };
        keep(&mut t.police_unit, &u.police_unit);
        keep(&mut t.police_case_number, &u.police_case_number);
        keep(&mut t.court, &u.court);
        keep(&mut t.court_case_number, &u.court_case_number);
        if !u.charges.is_empty() {
            t.charges = u.charges.clone();
        }
        if let Some(h) = &u.next_hearing {
            t.next_hearing = Some(h.to_string());
        }
        match u.milestone {
            Milestone::CompensationClaimed => t.compensation.claimed_thb = u.amount_thb,
            Milestone::CompensationAwarded => t.compensation.awarded_thb = u.amount_thb,
            Milestone::CompensationPaid => t.compensation.paid_thb = u.amount_thb,
            // A verdict or a closed case leaves no hearing ahead unless one is given.
            Milestone::VerdictConvicted
            | Milestone::VerdictAcquitted
            | Milestone::ProsecutionClosed
                if u.next_hearing.is_none() =>
            {
                t.next_hearing = None
            }
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use Milestone::*;

    fn ok(history: &[Milestone], next: Milestone) -> bool {
        check_next(history, next).is_ok()
    }

    #[test]
    fn verdicts_need_charges_and_an_appeal_reopens() {
        assert!(!ok(&[ComplaintFiled], VerdictConvicted));
        assert!(ok(&[ComplaintFiled, ChargesFiled], VerdictConvicted));
        let convicted = [ChargesFiled, VerdictConvicted];
        assert!(!ok(&convicted, VerdictAcquitted), "one verdict stands");
        assert!(ok(&convicted, Appeal));
        assert!(ok(
            &[ChargesFiled, VerdictConvicted, Appeal],
            VerdictAcquitted
        ));
        assert!(!ok(&[ChargesFiled], Appeal));
        assert!(!ok(&[ChargesFiled, VerdictConvicted, Appeal], Appeal));
    }

    #[test]
    fn compensation_goes_claimed_awarded_paid() {
        let base = [ChargesFiled, VerdictConvicted];
        assert!(!ok(&base, CompensationPaid));
        assert!(!ok(&base, CompensationAwarded));
        assert!(ok(
            &[ChargesFiled, CompensationClaimed],
            CompensationClaimed
        ));
        assert!(
            !ok(&[ChargesFiled, CompensationClaimed], CompensationAwarded),
            "no conviction"
        );
        let claimed = [ChargesFiled, CompensationClaimed, VerdictConvicted];
        assert!(ok(&claimed, CompensationAwarded));
        let awarded = [
            ChargesFiled,
            CompensationClaimed,
            VerdictConvicted,
            CompensationAwarded,
        ];
        assert!(ok(&awarded, CompensationPaid));
    }

    #[test]
    fn testimony_before_charges_and_only_when_requested() {
        assert!(ok(&[ComplaintFiled], TestimonyRequested));
        assert!(!ok(&[ComplaintFiled], TestimonyGiven));
        assert!(ok(&[ComplaintFiled, TestimonyRequested], TestimonyGiven));
        assert!(!ok(&[TestimonyRequested, TestimonyGiven], TestimonyGiven));
    }

    #[test]
    fn closed_is_closed_until_an_appeal() {
        let closed = [ChargesFiled, VerdictAcquitted, ProsecutionClosed];
        assert!(!ok(&closed, Investigation));
        assert!(ok(&closed, Appeal));
        let message = check_next(&closed, CompensationClaimed).unwrap_err().0;
        assert!(message.contains("closed"), "{message}");
    }
}
