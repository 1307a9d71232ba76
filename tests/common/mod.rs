//! Helpers shared by the black-box tests: a small dataset in the real IDX
//! format, and processes that are killed when the test ends.

#![allow(dead_code)]

use std::process::Child;

/// Child processes killed and reaped on drop.
pub struct Procs(pub Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// 4 classes told apart by brightness, 12x12 grey images, as IDX files.
pub fn write_dataset(dir: &std::path::Path) {
    let mut state = 12345u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut write = |name: &str, n: u32| {
        let mut img = vec![0, 0, 8, 3];
        let mut lab = vec![0, 0, 8, 1];
        for d in [n, 12, 12] {
            img.extend(d.to_be_bytes());
        }
        lab.extend(n.to_be_bytes());
        for _ in 0..n {
            let class = (rand() % 4) as u8;
            lab.push(class);
            for _ in 0..144 {
                let noise = (rand() % 41) as i32 - 20;
                img.push((class as i32 * 60 + 20 + noise).clamp(0, 255) as u8);
            }
        }
        std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), lab).unwrap();
    };
    write("train", 400);
    write("t10k", 100);
}
