//! `clipscale data prepare ...` and `clipscale data curate`: the burn-free preparation and
//! curation code of clipscale-data, wired in, with `--record` for the pool's timings.

use anyhow::Result;
use clipscale::cli::{CurateCommand, DataCommand, PrepareCommand, PreparePoolCommand};
use clipscale::eval::score::TrialScorer;
use clipscale_data::pool::curate::{
    Resources, curate_pool_with, load_subset, open_subset_with, save_subset, subset_path,
};
use clipscale_data::pool::{Curation, Pool};
use clipscale_data::prepare;

use super::bench::invocation;

pub fn data(cmd: &DataCommand) -> Result<()> {
    let p = match cmd {
        DataCommand::Prepare(p) => p,
        DataCommand::Curate(c) => return curate(c),
    };
    let manifest = match p {
        PrepareCommand::Emoji(a) => prepare::prepare_emoji(a)?,
        PrepareCommand::FashionMnist(a) => prepare::fashion_mnist::prepare_fashion_mnist(a)?,
        PrepareCommand::Tuxpaint(a) => prepare::tuxpaint::prepare_tuxpaint(a)?,
        PrepareCommand::Pool(a) => return prepare_pool(a),
    };
    println!("{}", manifest.summary());
    Ok(())
}

fn record(topic: &str, figures: &[(&str, String)]) -> Result<()> {
    let root = clipscale_core::repo::repo_root(None);
    let path = clipscale_analysis::bench::record(&root, topic, &invocation(), figures)?;
    println!("recorded in {}", path.display());
    Ok(())
}

fn prepare_pool(c: &PreparePoolCommand) -> Result<()> {
    let m = clipscale_data::pool::prepare_pool(&c.args)?;
    println!("{}", m.summary());
    let d = &m.details;
    let n = |path: &str| {
        d.pointer(path)
            .map_or_else(|| "0".to_owned(), |v| v.to_string())
    };
    for (source, count) in d["per_source"].as_object().into_iter().flatten() {
        println!("  {source}: {count}");
    }
    println!(
        "  left out: {} (near-duplicates of evaluation images {}, captions naming a held-out emoji concept {}, blank {})",
        d["excluded_sets"]
            .as_object()
            .map_or(0, |o| o.len())
            .to_string()
            + " sets",
        n("/left_out/eval_near_duplicate"),
        n("/left_out/heldout_concept_caption"),
        n("/left_out/blank"),
    );
    if !c.record {
        return Ok(());
    }
    let bytes: u64 = m
        .splits
        .values()
        .flat_map(|s| &s.shards)
        .filter_map(|s| std::fs::metadata(c.args.out.join(s)).ok())
        .map(|md| md.len())
        .sum();
    let figures = [
        ("pairs", m.total_samples().to_string()),
        ("image_px", m.image_size.to_string()),
        ("iconify", n("/per_source/iconify")),
        ("emoji", n("/per_source/emoji")),
        ("openclipart", n("/per_source/openclipart")),
        ("eval_near_duplicates", n("/left_out/eval_near_duplicate")),
        (
            "heldout_concept_captions",
            n("/left_out/heldout_concept_caption"),
        ),
        ("blank", n("/left_out/blank")),
        ("render_failed", n("/left_out/render_failed")),
        ("threads", n("/threads")),
        ("load_s", n("/seconds/load")),
        ("render_and_write_s", n("/seconds/render_and_write")),
        ("wall_s", format!("{:.1}", m.wall_seconds)),
        ("shards_mib", format!("{:.0}", bytes as f64 / 1048576.0)),
        (
            "peak_rss_mib",
            clipscale::bench::peak_rss_mib().map_or_else(String::new, |v| format!("{v:.0}")),
        ),
    ];
    record("data-pool", &figures)
}

fn curate(c: &CurateCommand) -> Result<()> {
    let started = std::time::Instant::now();
    let curation: Curation = c.args.curation.parse()?;
    let pool = Pool::open(&c.args.pool)?;
    let open_s = started.elapsed().as_secs_f64();
    let scorer = TrialScorer {
        device: c.device,
        batch: c.score_batch,
        quiet: false,
    };
    let res = Resources {
        scorer: Some(&scorer),
        ..Resources::default()
    };
    if !c.record {
        let (subset, path, made) = open_subset_with(&pool, &curation, &res)?;
        print!("{}", subset.summary());
        let verb = if made { "wrote" } else { "already made:" };
        println!("{verb} {}", path.display());
        return Ok(());
    }
    // Timed from the pool's opening, and always made anew (in memory) so the time is the
    // operators', not a file read.
    let subset = curate_pool_with(&pool, &curation, &res)?;
    let path = subset_path(&pool.dir, &curation);
    let made = if path.is_file() {
        // the one made before must be this one
        let earlier = load_subset(&path, &pool, &curation)?;
        if earlier.keys != subset.keys || earlier.caption_from != subset.caption_from {
            anyhow::bail!(
                "{}: the subset made earlier differs from the one made now from the same pool and curation",
                path.display()
            );
        }
        false
    } else {
        save_subset(&pool, &subset, &path)?;
        true
    };
    print!("{}", subset.summary());
    println!(
        "{} {}",
        if made { "wrote" } else { "already made:" },
        path.display()
    );
    let mut figures = vec![
        ("curation", subset.curation.clone()),
        ("pool_pairs", subset.before.pairs.to_string()),
        ("kept", subset.after.pairs.to_string()),
        (
            "captions_replaced",
            subset
                .steps
                .iter()
                .map(|s| s.captions_replaced)
                .sum::<usize>()
                .to_string(),
        ),
        ("open_pool_s", format!("{open_s:.2}")),
        ("curate_s", format!("{:.2}", subset.seconds)),
        (
            "steps_s",
            subset
                .steps
                .iter()
                .map(|s| format!("{:.2}", s.seconds))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("wall_s", format!("{:.2}", started.elapsed().as_secs_f64())),
        (
            "peak_rss_mib",
            clipscale::bench::peak_rss_mib().map_or_else(String::new, |v| format!("{v:.0}")),
        ),
    ];
    // what was kept of each source, and what the operators report of themselves
    let per_source: Vec<(String, String)> = subset
        .after
        .per_source
        .iter()
        .map(|(source, n)| (format!("kept_{source}"), n.to_string()))
        .collect();
    figures.extend(per_source.iter().map(|(k, v)| (k.as_str(), v.clone())));
    for s in &subset.steps {
        let d = &s.details;
        if let Some(entries) = d.pointer("/metadata/entries") {
            figures.push(("metadata_entries", entries.to_string()));
            let unmatched = s.removed.get("unmatched").copied().unwrap_or(0);
            figures.push(("unmatched", unmatched.to_string()));
        }
        if let Some(head) = d.get("head_entries").and_then(|h| h.as_array()) {
            let top: Vec<String> = head
                .iter()
                .take(3)
                .map(|e| format!("{} {}", e["entry"].as_str().unwrap_or("?"), e["before"]))
                .collect();
            figures.push(("head_entries", top.join(", ")));
        }
    }
    record("data-pool-curate", &figures)
}
