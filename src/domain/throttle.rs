//! Throttling failed sign-ins, per user name and per client address. Pure: the
//! counts and the time come in, the new counts go out.

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

    /// The counts after one more failure at `now`.
    pub fn after_failure(self, limit: Limit, now: i64) -> Self {
        let (failures, window_start) = if now - self.window_start > limit.window_ms {
            (1, now)
        } else {
            (self.failures + 1, self.window_start)
        };
        let locked_until = if failures >= limit.max_failures {
            now + limit.lock_ms
        } else {
            self.locked_until
        };
        Self {
            failures,
            window_start,
            locked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_in_the_window_locks() {
        let mut f = Failures::default();
        for i in 0..4 {
            f = f.after_failure(PER_USER, 1_000_000 + i * 1000);
            assert_eq!(f.locked_at(1_000_000 + i * 1000), None);
        }
        f = f.after_failure(PER_USER, 1_010_000);
        assert_eq!(f.locked_at(1_010_000), Some(1_010_000 + 15 * MINUTE));
        assert_eq!(f.locked_at(1_010_000 + 15 * MINUTE), None, "the lock ends");
    }

    #[test]
    fn failures_spread_out_never_lock() {
        let mut f = Failures::default();
        for i in 0..50 {
            f = f.after_failure(PER_USER, i * 16 * MINUTE);
            assert_eq!(f.failures, 1);
            assert_eq!(f.locked_at(i * 16 * MINUTE), None);
        }
    }
}
