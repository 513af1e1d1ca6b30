//! Measures how long a cluster takes to start (template cached) and to drop.
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for version in [
        scrydon_byodb_testbed::PgVersion::V15,
        scrydon_byodb_testbed::PgVersion::V14,
    ] {
        let mut starts = Vec::new();
        let mut drops = Vec::new();
        for _ in 0..n {
            let began = Instant::now();
            let cluster = scrydon_byodb_testbed::Cluster::builder()
                .with_version(version)
                .start()?;
            starts.push(began.elapsed());
            let began = Instant::now();
            drop(cluster);
            drops.push(began.elapsed());
        }
        starts.sort();
        drops.sort();
        println!(
            "{version}: start median {:?} (min {:?}, max {:?}); drop median {:?}",
            starts[n / 2],
            starts[0],
            starts[n - 1],
            drops[n / 2]
        );
    }
    Ok(())
}
