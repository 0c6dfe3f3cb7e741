//! The repatriation SOP as a turn-based state machine (DESIGN §2; docs/sop.md).
//!
//! Pure: no I/O, no clock. `decide` says whether a side may make a move in a state
//! and what the state becomes; the sending node calls it before it sends, the
//! receiving node calls `receive` (the same rules, plus what to do with a move that
//! crossed a withdrawal in flight) when the move arrives.

use std::fmt;

/// The two roles a node plays in a case: the **host** identified and shelters the
/// person; the **home** country verifies, receives and reintegrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Host,
    Home,
}

impl Side {
    pub fn other(self) -> Self {
        match self {
            Self::Host => Self::Home,
            Self::Home => Self::Host,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Home => "home",
        }
    }
}

/// Case states; their names are contract (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Draft,
    Referred,
    Acknowledged,
    Verified,
    Declined,
    ReturnPlanned,
    ReturnConfirmed,
    HandedOver,
    Received,
    Reintegrating,
    Closed,
    Withdrawn,
}

impl State {
    pub const ALL: [State; 12] = [
        Self::Draft,
        Self::Referred,
        Self::Acknowledged,
        Self::Verified,
        Self::Declined,
        Self::ReturnPlanned,
        Self::ReturnConfirmed,
        Self::HandedOver,
        Self::Received,
        Self::Reintegrating,
        Self::Closed,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Referred => "referred",
            Self::Acknowledged => "acknowledged",
            Self::Verified => "verified",
            Self::Declined => "declined",
            Self::ReturnPlanned => "return_planned",
            Self::ReturnConfirmed => "return_confirmed",
            Self::HandedOver => "handed_over",
            Self::Received => "received",
            Self::Reintegrating => "reintegrating",
            Self::Closed => "closed",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// `declined`, `closed` and `withdrawn` end the return track.
    pub fn is_end(self) -> bool {
        matches!(self, Self::Declined | Self::Closed | Self::Withdrawn)
    }

    /// Before the person crossed: a withdrawal can still stop the return.
    fn before_handover(self) -> bool {
        matches!(
            self,
            Self::Draft
                | Self::Referred
                | Self::Acknowledged
                | Self::Verified
                | Self::ReturnPlanned
                | Self::ReturnConfirmed
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Message kinds; their names are contract (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Referral,
    Acknowledgement,
    Verification,
    Decline,
    ReturnPlan,
    ReturnCounterproposal,
    ReturnConfirmation,
    Handover,
    Reception,
    ReintegrationUpdate,
    Closure,
    Withdrawal,
    Note,
    ProsecutionUpdate,
    TestimonyArrangement,
    /// A change to the referral after it was sent, by the host: both sides see
    /// what changed, from what to what, and when.
    Correction,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Self::Referral,
        Self::Acknowledgement,
        Self::Verification,
        Self::Decline,
        Self::ReturnPlan,
        Self::ReturnCounterproposal,
        Self::ReturnConfirmation,
        Self::Handover,
        Self::Reception,
        Self::ReintegrationUpdate,
        Self::Closure,
        Self::Withdrawal,
        Self::Note,
        Self::ProsecutionUpdate,
        Self::TestimonyArrangement,
        Self::Correction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Acknowledgement => "acknowledgement",
            Self::Verification => "verification",
            Self::Decline => "decline",
            Self::ReturnPlan => "return_plan",
            Self::ReturnCounterproposal => "return_counterproposal",
            Self::ReturnConfirmation => "return_confirmation",
            Self::Handover => "handover",
            Self::Reception => "reception",
            Self::ReintegrationUpdate => "reintegration_update",
            Self::Closure => "closure",
            Self::Withdrawal => "withdrawal",
            Self::Note => "note",
            Self::ProsecutionUpdate => "prosecution_update",
            Self::TestimonyArrangement => "testimony_arrangement",
            Self::Correction => "correction",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move: a kind, plus the one fact of its body that decides the next state (a
/// `verification` either confirms the person's identity and family, or does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub kind: Kind,
    /// Only for `verification`: was nationality and identity confirmed?
    pub confirmed: bool,
}

impl Move {
    pub fn of(kind: Kind) -> Self {
        Self {
            kind,
            confirmed: true,
        }
    }

    pub fn verification(confirmed: bool) -> Self {
        Self {
            kind: Kind::Verification,
            confirmed,
        }
    }
}

/// Where a case stands: its state and whose turn it is to move the return forward
/// (`None` once the return track has ended). The state alone does not say whose
/// turn it is in `return_planned`: after a plan the home side answers, after a
/// counterproposal the host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub turn: Option<Side>,
}

impl Status {
    pub const DRAFT: Status = Status {
        state: State::Draft,
        turn: Some(Side::Host),
    };

    fn at(state: State, turn: Side) -> Self {
        Self {
            state,
            turn: Some(turn),
        }
    }

    fn ended(state: State) -> Self {
        Self { state, turn: None }
    }

    /// Whether the case waits for `ours`: our turn on the return, or, on the
    /// home side, a testimony request to arrange. The one "awaiting us" rule.
    pub fn awaits(self, ours: Side, testimony_pending: bool) -> bool {
        self.turn == Some(ours) || (testimony_pending && ours == Side::Home)
    }
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the case is {state}: its return has ended")]
    Ended { state: State },
    #[error("it is the {}'s turn in {state}", turn.as_str())]
    NotYourTurn { state: State, turn: Side },
    #[error("{kind} is sent by the {} side only", sender.as_str())]
    WrongSide { kind: Kind, sender: Side },
    #[error("{kind} cannot be sent in {state}")]
    NotNow { kind: Kind, state: State },
}

/// Whether `side` may make `mv` now, and the status it leads to.
pub fn decide(status: Status, side: Side, mv: Move) -> Result<Status, Refusal> {
    use Kind::*;
    use State::*;
    let state = status.state;
    // Beside the return track: they never change the state.
    match mv.kind {
        Note if state == Draft => return Err(Refusal::NotNow { kind: Note, state }),
        Note => return Ok(status),
        // A draft is edited in place; a sent referral is corrected by the host.
        Correction if state == Draft => {
            return Err(Refusal::NotNow {
                kind: Correction,
                state,
            });
        }
        Correction if side != Side::Host => {
            return Err(Refusal::WrongSide {
                kind: Correction,
                sender: Side::Host,
            });
        }
        Correction => return Ok(status),
        ProsecutionUpdate | TestimonyArrangement => {
            let sender = if mv.kind == ProsecutionUpdate {
                Side::Host
            } else {
                Side::Home
            };
            if side != sender {
                return Err(Refusal::WrongSide {
                    kind: mv.kind,
                    sender,
                });
            }
            if state == Draft {
                return Err(Refusal::NotNow {
                    kind: mv.kind,
                    state,
                });
            }
            return Ok(status);
        }
        // Either side, whoever's turn it is, until the person has crossed.
        Withdrawal => {
            if state.is_end() {
                return Err(Refusal::Ended { state });
            }
            if !state.before_handover() || (state == Draft && side == Side::Home) {
                return Err(Refusal::NotNow {
                    kind: Withdrawal,
                    state,
                });
            }
            return Ok(Status::ended(Withdrawn));
        }
        _ => {}
    }
    let Some(turn) = status.turn else {
        return Err(Refusal::Ended { state });
    };
    let sender = match mv.kind {
        Referral | ReturnPlan | Handover => Side::Host,
        _ => Side::Home,
    };
    if side != sender {
        return Err(Refusal::WrongSide {
            kind: mv.kind,
            sender,
        });
    }
    if side != turn {
        return Err(Refusal::NotYourTurn { state, turn });
    }
    let next = match (state, turn, mv.kind) {
        (Draft, Side::Host, Referral) => Status::at(Referred, Side::Home),
        (Referred, Side::Home, Acknowledgement) => Status::at(Acknowledged, Side::Home),
        (Referred | Acknowledged, Side::Home, Decline) => Status::ended(Declined),
        (Acknowledged, Side::Home, Verification) if mv.confirmed => {
            Status::at(Verified, Side::Host)
        }
        (Acknowledged, Side::Home, Verification) => Status::ended(Declined),
        (Verified, Side::Host, ReturnPlan) => Status::at(ReturnPlanned, Side::Home),
        (ReturnPlanned, Side::Host, ReturnPlan) => Status::at(ReturnPlanned, Side::Home),
        (ReturnPlanned, Side::Home, ReturnCounterproposal) => Status::at(ReturnPlanned, Side::Host),
        (ReturnPlanned, Side::Home, ReturnConfirmation) => Status::at(ReturnConfirmed, Side::Host),
        (ReturnConfirmed, Side::Host, Handover) => Status::at(HandedOver, Side::Home),
        (HandedOver, Side::Home, Reception) => Status::at(Received, Side::Home),
        (Received | Reintegrating, Side::Home, ReintegrationUpdate) => {
            Status::at(Reintegrating, Side::Home)
        }
        (Received | Reintegrating, Side::Home, Closure) => Status::ended(Closed),
        _ => {
            return Err(Refusal::NotNow {
                kind: mv.kind,
                state,
            });
        }
    };
    Ok(next)
}

/// What the receiving node does with a move its peer made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// The move fits: the case takes this status.
    Apply(Status),
    /// The move crossed a withdrawal in flight: recorded, the case stays withdrawn.
    Superseded,
    /// The move does not fit and no withdrawal explains it: a faulty or hostile
    /// peer. Kept, flagged for the admin; the case does not move.
    Conflict(Refusal),
}

/// Applies a move made by the peer (`from`) with the same rules as `decide`.
///
/// A withdrawal always wins. The game being turn-based, our own last move is the
/// only one that can have crossed it, and that move can only have taken the case
/// to `handed_over` (the host's handover) or `declined` (the home side's decline or
/// failed verification): a withdrawal arriving there is applied too. A return-track
/// move arriving at a withdrawn case is superseded; the prosecution track and notes
/// go on after the return ends.
pub fn receive(status: Status, from: Side, mv: Move) -> Arrival {
    let beside_track = matches!(
        mv.kind,
        Kind::Note | Kind::ProsecutionUpdate | Kind::TestimonyArrangement | Kind::Correction
    );
    if status.state == State::Withdrawn && !beside_track {
        return Arrival::Superseded;
    }
    if mv.kind == Kind::Withdrawal && matches!(status.state, State::HandedOver | State::Declined) {
        return Arrival::Apply(Status::ended(State::Withdrawn));
    }
    match decide(status, from, mv) {
        Ok(next) => Arrival::Apply(next),
        Err(refusal) => Arrival::Conflict(refusal),
    }
}

#[cfg(test)]
#[path = "sop_tests.rs"]
mod tests;
