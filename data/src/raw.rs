//! What every reader produces before the data becomes tensors: pixels in
//! `[N, C, H, W]` order and labels as plain vectors. The fingerprint is taken
//! here, from the decoded bytes, so it does not depend on how the files were
//! stored.

use crate::error::Result;
use crate::format::Format;
use crate::split::Split;
use sha2::{Digest, Sha256};
use tch::Tensor;

/// One split as decoded bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawSplit {
    /// `len * channels * height * width` bytes, sample-major, then channel,
    /// row and column.
    pub pixels: Vec<u8>,
    /// One class index per sample.
    pub labels: Vec<i64>,
    /// Channels per image.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
}

impl RawSplit {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Move the bytes into u8/i64 tensors on the CPU.
    pub fn into_split(self) -> Result<Split> {
        let n = self.len() as i64;
        let images = Tensor::f_from_slice(&self.pixels)?.f_view([
            n,
            self.channels as i64,
            self.height as i64,
            self.width as i64,
        ])?;
        let labels = Tensor::f_from_slice(&self.labels)?;
        Ok(Split { images, labels })
    }
}

/// Version tag hashed first; bump it if what is hashed changes.
const FINGERPRINT_TAG: &[u8] = b"nas-data fingerprint v1\n";

/// SHA-256, as 64 hex digits, of the format, the number of classes, and per
/// split its shape, labels and pixels. Class names and file names are left
/// out: they do not change what a model learns, and a copy of the data in
/// another folder must fingerprint the same.
///
/// The bytes hashed: [`FINGERPRINT_TAG`], `"{format}\nclasses {k}\n"`, then
/// for `train` and `test` in that order `"{split} {n} {c} {h} {w}\n"`, the
/// labels as little-endian i64, and the pixels in `[N, C, H, W]` order. A
/// test pins the digest of a small dataset, computed outside Rust.
pub(crate) fn fingerprint(
    format: Format,
    classes: usize,
    train: &RawSplit,
    test: &RawSplit,
) -> String {
    let mut h = Sha256::new();
    h.update(FINGERPRINT_TAG);
    h.update(format!("{format}\nclasses {classes}\n").as_bytes());
    for (name, split) in [("train", train), ("test", test)] {
        let header = format!(
            "{name} {} {} {} {}\n",
            split.len(),
            split.channels,
            split.height,
            split.width
        );
        h.update(header.as_bytes());
        let labels: Vec<u8> = split.labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        h.update(&labels);
        h.update(&split.pixels);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
