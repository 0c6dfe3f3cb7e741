//! Who may do what (DESIGN §1): one table of role × action, consulted by every desk
//! handler through the signed-in user. `admin` and `auditor` never read case
//! content; `legal_aid` reads only the prosecution track of cases granted to its
//! organisation.

use serde::{Deserialize, Serialize};

/// The roles of DESIGN §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Officer,
    Supervisor,
    LegalAid,
    Admin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Self::Officer,
        Self::Supervisor,
        Self::LegalAid,
        Self::Admin,
        Self::Auditor,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::Supervisor => "supervisor",
            Self::LegalAid => "legal_aid",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }
}

/// What a signed-in user may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// List cases and read their clear columns and timelines.
    ReadClear,
    /// Open sealed content: the case file, attachment names and bytes.
    ReadSealed,
    /// Draft, record consent, attach, and make SOP moves.
    Move,
    /// Grant or revoke an NGO's access to a case's prosecution track.
    Grant,
    /// The prosecution track of cases granted to the user's organisation.
    ReadProsecution,
    ManageUsers,
    /// Assign a case to anyone who works cases (an officer may only take an
    /// unassigned case for themselves: that is `Move`).
    Assign,
    /// Peers, their fingerprints, and delivery health.
    ManagePeers,
    ReadAudit,
    /// Aggregate counts with small cells suppressed.
    ReadStats,
    /// Let an account an admin made or enabled, that reads case content,
    /// sign in (`[workflow] approve_accounts`).
    ConfirmAccounts,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Self::ReadClear,
        Self::ReadSealed,
        Self::Move,
        Self::Grant,
        Self::ReadProsecution,
        Self::Assign,
        Self::ManageUsers,
        Self::ManagePeers,
        Self::ReadAudit,
        Self::ReadStats,
        Self::ConfirmAccounts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadClear => "read_clear",
            Self::ReadSealed => "read_sealed",
            Self::Move => "move",
            Self::Grant => "grant",
            Self::ReadProsecution => "read_prosecution",
            Self::Assign => "assign",
            Self::ManageUsers => "manage_users",
            Self::ManagePeers => "manage_peers",
            Self::ReadAudit => "read_audit",
            Self::ReadStats => "read_stats",
            Self::ConfirmAccounts => "confirm_accounts",
        }
    }
}

use Action::*;

/// The table. Anything not listed is refused.
const POLICY: &[(Role, &[Action])] = &[
    (
        Role::Officer,
        &[ReadClear, ReadSealed, Move, Grant, ReadStats],
    ),
    (
        Role::Supervisor,
        &[
            ReadClear,
            ReadSealed,
            Move,
            Grant,
            Assign,
            ReadStats,
            ConfirmAccounts,
        ],
    ),
    (Role::LegalAid, &[ReadProsecution]),
    (Role::Admin, &[ManageUsers, ManagePeers, ReadStats]),
    (Role::Auditor, &[ReadAudit, ReadStats]),
];

/// Whether `role` may do `action`.
pub fn allows(role: Role, action: Action) -> bool {
    POLICY
        .iter()
        .any(|(r, actions)| *r == role && actions.contains(&action))
}

/// Whether an account of `role` reads case content (sealed content, or a
/// granted prosecution track): making or enabling one is a sensitive event.
pub fn reads_case_content(role: Role) -> bool {
    allows(role, ReadSealed) || allows(role, ReadProsecution)
}

/// Whether users of `role` act for an organisation (their account names it): those
/// who follow granted prosecution tracks.
pub fn acts_for_org(role: Role) -> bool {
    allows(role, ReadProsecution)
}

/// The page a role starts on after signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Inbox,
    Board,
    Admin,
    Audit,
}

/// Where `role` starts: the first of its kinds of work.
pub fn start(role: Role) -> Start {
    if allows(role, Move) {
        Start::Inbox
    } else if allows(role, ReadProsecution) {
        Start::Board
    } else if allows(role, ManageUsers) {
        Start::Admin
    } else {
        Start::Audit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_outside_case_work_reads_case_content() {
        for role in [Role::Admin, Role::Auditor, Role::LegalAid] {
            assert!(!allows(role, ReadSealed), "{role:?}");
            assert!(!allows(role, ReadClear), "{role:?}");
            assert!(!allows(role, Move), "{role:?}");
        }
        assert!(allows(Role::Officer, ReadSealed));
        assert!(allows(Role::LegalAid, ReadProsecution));
        assert!(!allows(Role::Officer, ReadAudit));
        assert!(
            !allows(Role::Admin, ReadAudit),
            "the operator cannot read its own trace"
        );
        assert!(!allows(Role::Auditor, ManageUsers));
    }

    #[test]
    fn every_role_is_in_the_table_once_and_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(POLICY.iter().filter(|(r, _)| *r == role).count(), 1);
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
