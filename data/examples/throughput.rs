//! Times loading a dataset and one augmented training epoch of batches:
//! `cargo run --release -p data --example throughput -- PATH [BATCH]`.

use data::{Augment, Dataset, Loader, LoaderConfig, Normalize};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: throughput PATH [BATCH]")?;
    let batch_size: usize = args.next().map_or(Ok(128), |b| b.parse())?;
    let start = Instant::now();
    let ds = Dataset::load(path.as_ref(), None)?;
    let load = start.elapsed();
    println!(
        "loaded {} ({}, {} train / {} test, {}x{}x{}) in {:.3} s",
        ds.meta.name,
        ds.meta.format,
        ds.meta.train_len,
        ds.meta.test_len,
        ds.meta.channels,
        ds.meta.height,
        ds.meta.width,
        load.as_secs_f64()
    );
    let start = Instant::now();
    let norm = Normalize::from_split(&ds.train);
    println!(
        "statistics in {:.3} s: {norm:?}",
        start.elapsed().as_secs_f64()
    );
    let augment = Augment {
        cutout: 8,
        ..Augment::standard()
    };
    for (name, augment) in [("plain", Augment::default()), ("crop+flip+cutout", augment)] {
        let config = LoaderConfig {
            batch_size,
            augment,
            ..LoaderConfig::default()
        };
        let loader = Loader::new(&ds.train, &norm, config)?;
        let start = Instant::now();
        let mut samples = 0;
        for (x, _) in loader.epoch(0) {
            samples += x.size()[0];
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "epoch {name}: {} batches of {batch_size} in {secs:.3} s ({:.0} samples/s)",
            loader.len(),
            samples as f64 / secs
        );
    }
    Ok(())
}
