//! Draw the cell of a genotype of every space, and progress plots of a
//! made-up search, into a folder, to look at the pictures `nas export`
//! draws: `cargo run -p export --example pictures -- DIR`.

use export::progress::{self, Point, Progress};
use space::{Genotype, SpaceKind};
use std::path::PathBuf;

const SAMPLES: [(SpaceKind, &str); 5] = [
    (SpaceKind::Darts, "DARTS_V2"),
    (
        SpaceKind::Nb201,
        "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    ),
    (
        SpaceKind::Pnas,
        "(1,sep_5x5,1,max_pool_3x3)(0,sep_7x7,0,max_pool_3x3)(0,sep_5x5,0,sep_3x3)(4,sep_3x3,0,max_pool_3x3)(1,sep_3x3,0,identity)",
    ),
    (
        SpaceKind::Macro,
        "3x3:24 5x5:36<0 3x7:48<0,1 1x1:64 7x5:36<2,3 3x3:48<0,4",
    ),
    (
        SpaceKind::Darts,
        "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 2), ('max_pool_3x3', 3), ('skip_connect', 1), ('sep_conv_3x3', 4), ('sep_conv_5x5', 0)], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('dil_conv_3x3', 2), ('sep_conv_3x3', 1), ('skip_connect', 3), ('avg_pool_3x3', 4), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: pictures DIR")?);
    std::fs::create_dir_all(&dir)?;
    for (i, (kind, text)) in SAMPLES.iter().enumerate() {
        let g = Genotype::parse(*kind, text)?;
        let svg = export::cell::cell_svg(&g, &format!("{kind} {}", g.hash()));
        let path = dir.join(format!("cell-{i}-{kind}.svg"));
        std::fs::write(&path, svg)?;
        println!("{}", path.display());
    }
    let mut points: Vec<Point> = (0..60)
        .map(|i| {
            let x = i as f64;
            Point {
                n: x + 1.0,
                secs: 7.0 * x + (x * 1.3).sin() * 3.0 + 5.0,
                acc: 70.0 + 15.0 * (1.0 - (-x / 15.0).exp()) + 6.0 * (x * 2.7).sin(),
                retrained: false,
                rung: None,
            }
        })
        .collect();
    points.push(Point {
        n: 61.0,
        secs: 480.0,
        acc: 91.5,
        retrained: true,
        rung: None,
    });
    let p = Progress { points, failed: 3 };
    progress::ensure_font()?;
    let title = progress::title("example-1", &p);
    progress::png(&p, &title, &dir.join("progress.png"))?;
    std::fs::write(dir.join("progress.svg"), progress::svg(&p, &title)?)?;
    println!("{}", dir.join("progress.png").display());
    Ok(())
}
