//! Compares our transcript of each channel with the peer's: both heads, then every
//! envelope hash in order, reporting the first position where they differ.

use serde::Deserialize;

use super::client::PeerClient;
use crate::node::Node;
use crate::protocol::envelope::{CHANNEL_TYP, ChannelClaims, Head, envelope_sha256};
use crate::protocol::jws::{self, keys_of};
use crate::store::{inbox, outbox};

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelReport {
    /// `"th-msdhs → la-molsw"`.
    pub channel: String,
    pub ours: Head,
    pub theirs: Head,
    /// The first sequence number whose envelope differs, or that one side lacks
    /// although the other side's head says it should be there.
    pub first_difference: Option<u64>,
    /// Envelopes we queued that the peer has not received yet (outbound only).
    pub in_flight: u64,
    /// What the difference means, when it is one of the kinds we can name.
    pub why: Option<String>,
}

impl ChannelReport {
    pub fn agrees(&self) -> bool {
        self.first_difference.is_none()
    }
}

#[derive(Deserialize)]
struct Transcript {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    seq: u64,
    envelope_sha256: String,
}

pub async fn reconcile(node: &Node, peer_id: &str) -> Result<Vec<ChannelReport>, String> {
    let (client, descriptor) =
        crate::federation::client::for_registered_peer(node, peer_id).await?;
    let mut conn = node
        .store
        .pool()
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    let statement = client.channel().await.map_err(|e| e.to_string())?;
    let theirs: ChannelClaims = jws::verify(&statement, CHANNEL_TYP, keys_of(&descriptor))
        .map_err(|e| format!("channel statement: {e}"))?;
    let us = node.config.node_id.as_str();
    if theirs.iss != peer_id || theirs.aud != us {
        return Err("the channel statement is not about our channel".into());
    }

    let mut reports = Vec::new();
    for outbound in [true, false] {
        let local: Vec<(u64, String)> = if outbound {
            outbox::transcript(&mut conn, peer_id, 0, i64::MAX).await
        } else {
            inbox::transcript(&mut conn, peer_id, 0, i64::MAX).await
        }
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(seq, _, jws)| (seq as u64, envelope_sha256(&jws)))
        .collect();
        let remote = fetch_all(&client, if outbound { "received" } else { "sent" }).await?;
        let their_head = if outbound {
            theirs.received.clone()
        } else {
            theirs.sent.clone()
        };
        let our_head = local
            .last()
            .map(|(seq, sha256)| Head {
                seq: *seq,
                sha256: sha256.clone(),
            })
            .unwrap_or_default();
        // Outbound, the peer may lag behind by what is still queued; inbound, we may
        // lag behind by what it has queued for us. Anything else is a difference:
        // one side holds history the other lost (a restore, a lost WAL).
        let common = our_head.seq.min(their_head.seq);
        let mut why = None;
        let mut first = first_difference(&local, &remote, common)
            .or_else(|| (remote.len() as u64 != their_head.seq).then_some(remote.len() as u64 + 1));
        if first.is_some() {
            why = Some("the two transcripts hold different envelopes".to_owned());
        } else if outbound && their_head.seq > our_head.seq {
            first = Some(our_head.seq + 1);
            why = Some(format!(
                "{peer_id} holds {} envelope(s) from this node that this node no longer has \
                 (restored from a backup, or a lost WAL?)",
                their_head.seq - our_head.seq
            ));
        } else if outbound && our_head.seq > their_head.seq {
            let lost = outbox::first_delivered_after(&mut conn, peer_id, their_head.seq as i64)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(seq) = lost {
                first = Some(seq as u64);
                why = Some(format!(
                    "{peer_id} receipted envelopes it no longer holds, from seq {seq} \
                     (restored from a backup?); they are sent again when it asks"
                ));
            }
        } else if !outbound && our_head.seq > their_head.seq {
            first = Some(their_head.seq + 1);
            why = Some(format!(
                "this node holds {} envelope(s) {peer_id} no longer has as sent \
                 (it was restored from a backup, or lost its WAL?)",
                our_head.seq - their_head.seq
            ));
        }
        let first_difference = first;
        reports.push(ChannelReport {
            channel: if outbound {
                format!("{us} → {peer_id}")
            } else {
                format!("{peer_id} → {us}")
            },
            in_flight: if outbound {
                our_head.seq.saturating_sub(their_head.seq)
            } else {
                0
            },
            ours: our_head,
            theirs: their_head,
            first_difference,
            why,
        });
    }
    Ok(reports)
}

/// First seq ≤ `upto` where the two transcripts disagree or one lacks an entry.
fn first_difference(local: &[(u64, String)], remote: &[(u64, String)], upto: u64) -> Option<u64> {
    for seq in 1..=upto {
        let ours = local
            .get(seq as usize - 1)
            .filter(|(s, _)| *s == seq)
            .map(|(_, h)| h);
        let theirs = remote
            .get(seq as usize - 1)
            .filter(|(s, _)| *s == seq)
            .map(|(_, h)| h);
        match (ours, theirs) {
            (Some(a), Some(b)) if a == b => {}
            _ => return Some(seq),
        }
    }
    None
}

async fn fetch_all(client: &PeerClient, direction: &str) -> Result<Vec<(u64, String)>, String> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map(|(seq, _)| *seq).unwrap_or(0);
        let page: Transcript = serde_json::from_str(
            &client
                .transcript(direction, after)
                .await
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("transcript: {e}"))?;
        if page.entries.is_empty() {
            return Ok(out);
        }
        out.extend(page.entries.into_iter().map(|e| (e.seq, e.envelope_sha256)));
    }
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    fn t(hashes: &[&str]) -> Vec<(u64, String)> {
        hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (i as u64 + 1, (*h).to_owned()))
            .collect()
    }

    #[test]
    fn finds_the_first_differing_position() {
        assert_eq!(
            first_difference(&t(&["a", "b", "c"]), &t(&["a", "b", "c"]), 3),
            None
        );
        assert_eq!(
            first_difference(&t(&["a", "x", "c"]), &t(&["a", "b", "c"]), 3),
            Some(2)
        );
        assert_eq!(
            first_difference(&t(&["a", "b"]), &t(&["a", "b", "c"]), 2),
            None
        );
        assert_eq!(first_difference(&t(&["a"]), &t(&["a", "b"]), 2), Some(2));
        assert_eq!(first_difference(&[], &[], 0), None);
    }
}
