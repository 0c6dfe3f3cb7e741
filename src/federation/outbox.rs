//! Delivering: the courier delivers each peer's channel in order, for ever, with
//! exponential backoff and jitter, and keeps the signed receipts. Queueing an
//! envelope is the core's (`app::outbox::send`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{ClientError, PeerClient};
use crate::node::Node;
use crate::protocol::Descriptor;
use crate::protocol::envelope::{
    CHANNEL_TYP, ChannelClaims, Digest, RECEIPT_TYP, ReceiptClaims, ReceiptStatus,
};
use crate::protocol::jws::{self, keys_of};
use crate::store::{millis, outbox, peers};

/// Delay before the next attempt after `attempts` failures: doubling from 1 s up
/// to `max_ms` (5 minutes by default), times a random factor in [0.5, 1.5) so
/// peers do not retry in step.
/// How often a held channel's first envelope is tried again anyway, so that a
/// fix on either side releases it without anyone touching this node.
pub const HELD_RETRY: Duration = Duration::from_secs(600);

pub fn backoff(attempts: i64, max_ms: u64) -> Duration {
    let base_ms = (1000f64 * 2f64.powi(attempts.clamp(0, 20) as i32)).min(max_ms as f64);
    Duration::from_secs_f64(base_ms / 1000.0 * rand::rng().random_range(0.5..1.5))
}

/// Runs until `stop` turns true.
pub fn spawn_courier(node: Arc<Node>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut courier = Courier {
            node,
            clients: HashMap::new(),
            checked: HashMap::new(),
        };
        loop {
            let wake = courier.round().await;
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = courier.node.outbox_ready.notified() => {}
                _ = tokio::time::sleep(wake) => {}
            }
        }
    })
}

struct Courier {
    node: Arc<Node>,
    /// One client (and so one connection pool) per peer and descriptor.
    clients: HashMap<String, (String, PeerClient, Descriptor)>,
    /// When each peer's channel statement was last compared with our heads.
    checked: HashMap<String, tokio::time::Instant>,
}

/// Envelopes of one channel in flight at once.
const PIPELINE: i64 = 32;

/// Longest the courier sleeps without being woken.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// What one delivery attempt concluded.
enum Attempt {
    /// The peer's receipt (accepted or duplicate), to be stored.
    Delivered {
        receipt: String,
        status: &'static str,
    },
    /// Resent from an earlier seq the peer asked for.
    Resync,
    Retry(String),
    Rejected(String, String),
}

impl Courier {
    /// Delivers what is due on every channel; returns how long to sleep.
    async fn round(&mut self) -> Duration {
        let peers = match self.node.store.pool().acquire().await {
            Ok(mut conn) => peers::list(&mut conn).await.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "courier: database unavailable");
                return IDLE_POLL;
            }
        };
        let mut sleep = IDLE_POLL;
        let every = Duration::from_secs(self.node.config.federation.check_peer_secs.max(1));
        for peer in peers {
            match self.deliver_channel(&peer).await {
                Ok(Some(wait)) => sleep = sleep.min(wait),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(peer = %peer.node_id, error = %e, "courier: channel failed")
                }
            }
            let due = self
                .checked
                .get(&peer.node_id)
                .is_none_or(|t| t.elapsed() >= every);
            if due {
                if let Err(e) = self.compare_heads(&peer).await {
                    tracing::debug!(peer = %peer.node_id, error = %e, "channel statement not compared");
                }
                self.checked
                    .insert(peer.node_id.clone(), tokio::time::Instant::now());
                self.node.events.peer_checks.send_modify(|n| *n += 1);
            }
        }
        sleep.min(every)
    }

    /// Compares the peer's signed statement of our channels with our own heads.
    /// A peer that has received less than it receipted (it was restored from a
    /// backup, or lost its WAL) gets the rest again without waiting for a new
    /// envelope; a peer that holds more from us than we have (we were restored)
    /// is reported, once, for `reconcile`.
    async fn compare_heads(&mut self, peer: &peers::PeerRow) -> Result<(), String> {
        // A connection of its own, closed after: deliveries keep theirs.
        let (_, descriptor) = self.client(peer)?;
        let client = PeerClient::new(
            &peer.federation_url,
            &descriptor.tls_ca,
            &self.node.tls.identity_pem(),
        )
        .map_err(|e| e.to_string())?;
        // What the peer had receipted before it was asked: a receipt cannot be
        // undone, so a statement below it means the peer lost history.
        let receipted = {
            let mut conn = self
                .node
                .store
                .pool()
                .acquire()
                .await
                .map_err(|e| e.to_string())?;
            outbox::last_delivered(&mut conn, &peer.node_id)
                .await
                .map_err(|e| e.to_string())?
        };
        let statement = client.channel().await.map_err(|e| e.to_string())?;
        let theirs: ChannelClaims = jws::verify(&statement, CHANNEL_TYP, keys_of(&descriptor))
            .map_err(|e| format!("channel statement: {e}"))?;
        if theirs.iss != peer.node_id || theirs.aud != self.node.config.node_id.as_str() {
            return Err("the channel statement is not about our channel".into());
        }
        let mut conn = self
            .node
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let ours = crate::store::channels::head(
            &mut conn,
            &peer.node_id,
            crate::store::channels::Direction::Out,
        )
        .await
        .map_err(|e| e.to_string())?;
        let received = theirs.received.seq;
        if (received as i64) < receipted {
            let now = millis(time::OffsetDateTime::now_utc());
            let n = outbox::requeue_from(&mut conn, &peer.node_id, received as i64 + 1, now)
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(peer = %peer.node_id, from = received + 1, resent = n, "peer has received less than it receipted (restored?); sending again");
            self.node.outbox_ready.notify_one();
        } else if received > ours.seq || self.conflicted(&mut conn, &peer.node_id).await {
            // The peer holds envelopes of ours beyond anything we have, or refuses
            // ours as conflicting with what it holds: this node lost history (a
            // restore, a lost WAL). Take them back (those we still hold identically
            // are only marked delivered).
            drop(conn);
            match super::recover::recover_sent(&self.node, &client, &descriptor, &peer.node_id)
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(peer = %peer.node_id, recovered = n, ours = ours.seq, theirs = received, "took back from the peer envelopes this node had sent and no longer held (restored from a backup, or a lost WAL?)");
                }
                Err(e) => {
                    tracing::error!(peer = %peer.node_id, ours = ours.seq, theirs = received, error = %e, "the peer holds envelopes from this node that this node no longer has, and they could not be taken back; run `mittaphap reconcile`");
                }
            }
        }
        Ok(())
    }

    /// Whether the channel is held because the peer holds other envelopes at our
    /// sequence numbers.
    async fn conflicted(&self, conn: &mut sqlx::AnyConnection, peer: &str) -> bool {
        outbox::undelivered(conn, peer, 1)
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .is_some_and(|r| {
                r.state == "rejected"
                    && r.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("seq_conflict") || e.contains("prev_mismatch"))
            })
    }

    fn client(&mut self, peer: &peers::PeerRow) -> Result<(PeerClient, Descriptor), String> {
        if let Some((fp, client, d)) = self.clients.get(&peer.node_id)
            && *fp == peer.fingerprint
        {
            return Ok((client.clone(), d.clone()));
        }
        let descriptor: Descriptor =
            serde_json::from_str(&peer.descriptor).map_err(|e| e.to_string())?;
        let client = PeerClient::new(
            &peer.federation_url,
            &descriptor.tls_ca,
            &self.node.tls.identity_pem(),
        )
        .map_err(|e| e.to_string())?;
        self.clients.insert(
            peer.node_id.clone(),
            (peer.fingerprint.clone(), client.clone(), descriptor.clone()),
        );
        Ok((client, descriptor))
    }

    /// Sends the channel's envelopes in order until it is empty (`None`), blocked by
    /// a rejection (`None`), or must wait (`Some(delay)`).
    async fn deliver_channel(&mut self, peer: &peers::PeerRow) -> Result<Option<Duration>, String> {
        // With several processes on one PostgreSQL database, one of them at a time
        // delivers a channel: it holds the lock on the peer's courier row until this
        // returns (or its connection dies with it).
        let _claim = match self.node.store.backend() {
            crate::store::Backend::Postgres => {
                let mut claim = self
                    .node
                    .store
                    .pool()
                    .begin()
                    .await
                    .map_err(|e| e.to_string())?;
                if !outbox::claim_channel(&mut claim, &peer.node_id)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Ok(None);
                }
                Some(claim)
            }
            crate::store::Backend::Sqlite => None,
        };
        loop {
            let mut conn = self
                .node
                .store
                .pool()
                .acquire()
                .await
                .map_err(|e| e.to_string())?;
            let rows = outbox::undelivered(&mut conn, &peer.node_id, PIPELINE)
                .await
                .map_err(|e| e.to_string())?;
            drop(conn);
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let now = millis(time::OffsetDateTime::now_utc());
            // A time further ahead than any wait this node sets, or an envelope
            // made "in the future", was written by a clock that ran ahead and has
            // been put back: it is due now.
            let retry_max = self.node.config.federation.retry_max_ms as i64;
            let due = |r: &outbox::OutRow| {
                let longest = if r.state == "rejected" {
                    HELD_RETRY.as_millis() as i64 * 2
                } else {
                    retry_max * 2
                };
                r.next_attempt_at <= now || r.created_at > now || r.next_attempt_at - now > longest
            };
            if !due(first) {
                return Ok(Some(Duration::from_millis(
                    (first.next_attempt_at - now) as u64,
                )));
            }
            // Several envelopes in flight at once, in order: the peer holds one
            // that arrives before its predecessor until the predecessor is in. A
            // held channel tries its first envelope alone, now and then.
            let batch: Vec<&outbox::OutRow> = if first.state == "rejected" {
                vec![first]
            } else {
                rows.iter()
                    .take_while(|r| r.state == "queued" && due(r))
                    .collect()
            };
            let (client, descriptor) = self.client(peer)?;
            let outcomes = futures_util::future::join_all(
                batch
                    .iter()
                    .map(|row| self.attempt(&client, &descriptor, row)),
            )
            .await;
            // The receipts of those that went through, in order, in one transaction;
            // then the first that did not decides what follows.
            let mut delivered = Vec::new();
            let mut stopped = None;
            for (row, outcome) in batch.into_iter().zip(outcomes) {
                match outcome {
                    Attempt::Delivered { receipt, status } if stopped.is_none() => {
                        delivered.push((row.seq, receipt, status));
                    }
                    Attempt::Delivered { .. } => {}
                    other if stopped.is_none() => stopped = Some((row, other)),
                    _ => {}
                }
            }
            if !delivered.is_empty() {
                let now = millis(time::OffsetDateTime::now_utc());
                let mut tx = self.node.store.begin().await.map_err(|e| e.to_string())?;
                for (seq, receipt, status) in &delivered {
                    outbox::mark_delivered(&mut tx, &peer.node_id, *seq, receipt, status, now)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                tx.commit().await.map_err(|e| e.to_string())?;
                self.node
                    .events
                    .delivered
                    .send_modify(|n| *n += delivered.len() as u64);
                tracing::debug!(peer = %peer.node_id, count = delivered.len(), "delivered");
            }
            let Some((row, outcome)) = stopped else {
                continue;
            };
            let mut conn = self
                .node
                .store
                .pool()
                .acquire()
                .await
                .map_err(|e| e.to_string())?;
            match outcome {
                Attempt::Delivered { .. } | Attempt::Resync => {}
                Attempt::Retry(error) => {
                    let wait = backoff(row.attempts, self.node.config.federation.retry_max_ms);
                    let next = millis(time::OffsetDateTime::now_utc()) + wait.as_millis() as i64;
                    tracing::info!(peer = %peer.node_id, seq = row.seq, attempts = row.attempts + 1, error = %error, "delivery failed; will retry");
                    outbox::mark_failed(&mut conn, &peer.node_id, row.seq, &error, next)
                        .await
                        .map_err(|e| e.to_string())?;
                    self.node.events.failed_attempts.send_modify(|n| *n += 1);
                    return Ok(Some(wait));
                }
                Attempt::Rejected(receipt, reason) => {
                    if matches!(reason.as_str(), "seq_conflict" | "prev_mismatch") {
                        // Compare heads at once: this node may have lost history.
                        self.checked.remove(&peer.node_id);
                    }
                    if row.state != "rejected" {
                        tracing::error!(peer = %peer.node_id, seq = row.seq, reason = %reason, "envelope rejected by the peer; channel held until the cause is fixed (retried every {} s)", HELD_RETRY.as_secs());
                    }
                    let next =
                        millis(time::OffsetDateTime::now_utc()) + HELD_RETRY.as_millis() as i64;
                    outbox::mark_rejected(
                        &mut conn,
                        &peer.node_id,
                        row.seq,
                        &receipt,
                        &format!("rejected: {reason}"),
                        next,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    return Ok(Some(HELD_RETRY));
                }
            }
        }
    }

    async fn attempt(
        &self,
        client: &PeerClient,
        descriptor: &Descriptor,
        row: &outbox::OutRow,
    ) -> Attempt {
        let blobs: Vec<Digest> = match serde_json::from_str(&row.blobs) {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(format!("stored blob list: {e}")),
        };
        for blob in &blobs {
            // A blob lost here (or damaged: the peer finds it does not hash to its
            // name) is sealed again from the attachment at rest.
            let here = self.node.blobs.len(&blob.sha256).await.ok().flatten();
            if here != Some(blob.len) {
                return self.mend(row, false).await;
            }
            if let Err(e) = self.upload_blob(client, blob).await {
                if e.contains("422") || e.contains("hash_mismatch") {
                    return self.mend(row, true).await;
                }
                return Attempt::Retry(e);
            }
        }
        let (status, text) = match client.post_envelope(&row.jws, &row.body).await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        if status >= 500 {
            return Attempt::Retry(format!("peer answered {status}"));
        }
        let receipt: ReceiptClaims = match jws::verify(&text, RECEIPT_TYP, keys_of(descriptor)) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry(format!(
                    "peer answered {status} without a valid receipt: {e}"
                ));
            }
        };
        let ours = self.node.config.node_id.as_str();
        if receipt.iss != descriptor.node_id
            || receipt.aud != ours
            || receipt.envelope_sha256 != row.envelope_sha256
        {
            return Attempt::Retry("receipt is not for this envelope".into());
        }
        let now = millis(time::OffsetDateTime::now_utc());
        let mut conn = match self.node.store.pool().acquire().await {
            Ok(c) => c,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        match receipt.status {
            ReceiptStatus::Accepted | ReceiptStatus::Duplicate => {
                let status = if receipt.status == ReceiptStatus::Accepted {
                    "accepted"
                } else {
                    "duplicate"
                };
                Attempt::Delivered {
                    receipt: text,
                    status,
                }
            }
            ReceiptStatus::Rejected => match receipt.reason.as_str() {
                // Passing reasons (docs/protocol.md §9): retried with backoff.
                "missing_blob" => Attempt::Retry("peer is missing an attachment".into()),
                "unknown_kid" => Attempt::Retry(
                    "refused unknown_kid: the peer does not have our current descriptor yet".into(),
                ),
                "iat_in_future" => {
                    // Signed while our clock was ahead: sign this one and those after
                    // it again with the time now. If the clock is still ahead the
                    // peer refuses again, and the next try signs again.
                    drop(conn);
                    let now_t = time::OffsetDateTime::now_utc();
                    match crate::app::outbox::resign_from(&self.node, &row.peer_id, row.seq, now_t)
                        .await
                    {
                        Ok(n) => {
                            tracing::warn!(peer = %row.peer_id, seq = row.seq, resigned = n, "peer refused iat_in_future (our clock was ahead when signed); signed again");
                            Attempt::Retry(
                                "refused iat_in_future: this node's clock was ahead of the peer's; signed again"
                                    .into(),
                            )
                        }
                        Err(e) => Attempt::Retry(e.to_string()),
                    }
                }
                "seq_gap"
                    if receipt.expected_seq >= 1 && (receipt.expected_seq as i64) < row.seq =>
                {
                    // The peer lost envelopes we had delivered (a restore): send
                    // again from where it stands; what it holds comes back duplicate.
                    match outbox::requeue_from(
                        &mut conn,
                        &row.peer_id,
                        receipt.expected_seq as i64,
                        now,
                    )
                    .await
                    {
                        Ok(n) => {
                            tracing::warn!(peer = %row.peer_id, from = receipt.expected_seq, resent = n, "peer behind; resending");
                            Attempt::Resync
                        }
                        Err(e) => Attempt::Retry(e.to_string()),
                    }
                }
                reason => Attempt::Rejected(text, reason.to_owned()),
            },
        }
    }

    /// Mends the envelope's attachments (`app::outbox::mend_blobs`); either way
    /// the envelope is tried again, as it now stands.
    async fn mend(&self, row: &outbox::OutRow, suspect: bool) -> Attempt {
        let now = time::OffsetDateTime::now_utc();
        match crate::app::outbox::mend_blobs(&self.node, &row.peer_id, row.seq, suspect, now).await
        {
            Ok(crate::app::outbox::Mended::Resealed(ids)) => {
                tracing::warn!(peer = %row.peer_id, seq = row.seq, attachments = ids.len(), "an attachment's blob was missing or damaged here; sealed again from the file at rest");
                Attempt::Retry("an attachment's blob was missing here and was sealed again".into())
            }
            Ok(crate::app::outbox::Mended::Whole) => {
                Attempt::Retry("attachment blobs checked".into())
            }
            Ok(crate::app::outbox::Mended::Not(why)) => {
                tracing::error!(peer = %row.peer_id, seq = row.seq, problem = %why, "an attachment of an envelope is missing on this node and cannot be sealed again");
                Attempt::Retry(format!(
                    "an attachment is missing on this node: {why} (see `mittaphap outbox --repair`)"
                ))
            }
            Err(e) => Attempt::Retry(e.to_string()),
        }
    }

    async fn upload_blob(&self, client: &PeerClient, blob: &Digest) -> Result<(), String> {
        if client
            .head_blob(&blob.sha256)
            .await
            .map_err(|e| e.to_string())?
            == Some(blob.len)
        {
            return Ok(());
        }
        let stream = self
            .node
            .blobs
            .stream(&blob.sha256)
            .await
            .map_err(|e| e.to_string())?;
        client
            .put_blob(&blob.sha256, blob.len, stream)
            .await
            .map_err(|e: ClientError| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_the_ceiling_with_jitter() {
        for _ in 0..100 {
            let first = backoff(0, 300_000).as_millis();
            assert!((500..1500).contains(&first), "{first}");
            let later = backoff(30, 300_000).as_millis();
            assert!((150_000..450_000).contains(&later), "{later}");
            assert!(backoff(30, 400).as_millis() < 600);
        }
    }
}
