//! Batches: shapes, every sample once per epoch, normalization, and the
//! augmentations (crop, flip, cutout) as exact whole-batch tensor ops.

use data::{Augment, Loader, LoaderConfig, Normalize, Split};
use tch::{Kind, Tensor};

/// `n` RGB images of `h x w` with distinct per-channel statistics and a
/// sample id in pixel (0, 0, 0) (ids < 256); every pixel is at least 1.
fn split(n: usize, h: usize, w: usize) -> Split {
    let mut px = Vec::with_capacity(n * 3 * h * w);
    for i in 0..n {
        for c in 0..3 {
            for j in 0..h * w {
                let v = if c == 0 && j == 0 {
                    i
                } else {
                    1 + (i * 7 + j * (c + 3) + c * 50) % 200
                };
                px.push(v as u8);
            }
        }
    }
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 4).collect();
    let images = Tensor::from_slice(&px).view([n as i64, 3, h as i64, w as i64]);
    Split::new(images, Tensor::from_slice(&labels)).unwrap()
}

fn config(batch_size: usize, augment: Augment) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        augment,
        seed: 11,
        ..LoaderConfig::default()
    }
}

/// Raw pixel values back from an identity-normalized batch.
fn raw(x: &Tensor) -> Tensor {
    (x * 255.0).round().to_kind(Kind::Int64)
}

#[test]
fn batch_shapes_and_drop_last() {
    let s = split(10, 5, 6);
    let norm = Normalize::from_split(&s);
    let loader = Loader::new(&s, &norm, config(4, Augment::default())).unwrap();
    assert_eq!(loader.len(), 3);
    let sizes: Vec<Vec<i64>> = loader
        .epoch(0)
        .map(|(x, y)| {
            assert_eq!((x.kind(), y.kind()), (Kind::Float, Kind::Int64));
            assert_eq!(x.size()[1..], [3, 5, 6]);
            assert_eq!(y.size(), [x.size()[0]]);
            vec![x.size()[0]]
        })
        .collect();
    assert_eq!(sizes, [[4], [4], [2]]);
    let drop = LoaderConfig {
        drop_last: true,
        ..config(4, Augment::default())
    };
    let loader = Loader::new(&s, &norm, drop).unwrap();
    assert_eq!(loader.epoch(0).len(), 2);
    assert_eq!(loader.epoch(0).count(), 2);
}

#[test]
fn each_epoch_is_a_seeded_permutation() {
    let s = split(50, 2, 2);
    let id = Normalize::identity(3);
    let loader = Loader::new(&s, &id, config(8, Augment::default())).unwrap();
    let order = |epoch| -> Vec<i64> {
        loader
            .epoch(epoch)
            .flat_map(|(x, y)| {
                let ids =
                    Vec::<i64>::try_from(&raw(&x.select(1, 0).select(1, 0).select(1, 0))).unwrap();
                let labels = Vec::<i64>::try_from(&y).unwrap();
                assert!(ids.iter().zip(&labels).all(|(i, l)| i % 4 == *l));
                ids
            })
            .collect()
    };
    let e0 = order(0);
    let mut sorted = e0.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<i64>>());
    assert_eq!(order(0), e0);
    assert_ne!(order(1), e0);
    let plain = LoaderConfig {
        shuffle: false,
        ..config(8, Augment::default())
    };
    let loader = Loader::new(&s, &id, plain).unwrap();
    let ids: Vec<i64> = loader
        .epoch(3)
        .flat_map(|(x, _)| {
            Vec::<i64>::try_from(&raw(&x.select(1, 0).select(1, 0).select(1, 0))).unwrap()
        })
        .collect();
    assert_eq!(ids, (0..50).collect::<Vec<i64>>());
}

#[test]
fn normalized_batches_have_mean_0_and_std_1_per_channel() {
    let s = split(64, 8, 8);
    let norm = Normalize::from_split(&s);
    assert_eq!(norm.mean.len(), 3);
    let loader = Loader::new(&s, &norm, config(10, Augment::default())).unwrap();
    let all = Tensor::cat(&loader.epoch(0).map(|(x, _)| x).collect::<Vec<_>>(), 0);
    let x = all.to_kind(Kind::Double).transpose(0, 1).reshape([3, -1]);
    let mean = Vec::<f64>::try_from(&x.mean_dim(1, false, Kind::Double)).unwrap();
    let std = Vec::<f64>::try_from(&x.std_dim(1, false, false)).unwrap();
    for c in 0..3 {
        assert!(mean[c].abs() < 1e-4, "channel {c}: mean {}", mean[c]);
        assert!((std[c] - 1.0).abs() < 1e-4, "channel {c}: std {}", std[c]);
    }
    // The statistics themselves, against a direct computation.
    let px = s.inputs.to_kind(Kind::Double) / 255.0;
    let direct =
        Vec::<f64>::try_from(&px.mean_dim(&[0i64, 2, 3][..], false, Kind::Double)).unwrap();
    for (d, m) in direct.iter().zip(&norm.mean) {
        assert!((d - m).abs() < 1e-9, "{d} != {m}");
    }
}

#[test]
fn flip_with_probability_1_mirrors_exactly() {
    let s = split(9, 4, 5);
    let id = Normalize::identity(3);
    let plain = LoaderConfig {
        shuffle: false,
        ..config(4, Augment::default())
    };
    let flip = Augment {
        flip_prob: 1.0,
        ..Augment::default()
    };
    let flipped = LoaderConfig {
        shuffle: false,
        ..config(4, flip)
    };
    let a = Loader::new(&s, &id, plain).unwrap();
    let b = Loader::new(&s, &id, flipped).unwrap();
    for ((x, _), (y, _)) in a.epoch(0).zip(b.epoch(0)) {
        assert_eq!(y.size(), x.size());
        assert!(y.equal(&x.flip([3])));
    }
}

#[test]
fn half_flip_mirrors_some_samples_and_keeps_the_rest() {
    let s = split(64, 4, 5);
    let id = Normalize::identity(3);
    let aug = Augment {
        flip_prob: 0.5,
        ..Augment::default()
    };
    let plain = Loader::new(
        &s,
        &id,
        LoaderConfig {
            shuffle: false,
            ..config(64, Augment::default())
        },
    )
    .unwrap();
    let flip = Loader::new(
        &s,
        &id,
        LoaderConfig {
            shuffle: false,
            ..config(64, aug)
        },
    )
    .unwrap();
    let (x, _) = plain.epoch(0).next().unwrap();
    let (y, _) = flip.epoch(0).next().unwrap();
    let same = y.eq_tensor(&x).all_dims(&[1, 2, 3][..], false);
    let mirrored = y.eq_tensor(&x.flip([3])).all_dims(&[1, 2, 3][..], false);
    assert!(bool::try_from(same.logical_or(&mirrored).all()).unwrap());
    let flipped = i64::try_from(mirrored.sum(Kind::Int64)).unwrap();
    assert!((16..=48).contains(&flipped), "{flipped} of 64 flipped");
}

#[test]
fn crop_is_a_shifted_window_of_the_zero_padded_image() {
    let (n, h, w, pad) = (12i64, 6i64, 7i64, 2i64);
    let s = split(n as usize, h as usize, w as usize);
    let id = Normalize::identity(3);
    let aug = Augment {
        crop_padding: pad,
        ..Augment::default()
    };
    let loader = Loader::new(
        &s,
        &id,
        LoaderConfig {
            shuffle: false,
            ..config(n as usize, aug)
        },
    )
    .unwrap();
    let (x, _) = loader.epoch(0).next().unwrap();
    assert_eq!(x.size(), [n, 3, h, w]);
    let x = raw(&x);
    let padded = s
        .inputs
        .to_kind(Kind::Int64)
        .constant_pad_nd([pad, pad, pad, pad]);
    let mut offsets = std::collections::BTreeSet::new();
    for i in 0..n {
        let found = (0..=2 * pad)
            .flat_map(|dy| (0..=2 * pad).map(move |dx| (dy, dx)))
            .find(|&(dy, dx)| {
                padded
                    .get(i)
                    .narrow(1, dy, h)
                    .narrow(2, dx, w)
                    .equal(&x.get(i))
            });
        offsets.insert(found.unwrap_or_else(|| panic!("sample {i} is not a window")));
    }
    assert!(offsets.len() > 1, "every sample got the same offset");
}

#[test]
fn cutout_zeroes_one_clipped_square_per_sample() {
    let (n, side) = (16i64, 3i64);
    let s = split(n as usize, 8, 8);
    let id = Normalize::identity(3);
    let aug = Augment {
        cutout: side,
        ..Augment::default()
    };
    let loader = Loader::new(
        &s,
        &id,
        LoaderConfig {
            shuffle: false,
            ..config(n as usize, aug)
        },
    )
    .unwrap();
    let (x, _) = loader.epoch(0).next().unwrap();
    assert_eq!(x.size(), [n, 3, 8, 8]);
    let (plain, _) = Loader::new(
        &s,
        &id,
        LoaderConfig {
            shuffle: false,
            ..config(n as usize, Augment::default())
        },
    )
    .unwrap()
    .epoch(0)
    .next()
    .unwrap();
    let zero = x.eq(0.0);
    // Same square in every channel (channel 0 holds the ids, one of them
    // 0), and elsewhere the pixels are untouched.
    assert!(zero.select(1, 1).equal(&zero.select(1, 2)));
    assert!(x.where_self(&zero.logical_not(), &plain).equal(&plain));
    for i in 0..n {
        let m = zero.get(i).get(1);
        let rows = i64::try_from(m.any_dim(1, false).sum(Kind::Int64)).unwrap();
        let cols = i64::try_from(m.any_dim(0, false).sum(Kind::Int64)).unwrap();
        let count = i64::try_from(m.sum(Kind::Int64)).unwrap();
        assert!(
            (1..=side).contains(&rows) && (1..=side).contains(&cols),
            "sample {i}"
        );
        assert_eq!(count, rows * cols, "sample {i}: not a rectangle");
    }
}

#[test]
fn augmentation_is_seeded() {
    let s = split(20, 8, 8);
    let norm = Normalize::from_split(&s);
    let aug = Augment {
        crop_padding: 2,
        flip_prob: 0.5,
        cutout: 4,
    };
    let run = |seed| -> Vec<Tensor> {
        let loader = Loader::new(
            &s,
            &norm,
            LoaderConfig {
                seed,
                ..config(6, aug)
            },
        )
        .unwrap();
        loader.epoch(2).map(|(x, _)| x).collect()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert!(a.iter().zip(&b).all(|(x, y)| x.equal(y)));
    assert!(!a
        .iter()
        .zip(&c)
        .all(|(x, y)| x.size() == y.size() && x.equal(y)));
}

#[test]
fn bad_settings_are_errors() {
    let s = split(4, 2, 2);
    let norm = Normalize::from_split(&s);
    let err = |cfg: LoaderConfig, n: &Normalize| Loader::new(&s, n, cfg).unwrap_err().to_string();
    assert!(err(config(0, Augment::default()), &norm).contains("batch size 0"));
    let flip = Augment {
        flip_prob: 1.5,
        ..Augment::default()
    };
    assert!(err(config(2, flip), &norm).contains("flip probability 1.5"));
    assert!(err(config(2, Augment::default()), &Normalize::identity(1))
        .contains("1 means and 1 stds for 3 channels"));
    let zero = Normalize {
        mean: vec![0.0; 3],
        std: vec![0.0; 3],
    };
    assert!(err(config(2, Augment::default()), &zero).contains("must be positive"));
}
