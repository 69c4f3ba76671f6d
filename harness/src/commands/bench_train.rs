//! `clipscale bench train`: argument handling over `clipscale::bench::train`, and the record.

use anyhow::Result;
use clipscale::cli::BenchTrainArgs;

use super::bench::invocation;

pub fn bench_train(a: &BenchTrainArgs) -> Result<()> {
    if let Some(t) = a.threads {
        // SAFETY: set before the CPU backend's thread pool exists, while this is the only thread
        unsafe { std::env::set_var("RAYON_NUM_THREADS", t.to_string()) };
    }
    let bench = clipscale::bench::train::run(a)?;
    if !a.json && !a.no_record {
        let f: Vec<(&str, String)> = bench
            .figures
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let root = clipscale_core::repo::repo_root(None);
        let path = clipscale_analysis::bench::record(&root, bench.topic, &invocation(), &f)?;
        println!("recorded in {}", path.display());
    }
    Ok(())
}
