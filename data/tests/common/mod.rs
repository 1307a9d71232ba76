//! Writers of small datasets in the real on-disk formats, shared by the
//! tests: IDX (raw or gzip), CIFAR-10/100 binaries, PNG/JPEG folders.

#![allow(dead_code)]

use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;

/// A deterministic pixel value for sample `i`, byte `j`.
pub fn pixel(i: usize, j: usize) -> u8 {
    ((i * 37 + j * 11 + (i * j) % 7) % 256) as u8
}

/// `n` samples of `size` bytes each from [`pixel`].
pub fn pixels(n: usize, size: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (0..size).map(move |j| pixel(i, j)))
        .collect()
}

/// An IDX u8 images file (magic 0x803).
pub fn idx_images(n: usize, h: usize, w: usize, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// An IDX u8 labels file (magic 0x801).
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Gzip `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The content of a small IDX dataset: (train pixels, train labels, test
/// pixels, test labels), 28x28 like MNIST.
pub struct IdxData {
    pub train_pixels: Vec<u8>,
    pub train_labels: Vec<u8>,
    pub test_pixels: Vec<u8>,
    pub test_labels: Vec<u8>,
}

pub const IDX_SIDE: usize = 28;
pub const IDX_TRAIN: usize = 30;
pub const IDX_TEST: usize = 12;

impl IdxData {
    pub fn new() -> IdxData {
        let size = IDX_SIDE * IDX_SIDE;
        IdxData {
            train_pixels: pixels(IDX_TRAIN, size),
            train_labels: (0..IDX_TRAIN).map(|i| (i % 10) as u8).collect(),
            test_pixels: pixels(IDX_TEST, size)
                .into_iter()
                .map(|p| p ^ 0x5a)
                .collect(),
            test_labels: (0..IDX_TEST).map(|i| ((i * 3) % 10) as u8).collect(),
        }
    }

    /// The four files, named as in the real dataset (`.gz` when `gz`).
    pub fn write(&self, dir: &Path, gz: bool) {
        std::fs::create_dir_all(dir).unwrap();
        let s = IDX_SIDE;
        let files = [
            (
                "train-images-idx3-ubyte",
                idx_images(IDX_TRAIN, s, s, &self.train_pixels),
            ),
            ("train-labels-idx1-ubyte", idx_labels(&self.train_labels)),
            (
                "t10k-images-idx3-ubyte",
                idx_images(IDX_TEST, s, s, &self.test_pixels),
            ),
            ("t10k-labels-idx1-ubyte", idx_labels(&self.test_labels)),
        ];
        for (name, bytes) in files {
            if gz {
                std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

/// CIFAR records: label bytes then 3072 pixels per sample. Returns the
/// file bytes and the pixels alone.
pub fn cifar_records(labels: &[Vec<u8>], seed: usize) -> (Vec<u8>, Vec<u8>) {
    let mut file = Vec::new();
    let mut all = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let px: Vec<u8> = (0..3072).map(|j| pixel(i + seed, j)).collect();
        file.extend_from_slice(label);
        file.extend_from_slice(&px);
        all.extend_from_slice(&px);
    }
    (file, all)
}

/// An RGB image of `w x h` whose pixel (x, y) channel c is a function of
/// `(seed, x, y, c)`, as interleaved bytes.
pub fn rgb_image(w: u32, h: u32, seed: usize) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let v = |c: usize| pixel(seed, (y as usize * w as usize + x as usize) * 3 + c);
        image::Rgb([v(0), v(1), v(2)])
    })
}

/// A grayscale image, like [`rgb_image`].
pub fn gray_image(w: u32, h: u32, seed: usize) -> image::GrayImage {
    image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([pixel(seed, (y * w + x) as usize)])
    })
}

/// The channel-major bytes of an RGB image.
pub fn chw(img: &image::RgbImage) -> Vec<u8> {
    let raw = img.as_raw();
    (0..3)
        .flat_map(|c| raw.iter().skip(c).step_by(3).copied())
        .collect()
}

/// Write `content` to `dir/name` and return the path.
pub fn write_text(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// A tensor's values as f32, flattened.
pub fn floats(t: &tch::Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.reshape([-1]).to_kind(tch::Kind::Float)).unwrap()
}

/// A tensor's values as i64, flattened.
pub fn ints(t: &tch::Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(&t.reshape([-1]).to_kind(tch::Kind::Int64)).unwrap()
}

/// The error message of loading `path` with `options`, which must fail.
pub fn load_err(path: &Path, options: &data::LoadOptions) -> String {
    match data::Dataset::load_with(path, options) {
        Ok(ds) => panic!(
            "{} loaded, expected an error: {:?}",
            path.display(),
            ds.meta
        ),
        Err(e) => e.to_string(),
    }
}

/// Whether `a` and `b` are equal, counting NaN equal to NaN.
pub fn same_floats(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}
