use std::collections::HashMap;

use super::*;

/// Every status a case can be in, named as in docs/sop.md.
fn statuses() -> Vec<(&'static str, Status)> {
    use State::*;
    let at = |s, t| Status {
        state: s,
        turn: Some(t),
    };
    let end = |s| Status {
        state: s,
        turn: None,
    };
    vec![
        ("draft", at(Draft, Side::Host)),
        ("referred", at(Referred, Side::Home)),
        ("acknowledged", at(Acknowledged, Side::Home)),
        ("verified", at(Verified, Side::Host)),
        ("return_planned/home", at(ReturnPlanned, Side::Home)),
        ("return_planned/host", at(ReturnPlanned, Side::Host)),
        ("return_confirmed", at(ReturnConfirmed, Side::Host)),
        ("handed_over", at(HandedOver, Side::Home)),
        ("received", at(Received, Side::Home)),
        ("reintegrating", at(Reintegrating, Side::Home)),
        ("declined", end(Declined)),
        ("closed", end(Closed)),
        ("withdrawn", end(Withdrawn)),
    ]
}

fn moves() -> Vec<(&'static str, Move)> {
    let mut out: Vec<(&'static str, Move)> = Kind::ALL
        .iter()
        .map(|k| (k.as_str(), Move::of(*k)))
        .collect();
    out.push(("verification(not confirmed)", Move::verification(false)));
    out
}

/// The allowed moves, written out from DESIGN §2: (status, side, move) → status.
/// Everything not listed must be refused.
fn expected() -> HashMap<(&'static str, &'static str, &'static str), &'static str> {
    let mut t = HashMap::new();
    let track: &[(&str, &str, &str, &str)] = &[
        ("draft", "host", "referral", "referred"),
        ("referred", "home", "acknowledgement", "acknowledged"),
        ("referred", "home", "decline", "declined"),
        ("acknowledged", "home", "verification", "verified"),
        (
            "acknowledged",
            "home",
            "verification(not confirmed)",
            "declined",
        ),
        ("acknowledged", "home", "decline", "declined"),
        ("verified", "host", "return_plan", "return_planned/home"),
        (
            "return_planned/home",
            "home",
            "return_counterproposal",
            "return_planned/host",
        ),
        (
            "return_planned/home",
            "home",
            "return_confirmation",
            "return_confirmed",
        ),
        (
            "return_planned/host",
            "host",
            "return_plan",
            "return_planned/home",
        ),
        ("return_confirmed", "host", "handover", "handed_over"),
        ("handed_over", "home", "reception", "received"),
        ("received", "home", "reintegration_update", "reintegrating"),
        ("received", "home", "closure", "closed"),
        (
            "reintegrating",
            "home",
            "reintegration_update",
            "reintegrating",
        ),
        ("reintegrating", "home", "closure", "closed"),
    ];
    for (status, side, mv, next) in track {
        t.insert((*status, *side, *mv), *next);
    }
    // Withdrawal: either side, before the handover; a draft only the host has.
    t.insert(("draft", "host", "withdrawal"), "withdrawn");
    for status in [
        "referred",
        "acknowledged",
        "verified",
        "return_planned/home",
        "return_planned/host",
        "return_confirmed",
    ] {
        for side in ["host", "home"] {
            t.insert((status, side, "withdrawal"), "withdrawn");
        }
    }
    // Beside the track, in every state after the referral: notes by either side, the
    // prosecution track by the host, testimony arrangements by the home side.
    for (status, _) in statuses().into_iter().filter(|(n, _)| *n != "draft") {
        t.insert((status, "host", "note"), status);
        t.insert((status, "home", "note"), status);
        t.insert((status, "host", "prosecution_update"), status);
        t.insert((status, "home", "testimony_arrangement"), status);
        t.insert((status, "host", "correction"), status);
    }
    t
}

fn name_of(status: Status) -> &'static str {
    statuses()
        .into_iter()
        .find(|(_, s)| *s == status)
        .map(|(n, _)| n)
        .unwrap()
}

#[test]
fn every_state_move_and_side() {
    let expected = expected();
    let mut checked = 0;
    for (status_name, status) in statuses() {
        for side in [Side::Host, Side::Home] {
            for (move_name, mv) in moves() {
                let got = decide(status, side, mv).map(name_of);
                match expected.get(&(status_name, side.as_str(), move_name)) {
                    Some(next) => assert_eq!(
                        got,
                        Ok(*next),
                        "{status_name} × {} × {move_name}",
                        side.as_str()
                    ),
                    None => assert!(
                        got.is_err(),
                        "{status_name} × {} × {move_name} should be refused, got {got:?}",
                        side.as_str()
                    ),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 13 * 2 * 17);
}

#[test]
fn refusals_say_why() {
    let referred = Status {
        state: State::Referred,
        turn: Some(Side::Home),
    };
    assert_eq!(
        decide(referred, Side::Host, Move::of(Kind::ReturnPlan)),
        Err(Refusal::NotYourTurn {
            state: State::Referred,
            turn: Side::Home
        })
    );
    assert_eq!(
        decide(referred, Side::Host, Move::of(Kind::Acknowledgement)),
        Err(Refusal::WrongSide {
            kind: Kind::Acknowledgement,
            sender: Side::Home
        })
    );
    assert_eq!(
        decide(referred, Side::Home, Move::of(Kind::Reception)),
        Err(Refusal::NotNow {
            kind: Kind::Reception,
            state: State::Referred
        })
    );
    let closed = Status {
        state: State::Closed,
        turn: None,
    };
    assert_eq!(
        decide(closed, Side::Home, Move::of(Kind::Closure)),
        Err(Refusal::Ended {
            state: State::Closed
        })
    );
    assert_eq!(
        Refusal::NotYourTurn {
            state: State::Referred,
            turn: Side::Home
        }
        .to_string(),
        "it is the home's turn in referred"
    );
}

#[test]
fn names_round_trip() {
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(s));
    }
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
    }
    // The wire protocol accepts exactly these kinds, plus audit checkpoints.
    let wire: Vec<&str> = crate::protocol::envelope::KINDS
        .iter()
        .copied()
        .filter(|k| *k != "audit_checkpoint")
        .collect();
    assert_eq!(
        wire,
        Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()
    );
}

/// One side makes an allowed move while the other, at the same moment, withdraws.
/// Each then receives the other's message: both copies end withdrawn.
#[test]
fn withdrawal_wins_over_a_move_in_flight() {
    for (name, status) in statuses() {
        let Some(turn) = status.turn else { continue };
        let other = turn.other();
        if decide(status, other, Move::of(Kind::Withdrawal)).is_err() {
            continue;
        }
        for (move_name, mv) in moves() {
            let Ok(mover_now) = decide(status, turn, mv) else {
                continue;
            };
            if mv.kind == Kind::Withdrawal {
                continue;
            }
            let withdrawer_now = Status {
                state: State::Withdrawn,
                turn: None,
            };
            // The mover receives the withdrawal.
            let mover_end = match receive(mover_now, other, Move::of(Kind::Withdrawal)) {
                Arrival::Apply(s) => s,
                Arrival::Superseded => mover_now,
                Arrival::Conflict(r) => panic!("{name} × {move_name}: withdrawal refused: {r}"),
            };
            // The withdrawer receives the move.
            let withdrawer_end = match receive(withdrawer_now, turn, mv) {
                Arrival::Apply(s) => s,
                Arrival::Superseded => withdrawer_now,
                Arrival::Conflict(r) => panic!("{name} × {move_name}: move conflicts: {r}"),
            };
            assert_eq!(mover_end.state, State::Withdrawn, "{name} × {move_name}");
            assert_eq!(
                withdrawer_end, mover_end,
                "{name} × {move_name}: both copies agree"
            );
        }
    }
}

#[test]
fn a_move_that_fits_nothing_is_a_conflict() {
    let verified = Status {
        state: State::Verified,
        turn: Some(Side::Host),
    };
    assert!(matches!(
        receive(verified, Side::Home, Move::of(Kind::Reception)),
        Arrival::Conflict(_)
    ));
    let withdrawn = Status {
        state: State::Withdrawn,
        turn: None,
    };
    assert_eq!(
        receive(withdrawn, Side::Home, Move::of(Kind::Reception)),
        Arrival::Superseded
    );
    assert_eq!(
        receive(withdrawn, Side::Home, Move::of(Kind::Withdrawal)),
        Arrival::Superseded
    );
    // The prosecution track outlives the return.
    assert_eq!(
        receive(withdrawn, Side::Home, Move::of(Kind::Note)),
        Arrival::Apply(withdrawn)
    );
    assert_eq!(
        receive(withdrawn, Side::Host, Move::of(Kind::ProsecutionUpdate)),
        Arrival::Apply(withdrawn)
    );
    // But a withdrawal after the return ended for another reason is a conflict.
    let closed = Status {
        state: State::Closed,
        turn: None,
    };
    assert!(matches!(
        receive(closed, Side::Host, Move::of(Kind::Withdrawal)),
        Arrival::Conflict(_)
    ));
}

/// Random runs of the whole return, each move made by one copy and received by the
/// other: the two copies never disagree.
#[test]
fn two_copies_never_disagree() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let (mut host, mut home) = (Status::DRAFT, Status::DRAFT);
        let mut home_has_case = false;
        for _ in 0..40 {
            let side = if next() % 2 == 0 {
                Side::Host
            } else {
                Side::Home
            };
            let (mine, theirs) = if side == Side::Host {
                (&mut host, &mut home)
            } else {
                (&mut home, &mut host)
            };
            if side == Side::Home && !home_has_case {
                continue;
            }
            let options: Vec<Move> = moves()
                .into_iter()
                .map(|(_, m)| m)
                .filter(|m| decide(*mine, side, *m).is_ok())
                .collect();
            if options.is_empty() {
                continue;
            }
            let mv = options[(next() % options.len() as u64) as usize];
            let Ok(after) = decide(*mine, side, mv) else {
                unreachable!()
            };
            *mine = after;
            if mv.kind == Kind::Referral {
                home_has_case = true;
            }
            if !home_has_case {
                continue;
            }
            match receive(*theirs, side, mv) {
                Arrival::Apply(s) => *theirs = s,
                other => panic!("sequential delivery never conflicts: {other:?}"),
            }
            assert_eq!(host, home);
        }
    }
}
