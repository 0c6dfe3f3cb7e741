//! The node's statistics: counted from the clear columns only, small cells
//! suppressed (`domain::stats`).

use crate::domain::stats::{CaseFacts, Table, tabulate};
use crate::node::Node;
use crate::store::{StoreError, cases};

/// The statistics of this node's cases (clear columns only), small cells suppressed.
pub async fn stats(node: &Node) -> Result<Table, StoreError> {
    let mut conn = node.store.pool().acquire().await?;
    let rows = cases::facts(&mut conn).await?;
    let facts: Vec<CaseFacts> = rows
        .into_iter()
        .map(|r| CaseFacts {
            year: time::OffsetDateTime::from_unix_timestamp(r.created_at / 1000)
                .map(|t| t.year())
                .unwrap_or(0),
            gender: r.gender,
            age_at_identification: r.age_at_identification,
            exploitation_types: r
                .exploitation_types
                .map(|t| {
                    t.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            province_of_origin: r.province_of_origin,
            crossing_point: r.crossing_point,
            state: r.state,
        })
        .collect();
    Ok(tabulate(&facts, node.config.stats.k))
}
