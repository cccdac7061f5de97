//! Where a re-check spends its time, without Python in the way:
//! `cargo run --release -p trails-core --example statbench -- TREE`.
use std::time::Instant;
use trails_core::{scan, state::StatIndex, walk};

fn main() {
    let root = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: statbench TREE"));
    let t = Instant::now();
    let found = walk::walk(&root).unwrap();
    println!("walk + stat: {:?} ({} files)", t.elapsed(), found.len());
    let index = root.with_extension("statbench-index");
    let _ = std::fs::remove_file(&index);
    let mut idx = StatIndex::open(&index);
    let t = Instant::now();
    let s = scan::scan(&root, &mut idx).unwrap();
    println!("cold scan (read {}): {:?}", s.hashed, t.elapsed());
    idx.save().unwrap();
    let t = Instant::now();
    let mut idx = StatIndex::open(&index);
    println!("index load: {:?}", t.elapsed());
    let t = Instant::now();
    let s = scan::scan(&root, &mut idx).unwrap();
    println!("warm scan (read {}): {:?}", s.hashed, t.elapsed());
    let t = Instant::now();
    let b = s.manifest.to_bytes();
    println!("manifest to_bytes ({} bytes): {:?}", b.len(), t.elapsed());
    let _ = std::fs::remove_file(&index);
}
