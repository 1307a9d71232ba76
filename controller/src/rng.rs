//! The controller's random generator as plain data: its seed, stream and
//! position, `{"seed": "<64 hex digits>", "stream": 0, "word_pos": "412"}`.
//!
//! That is the generator's whole state, so a generator read back continues
//! the same stream. The position is a 68-bit number, written as a decimal
//! string: JSON numbers, and serde's buffering for tagged enums, stop at 64
//! bits. (The scheduler persists its strategies' generators the same way.)

use rand::SeedableRng;
use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use space::SpaceRng;
use std::fmt::Write;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Persisted {
    seed: String,
    stream: u64,
    word_pos: String,
}

/// For `#[serde(with = "rng")]`.
pub(crate) fn serialize<S: Serializer>(rng: &SpaceRng, s: S) -> Result<S::Ok, S::Error> {
    let mut seed = String::with_capacity(64);
    for byte in rng.get_seed() {
        write!(seed, "{byte:02x}").expect("writing to a string cannot fail");
    }
    Persisted {
        seed,
        stream: rng.get_stream(),
        word_pos: rng.get_word_pos().to_string(),
    }
    .serialize(s)
}

/// For `#[serde(with = "rng")]`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpaceRng, D::Error> {
    let p = Persisted::deserialize(d)?;
    let bad_seed = || D::Error::custom(format!("rng seed {:?} is not 64 hex digits", p.seed));
    if p.seed.len() != 64 || !p.seed.is_ascii() {
        return Err(bad_seed());
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&p.seed[2 * i..2 * i + 2], 16).map_err(|_| bad_seed())?;
    }
    let word_pos: u128 = p.word_pos.parse().map_err(|_| {
        D::Error::custom(format!(
            "rng word_pos {:?} is not a non-negative integer",
            p.word_pos
        ))
    })?;
    let mut rng = SpaceRng::from_seed(seed);
    rng.set_stream(p.stream);
    rng.set_word_pos(word_pos);
    Ok(rng)
}
