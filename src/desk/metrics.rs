//! `GET /metrics`: Prometheus text. Counts and ages only; the only labels are a
//! peer's node id and a door's name. Nothing about a person, a case or a user.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, DeskState};
use crate::app::oversight;

pub fn router() -> Router<DeskState> {
    Router::new().route("/metrics", get(metrics))
}

/// GET /metrics: delivery counters of this process and the outbox per peer.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String), (status = 503, body = super::error::ErrorBody)), security(()))]
pub async fn metrics(State(state): State<DeskState>) -> Result<Response, ApiError> {
    let events = &state.node.events;
    let mut out = String::new();
    let counters = [
        (
            "mittaphap_envelopes_delivered_total",
            "Envelopes this process delivered (receipt stored).",
            *events.delivered.borrow(),
        ),
        (
            "mittaphap_envelopes_accepted_total",
            "Envelopes this process accepted from peers.",
            *events.accepted.borrow(),
        ),
        (
            "mittaphap_envelopes_duplicate_total",
            "Envelopes peers sent again that were already accepted.",
            *events.duplicates.borrow(),
        ),
        (
            "mittaphap_delivery_failures_total",
            "Delivery attempts that failed and will be retried.",
            *events.failed_attempts.borrow(),
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let rows = oversight::outbox_summary(&state.node).await?;
    let now = oversight::now_ms();
    let gauges: [(&str, &str); 3] = [
        (
            "mittaphap_outbox_queued",
            "Envelopes waiting to be delivered, per peer.",
        ),
        (
            "mittaphap_outbox_rejected",
            "Envelopes a peer refused, holding its channel.",
        ),
        (
            "mittaphap_outbox_oldest_queued_seconds",
            "Age of the oldest envelope not yet delivered, per peer.",
        ),
    ];
    for (i, (name, help)) in gauges.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in &rows {
            let value = match i {
                0 => r.queued,
                1 => r.rejected,
                _ => r
                    .oldest_queued_at
                    .map(|t| (now - t).max(0) / 1000)
                    .unwrap_or(0),
            };
            let _ = writeln!(out, "{name}{{peer=\"{}\"}} {value}", r.peer_id);
        }
    }
    doors(&mut out, &state.node.doors);
    let name = "mittaphap_case_access_grants_total";
    let _ = writeln!(
        out,
        "# HELP {name} Accounts made or enabled that read case content (audit action user.case_access).\n# TYPE {name} counter\n{name} {}",
        oversight::case_access_grants(&state.node).await?
    );
    let name = "mittaphap_certificate_expiry_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Seconds until the node's TLS certificate expires (`certs renew` before).\n# TYPE {name} gauge\n{name} {}",
        state.node.cert_expires_in(time::OffsetDateTime::now_utc())
    );
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// A series: name, type, help, and how to read it off a door.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::net::DoorStats) -> u64,
);

/// Both doors' connections: open now, and closed or refused under the limits.
fn doors(out: &mut String, doors: &crate::net::Doors) {
    use std::sync::atomic::Ordering::Relaxed;
    let each = [("desk", &doors.desk), ("federation", &doors.federation)];
    let series: [Series; 5] = [
        (
            "mittaphap_connections_open",
            "gauge",
            "Connections open now, per door.",
            |d| d.open.load(Relaxed),
        ),
        (
            "mittaphap_connections_timed_out_total",
            "counter",
            "Connections closed for a slow handshake, slow headers or idleness, per door.",
            |d| d.timed_out.load(Relaxed),
        ),
        (
            "mittaphap_connections_evicted_total",
            "counter",
            "Idle connections closed to make room at the cap, per door.",
            |d| d.evicted.load(Relaxed),
        ),
        (
            "mittaphap_connections_turned_away_total",
            "counter",
            "Connections refused at the cap while every open one was busy, per door.",
            |d| d.turned_away.load(Relaxed),
        ),
        (
            "mittaphap_handshakes_refused_total",
            "counter",
            "TLS handshakes refused (no registered peer's certificate, bad TLS), per door.",
            |d| d.refused.load(Relaxed),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (door, stats) in each {
            let _ = writeln!(out, "{name}{{door=\"{door}\"}} {}", value(stats));
        }
    }
}
