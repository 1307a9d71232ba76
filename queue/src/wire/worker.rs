//! A worker's card: what a trainer says about itself with each heartbeat
//! (its kind, host, device, slots and the jobs it holds), for the
//! dashboard's fleet page and `GET /api/fleet`. Cards are advisory: the
//! queue's transitions never read them, and a card expires a few
//! heartbeats after its worker went silent.

use super::{malformed, WireError};
use serde::{Deserialize, Serialize};

/// Largest card accepted, in bytes of JSON (a card lists the jobs its
/// worker holds, one per slot).
pub const MAX_CARD_BYTES: usize = 16 * 1024;

/// One worker, as it describes itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerCard {
    /// The worker id, as it claims jobs.
    pub id: String,
    /// Which client: `rust` (`nas trainer`) or `python` (`nas-worker`).
    pub kind: String,
    /// The host it runs on.
    #[serde(default)]
    pub host: String,
    /// Where it trains: `cpu`, `cuda`, `cuda:1`, ...
    #[serde(default)]
    pub device: String,
    /// Jobs it runs at once.
    pub slots: u32,
    /// The pools it serves (`builtin`, `python`).
    #[serde(default)]
    pub pools: Vec<String>,
    /// The jobs it holds now.
    #[serde(default)]
    pub jobs: Vec<String>,
    /// When it started (ms since the epoch).
    #[serde(default)]
    pub started_ms: u64,
    /// Its build (`nas` or `nas-worker` version).
    #[serde(default)]
    pub version: String,
}

impl WorkerCard {
    /// Decode a card as stored, checking its size and id.
    pub fn decode(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_CARD_BYTES {
            return Err(malformed(
                "worker card",
                format!("{} bytes, over {MAX_CARD_BYTES}", text.len()),
            ));
        }
        let card: Self =
            serde_json::from_str(text).map_err(|e| malformed("worker card", e.to_string()))?;
        super::validate_id("worker card", &card.id)?;
        Ok(card)
    }

    /// The card's JSON, refused if it is over [`MAX_CARD_BYTES`].
    pub fn encode(&self) -> Result<String, WireError> {
        let text =
            serde_json::to_string(self).map_err(|e| malformed("worker card", e.to_string()))?;
        if text.len() > MAX_CARD_BYTES {
            return Err(malformed(
                "worker card",
                format!("{} bytes, over {MAX_CARD_BYTES}", text.len()),
            ));
        }
        Ok(text)
    }
}

/// A worker seen by [`crate::Queue::fleet`]: its last heartbeat and its
/// card, if it publishes one (and it decodes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerSeen {
    /// The worker id.
    pub id: String,
    /// Its last heartbeat (ms since the epoch).
    pub seen_ms: u64,
    /// Its card.
    pub card: Option<WorkerCard>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_round_trip_and_bad_ones_are_named() {
        let card = WorkerCard {
            id: "t1".into(),
            kind: "rust".into(),
            slots: 2,
            jobs: vec!["s.0000000001".into()],
            ..WorkerCard::default()
        };
        assert_eq!(WorkerCard::decode(&card.encode().unwrap()).unwrap(), card);
        let err = WorkerCard::decode("{\"id\": 3}").unwrap_err().to_string();
        assert!(err.contains("malformed worker card"), "{err}");
        let huge = WorkerCard {
            jobs: vec!["x".repeat(100); 200],
            ..card
        };
        assert!(huge.encode().unwrap_err().to_string().contains("over"));
    }
}
