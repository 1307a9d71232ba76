//! A [`SpaceRng`](crate::SpaceRng) as plain JSON, for `#[serde(with =
//! "space::rng_serde")]`: its seed, stream and position,
//! `{"seed": "<64 hex digits>", "stream": 0, "word_pos": "412"}`. Strategies
//! and the RL controller persist their generators this way.
//!
//! This is the generator's whole abstract state (what `rand_chacha` compares
//! and itself serializes), so a generator read back continues the same
//! stream. The position is a 68-bit number, written as a decimal string:
//! JSON numbers, and serde's buffering for tagged enums, stop at 64 bits.

use crate::SpaceRng;
use rand::SeedableRng;
use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt::Write;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Persisted {
    seed: String,
    stream: u64,
    word_pos: String,
}

/// For `#[serde(with = "rng")]`.
pub fn serialize<S: Serializer>(rng: &SpaceRng, s: S) -> Result<S::Ok, S::Error> {
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
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpaceRng, D::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[derive(Serialize, Deserialize)]
    struct Holder(#[serde(with = "super")] SpaceRng);

    #[test]
    fn a_generator_read_back_continues_its_stream() {
        let mut rng = crate::rng(42);
        for used in [0, 1, 15, 16, 17, 63, 64, 65, 1000] {
            let mut a = crate::rng(42);
            for _ in 0..used {
                a.random::<u32>();
            }
            let json = serde_json::to_string(&Holder(a.clone())).unwrap();
            let Holder(mut b) = serde_json::from_str(&json).unwrap();
            assert_eq!(a, b, "after {used} words");
            let xs: Vec<u64> = (0..100).map(|_| a.random()).collect();
            let ys: Vec<u64> = (0..100).map(|_| b.random()).collect();
            assert_eq!(xs, ys, "after {used} words");
        }
        rng.random::<u64>();
        let json = serde_json::to_string(&Holder(rng)).unwrap();
        assert!(json.contains(r#""word_pos":"2""#), "{json}");
    }

    #[test]
    fn bad_persisted_generators_are_refused() {
        let seed = "00".repeat(32);
        for (json, why) in [
            (
                r#"{"seed":"zz","stream":0,"word_pos":"0"}"#.to_string(),
                "rng seed",
            ),
            (
                format!(
                    r#"{{"seed":"{}","stream":0,"word_pos":"0"}}"#,
                    "é".repeat(32)
                ),
                "rng seed",
            ),
            (
                format!(r#"{{"seed":"{seed}","stream":0,"word_pos":"-1"}}"#),
                "rng word_pos",
            ),
        ] {
            let err = serde_json::from_str::<Holder>(&json)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(why), "{err}");
        }
        let ok = format!(r#"{{"seed":"{seed}","stream":3,"word_pos":"17"}}"#);
        let Holder(rng) = serde_json::from_str(&ok).unwrap();
        assert_eq!((rng.get_stream(), rng.get_word_pos()), (3, 17));
    }
}
