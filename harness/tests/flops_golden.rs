//! Analytic parameter and MAC counts against the published tables (repository copies of
//! open_clip's model_profile.csv and the scaling-law paper's arch_info.csv), and the model ladder
//! against open_clip's model configs.

mod common;

use clipscale::flops::counts;
use clipscale::model::ModelLadder;
use common::{OPENCLIP_MODELS, anchor_rows};

fn f(row: &std::collections::HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|e| panic!("column {col} = {:?}: {e}", row[col]))
}

fn within(ours: f64, published: f64, tol: f64) -> bool {
    ((ours - published) / published).abs() <= tol
}

#[test]
fn parameters_match_openclip_model_profile_within_half_a_percent() {
    let ladder = ModelLadder::builtin();
    let rows = anchor_rows("openclip_model_profile.csv", &OPENCLIP_MODELS);
    for name in OPENCLIP_MODELS {
        let c = counts(ladder.get(name).unwrap());
        let row = &rows[name];
        for (ours, col) in [
            (c.params, "mparams"),
            (c.image_params, "image_mparams"),
            (c.text_params, "text_mparams"),
        ] {
            let ours_m = ours as f64 / 1e6;
            assert!(
                within(ours_m, f(row, col), 0.005),
                "{name} {col}: ours {ours_m:.3} M, published {}",
                f(row, col)
            );
        }
    }
}

#[test]
fn forward_macs_match_cherti_arch_info_within_one_percent() {
    let ladder = ModelLadder::builtin();
    let rows = anchor_rows("cherti2023_arch_info.csv", &OPENCLIP_MODELS);
    for name in OPENCLIP_MODELS {
        let c = counts(ladder.get(name).unwrap());
        let row = &rows[name];
        for (ours, col) in [
            (c.fwd_macs_per_pair, "gmacs"),
            (c.image_fwd_macs, "image_gmacs"),
            (c.text_fwd_macs, "text_gmacs"),
        ] {
            let ours_g = ours as f64 / 1e9;
            assert!(
                within(ours_g, f(row, col), 0.01),
                "{name} {col}: ours {ours_g:.4} GMACs, published {}",
                f(row, col)
            );
        }
        // the arch table's parameter counts agree too
        assert!(
            within(c.params as f64 / 1e6, f(row, "mparams"), 0.005),
            "{name} mparams"
        );
    }
}

#[test]
fn ladder_openclip_dimensions_equal_openclip_configs() {
    let ladder = ModelLadder::builtin();
    let rows = anchor_rows("openclip_model_configs_native.csv", &OPENCLIP_MODELS);
    for name in OPENCLIP_MODELS {
        let m = ladder.get(name).unwrap();
        let row = &rows[name];
        let n = |col: &str| f(row, col) as usize;
        assert_eq!(m.embed_dim, n("embed_dim"), "{name} embed_dim");
        assert_eq!(
            m.quick_gelu,
            row["quick_gelu"] == "True",
            "{name} quick_gelu"
        );
        assert_eq!(m.vision.image_size, n("image_size"), "{name} image_size");
        assert_eq!(m.vision.layers, n("vision_layers"), "{name} vision_layers");
        assert_eq!(m.vision.width, n("vision_width"), "{name} vision_width");
        assert_eq!(
            m.vision.heads,
            n("vision_width") / n("vision_head_width"),
            "{name} vision heads"
        );
        assert_eq!(
            m.vision.mlp_ratio,
            f(row, "vision_mlp_ratio"),
            "{name} vision_mlp_ratio"
        );
        assert_eq!(m.vision.patch_size, n("patch_size"), "{name} patch_size");
        assert_eq!(
            m.text.context_length,
            n("context_length"),
            "{name} context_length"
        );
        assert_eq!(m.text.vocab_size, n("vocab_size"), "{name} vocab_size");
        assert_eq!(m.text.width, n("text_width"), "{name} text_width");
        assert_eq!(m.text.heads, n("text_heads"), "{name} text_heads");
        assert_eq!(m.text.layers, n("text_layers"), "{name} text_layers");
    }
}

#[test]
fn small_ladder_fits_the_cpu_and_grows_two_to_four_times_per_rung() {
    let ladder = ModelLadder::builtin();
    let small: Vec<_> = ladder
        .models
        .iter()
        .filter(|m| !m.name.starts_with("ViT"))
        .collect();
    assert!(
        small.len() >= 6,
        "at least 6 small models, found {}",
        small.len()
    );
    for pair in small.windows(2) {
        let (a, b) = (
            counts(pair[0]).fwd_macs_per_pair as f64,
            counts(pair[1]).fwd_macs_per_pair as f64,
        );
        let r = b / a;
        assert!(
            (2.0..=4.0).contains(&r),
            "{} -> {}: compute ratio {r:.2}",
            pair[0].name,
            pair[1].name
        );
    }
    for m in small {
        assert!(
            (32..=64).contains(&m.vision.image_size),
            "{} image size",
            m.name
        );
        assert!((4..=8).contains(&m.vision.patch_size), "{} patch", m.name);
        assert!(
            (32..=256).contains(&m.vision.width) && (32..=256).contains(&m.text.width),
            "{} widths",
            m.name
        );
        assert!(
            (16..=32).contains(&m.text.context_length),
            "{} context",
            m.name
        );
    }
}

#[test]
fn vit_b_32_has_151_28_m_parameters_and_7_4_gmacs() {
    let c = counts(ModelLadder::builtin().get("ViT-B-32").unwrap());
    assert_eq!(format!("{:.2}", c.params as f64 / 1e6), "151.28");
    assert!(within(c.fwd_macs_per_pair as f64 / 1e9, 7.4, 0.01));
    assert_eq!(c.train_flops_per_sample(), 6.0 * c.fwd_macs_per_pair as f64);
}
