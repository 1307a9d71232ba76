//! The envelope every job travels in: schema version, ids, kind, attempt,
//! creation time and the kind's payload, capped at [`MAX_PAYLOAD_BYTES`].

use super::{malformed, validate_job_id, validate_search_id, JobId, WireError};
use serde::{Deserialize, Serialize};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest payload a job may carry, in bytes of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// What a job asks a trainer to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Evaluate one candidate architecture ([`super::EvalJob`] payload).
    Evaluate,
    /// Do nothing and report success; measures the queue itself.
    Noop,
    /// Run one DARTS search: train a supernet and derive a genotype
    /// ([`super::DartsJob`] payload).
    Darts,
}

/// Every job on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Schema version, [`SCHEMA_VERSION`].
    pub v: u32,
    /// The job's id, assigned by the queue at enqueue.
    pub job_id: String,
    /// The search the job belongs to.
    pub search_id: String,
    /// What to do.
    pub kind: JobKind,
    /// Which delivery this is, from 1; set by the queue at claim.
    pub attempt: u32,
    /// When the job was first enqueued, ms since the Unix epoch.
    pub created_ms: u64,
    /// The kind's payload.
    pub payload: serde_json::Value,
}

impl Envelope {
    /// Check ids (a job id is its search's id and a number) and the
    /// payload size.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.v != SCHEMA_VERSION {
            return Err(WireError::UnknownVersion {
                found: self.v.into(),
            });
        }
        validate_search_id("job envelope", &self.search_id)?;
        // The queue fills in the job id at enqueue; a placeholder is fine before that.
        if self.job_id != crate::keys::ID_PLACEHOLDER {
            validate_job_id("job envelope", &self.job_id)?;
            if JobId::parse(&self.job_id).map(|j| j.search) != Some(self.search_id.as_str()) {
                return Err(malformed(
                    "job envelope",
                    format!(
                        "job id {:?} is not a job of search {:?}",
                        self.job_id, self.search_id
                    ),
                ));
            }
        }
        let bytes = serde_json::to_vec(&self.payload)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if bytes > MAX_PAYLOAD_BYTES {
            return Err(WireError::TooLarge { bytes });
        }
        Ok(())
    }

    /// Encode, after validating.
    pub fn encode(&self) -> Result<String, WireError> {
        self.validate()?;
        serde_json::to_string(self).map_err(|e| malformed("job envelope", e.to_string()))
    }

    /// Decode and validate. The version is checked before the shape, so a
    /// message from a newer schema is named as such.
    pub fn decode(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_PAYLOAD_BYTES + 4096 {
            return Err(WireError::TooLarge { bytes: text.len() });
        }
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| malformed("job envelope", e.to_string()))?;
        match raw.get("v").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => return Err(WireError::UnknownVersion { found: v }),
            None => return Err(malformed("job envelope", "no schema version field \"v\"")),
        }
        let env: Envelope =
            serde_json::from_value(raw).map_err(|e| malformed("job envelope", e.to_string()))?;
        env.validate()?;
        Ok(env)
    }

    /// The payload as the type `T`, or why it is not one.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, WireError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| malformed("job payload", format!("{:?} payload: {e}", self.kind)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        Envelope {
            v: SCHEMA_VERSION,
            job_id: "s1.0000000001".into(),
            search_id: "s1".into(),
            kind: JobKind::Noop,
            attempt: 1,
            created_ms: 5,
            payload: serde_json::json!({}),
        }
    }

    #[test]
    fn envelopes_round_trip_and_bad_ones_are_named() {
        let e = env();
        assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
        let newer = e.encode().unwrap().replace("\"v\":1", "\"v\":2");
        assert_eq!(
            Envelope::decode(&newer),
            Err(WireError::UnknownVersion { found: 2 })
        );
        let err = Envelope::decode("{\"v\":1,\"job_id\":3}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("malformed job envelope:"), "{err}");
        let err = Envelope::decode("not json").unwrap_err().to_string();
        assert!(err.starts_with("malformed job envelope:"), "{err}");
        let kind = e.encode().unwrap().replace("\"noop\"", "\"mine_bitcoin\"");
        assert!(Envelope::decode(&kind)
            .unwrap_err()
            .to_string()
            .contains("mine_bitcoin"));
        let mut big = env();
        big.payload = serde_json::json!({ "x": "a".repeat(MAX_PAYLOAD_BYTES) });
        assert!(matches!(big.encode(), Err(WireError::TooLarge { .. })));
        let mut bad = env();
        bad.search_id = "a b".into();
        assert!(bad.encode().unwrap_err().to_string().contains("' '"));
    }
}
