//! Throttling failed sign-ins, per user name and per client address: the limits,
//! and what a stored count means at a given time (the counting itself is one
//! SQL statement each, in `store::sessions`, so that concurrent attempts count).

/// Failed sign-ins counted under one key since `window_start` (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

/// So many failures within `window_ms` lock the key for `lock_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: i64,
    pub window_ms: i64,
    pub lock_ms: i64,
}

const MINUTE: i64 = 60_000;

/// One person mistyping: five tries in a quarter of an hour.
pub const PER_USER: Limit = Limit {
    max_failures: 5,
    window_ms: 15 * MINUTE,
    lock_ms: 15 * MINUTE,
};

/// One address trying many names (a shelter may share one address: more room).
/// Past it the address is slowed, not locked: a right password still gets in.
pub const PER_ADDRESS: Limit = Limit {
    max_failures: 20,
    window_ms: 15 * MINUTE,
    lock_ms: 15 * MINUTE,
};

impl Failures {
    /// Until when the key is locked, if it is at `now`.
    pub fn locked_at(&self, now: i64) -> Option<i64> {
        (self.locked_until > now).then_some(self.locked_until)
    }

    /// Whether `limit` failures fell within the window that is still open at
    /// `now` (an address so marked is slowed, never locked).
    pub fn slowed(&self, limit: Limit, now: i64) -> bool {
        self.failures >= limit.max_failures && now - self.window_start <= limit.window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_ends_when_its_time_is_up() {
        let f = Failures {
            failures: 5,
            window_start: 1_000_000,
            locked_until: 1_000_000 + 15 * MINUTE,
        };
        assert_eq!(f.locked_at(1_000_000), Some(1_000_000 + 15 * MINUTE));
        assert_eq!(f.locked_at(1_000_000 + 15 * MINUTE), None);
    }

    #[test]
    fn an_address_is_slowed_only_within_its_window() {
        let f = Failures {
            failures: 20,
            window_start: 0,
            locked_until: 0,
        };
        assert!(f.slowed(PER_ADDRESS, 15 * MINUTE));
        assert!(
            !f.slowed(PER_ADDRESS, 15 * MINUTE + 1),
            "the window has passed"
        );
        let fewer = Failures { failures: 19, ..f };
        assert!(!fewer.slowed(PER_ADDRESS, MINUTE));
    }
}
