//! What every reader produces before the data becomes tensors: pixels in
//! `[N, C, H, W]` order (images) or f32 values (tables, series), and labels
//! as plain vectors. The fingerprint is taken here, from the decoded values,
//! so it does not depend on how the files were stored.

use crate::error::Result;
use crate::format::Format;
use crate::meta::{Column, Task};
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
        Ok(Split {
            inputs: images,
            labels,
        })
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

/// The labels of a table or series split.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Labels {
    /// Classification: class indices.
    Classes(Vec<i64>),
    /// Regression: target values.
    Values(Vec<f32>),
}

impl Labels {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Self::Classes(c) => c.len(),
            Self::Values(v) => v.len(),
        }
    }

    /// The task these labels are for.
    pub fn task(&self) -> Task {
        match self {
            Self::Classes(_) => Task::Classification,
            Self::Values(_) => Task::Regression,
        }
    }

    /// The groups a holdout stratifies by: the classes, or one group.
    pub fn strata(&self) -> Vec<i64> {
        match self {
            Self::Classes(c) => c.clone(),
            Self::Values(v) => vec![0; v.len()],
        }
    }

    /// The labels at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Labels {
        match self {
            Self::Classes(c) => Self::Classes(indices.iter().map(|&i| c[i]).collect()),
            Self::Values(v) => Self::Values(indices.iter().map(|&i| v[i]).collect()),
        }
    }

    /// Little-endian bytes: i64 classes or f32 values.
    fn le_bytes(&self) -> Vec<u8> {
        match self {
            Self::Classes(c) => c.iter().flat_map(|l| l.to_le_bytes()).collect(),
            Self::Values(v) => v.iter().flat_map(|l| canonical(*l).to_le_bytes()).collect(),
        }
    }
}

/// One split of a table or a set of series as decoded values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawValues {
    /// `len * shape.product()` values, sample-major; NaN is missing.
    pub values: Vec<f32>,
    /// The shape of one sample: `[F]` for a table, `[C, L]` for series.
    pub shape: Vec<usize>,
    /// One label per sample.
    pub labels: Labels,
}

impl RawValues {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> RawValues {
        let size: usize = self.shape.iter().product();
        let mut values = Vec::with_capacity(indices.len() * size);
        for &i in indices {
            values.extend_from_slice(&self.values[i * size..(i + 1) * size]);
        }
        RawValues {
            values,
            shape: self.shape.clone(),
            labels: self.labels.select(indices),
        }
    }

    /// Move the values into f32 (and i64 or f32 label) tensors on the CPU.
    pub fn into_split(self) -> Result<Split> {
        let mut shape = vec![self.len() as i64];
        shape.extend(self.shape.iter().map(|&d| d as i64));
        let inputs = Tensor::f_from_slice(&self.values)?.f_view(shape.as_slice())?;
        let labels = match &self.labels {
            Labels::Classes(c) => Tensor::f_from_slice(c)?,
            Labels::Values(v) => Tensor::f_from_slice(v)?,
        };
        Split::new(inputs, labels)
    }
}

/// One NaN for every NaN, so that the fingerprint does not depend on the
/// payload bits a reader happened to produce.
fn canonical(v: f32) -> f32 {
    if v.is_nan() {
        f32::NAN
    } else {
        v
    }
}

/// Version tag hashed first for tables and series; bump it if what is
/// hashed changes. Distinct from [`FINGERPRINT_TAG`], so no table can
/// collide with an image set by construction.
const VALUES_TAG: &[u8] = b"nas-data values fingerprint v1\n";

/// SHA-256, as 64 hex digits, of a table or series dataset: what a model
/// learns from, not how it was named or stored.
///
/// The bytes hashed: [`VALUES_TAG`], `"{format}\n{input}\n{task}\nclasses
/// {k}\n"`, one line `"columns"` followed by ` {kind}:{categories}` per
/// feature column (empty for series), then for `train` and `test` in that
/// order `"{split} {n} {shape...}\n"` (the per-sample shape, space
/// separated), the labels as little-endian i64 (classes) or f32 (values),
/// and the inputs as little-endian f32, every NaN as `0x7fc00000`. Class,
/// category, column and file names are left out.
pub(crate) fn fingerprint_values(
    format: Format,
    classes: usize,
    columns: &[Column],
    train: &RawValues,
    test: &RawValues,
) -> String {
    let mut h = Sha256::new();
    h.update(VALUES_TAG);
    let task = train.labels.task();
    let input = format.input().name();
    h.update(format!("{format}\n{input}\n{task}\nclasses {classes}\n").as_bytes());
    let mut line = String::from("columns");
    for c in columns {
        line.push_str(&format!(" {}:{}", c.kind, c.categories.len()));
    }
    line.push('\n');
    h.update(line.as_bytes());
    for (name, split) in [("train", train), ("test", test)] {
        let mut header = format!("{name} {}", split.len());
        for d in &split.shape {
            header.push_str(&format!(" {d}"));
        }
        header.push('\n');
        h.update(header.as_bytes());
        h.update(split.labels.le_bytes());
        for chunk in split.values.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk
                .iter()
                .flat_map(|v| canonical(*v).to_le_bytes())
                .collect();
            h.update(&bytes);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
