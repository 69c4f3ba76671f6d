//! Analytic parameter counts and forward multiply-accumulates (MACs) per image-text pair, as pure
//! functions of the model config. Conventions follow the OpenCLIP scaling-law study (Cherti et al.
//! 2023, `arch_info.csv`): matrix products only (patch embedding, q/k/v, attention scores and
//! values, output projection, MLP, final projections); layer norms, softmax and activations are
//! not counted; the text projection runs on the end-of-text token only. 1 MAC = 2 FLOPs and a
//! training step costs 3 x the forward pass, so training FLOPs per sample = 6 x MACs per pair.
//! The in-batch similarity matrix (batch x batch x embed_dim per batch) is not counted per pair.

pub use clipscale_analysis::records::ModelSummary;

use crate::model::ClipConfig;
use crate::model::config::StackDims;

/// One row of the breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub tower: &'static str,
    pub name: String,
    pub params: u64,
    pub fwd_macs: u64,
}

fn u(x: usize) -> u64 {
    x as u64
}

/// Parameters of one residual attention block of width w and MLP width m.
pub fn block_params(w: usize, m: usize) -> u64 {
    let (w, m) = (u(w), u(m));
    // ln_1 + in_proj (3w^2 + 3w) + out_proj (w^2 + w) + ln_2 + c_fc (wm + m) + c_proj (mw + w)
    2 * w + (3 * w * w + 3 * w) + (w * w + w) + 2 * w + (w * m + m) + (m * w + w)
}

/// Forward MACs of one block over n tokens.
pub fn block_macs(w: usize, m: usize, n: usize) -> u64 {
    let (w, m, n) = (u(w), u(m), u(n));
    // q, k, v + scores + weighted values + output projection + MLP
    3 * n * w * w + n * n * w + n * n * w + n * w * w + 2 * n * w * m
}

fn stack(tower: &'static str, d: &StackDims, out: &mut Vec<Component>) {
    out.push(Component {
        tower,
        name: format!(
            "{} residual blocks (width {}, mlp {}, {} tokens)",
            d.layers, d.width, d.mlp_width, d.tokens
        ),
        params: u(d.layers) * block_params(d.width, d.mlp_width),
        fwd_macs: u(d.layers) * block_macs(d.width, d.mlp_width, d.tokens),
    });
}

/// The per-component breakdown of both towers and the logit scale.
pub fn breakdown(cfg: &ClipConfig) -> Vec<Component> {
    let v = &cfg.vision;
    let t = &cfg.text;
    let (vw, tw, e) = (u(v.width), u(t.width), u(cfg.embed_dim));
    let p = u(v.patch_size);
    let patches = u(v.grid() * v.grid());
    let mut out = vec![
        Component {
            tower: "image",
            name: "patch embedding (conv, no bias)".into(),
            params: 3 * p * p * vw,
            fwd_macs: patches * 3 * p * p * vw,
        },
        Component {
            tower: "image",
            name: "class token".into(),
            params: vw,
            fwd_macs: 0,
        },
        Component {
            tower: "image",
            name: "positional embedding".into(),
            params: u(v.tokens()) * vw,
            fwd_macs: 0,
        },
        Component {
            tower: "image",
            name: "ln_pre".into(),
            params: 2 * vw,
            fwd_macs: 0,
        },
    ];
    stack("image", &v.stack(), &mut out);
    out.push(Component {
        tower: "image",
        name: "ln_post".into(),
        params: 2 * vw,
        fwd_macs: 0,
    });
    out.push(Component {
        tower: "image",
        name: "projection".into(),
        params: vw * e,
        fwd_macs: vw * e,
    });
    out.push(Component {
        tower: "text",
        name: "token embedding".into(),
        params: u(t.vocab_size) * tw,
        fwd_macs: 0,
    });
    out.push(Component {
        tower: "text",
        name: "positional embedding".into(),
        params: u(t.context_length) * tw,
        fwd_macs: 0,
    });
    stack("text", &t.stack(), &mut out);
    out.push(Component {
        tower: "text",
        name: "ln_final".into(),
        params: 2 * tw,
        fwd_macs: 0,
    });
    out.push(Component {
        tower: "text",
        name: "projection (end token)".into(),
        params: tw * e,
        fwd_macs: tw * e,
    });
    out.push(Component {
        tower: "model",
        name: "logit scale".into(),
        params: 1,
        fwd_macs: 0,
    });
    out
}

/// Totals of [`breakdown`], as the trial spec records them.
pub fn counts(cfg: &ClipConfig) -> ModelSummary {
    let parts = breakdown(cfg);
    let sum = |tower: &str, f: fn(&Component) -> u64| {
        parts
            .iter()
            .filter(|c| c.tower == tower)
            .map(f)
            .sum::<u64>()
    };
    let image_params = sum("image", |c| c.params);
    let text_params = sum("text", |c| c.params);
    let image_fwd_macs = sum("image", |c| c.fwd_macs);
    let text_fwd_macs = sum("text", |c| c.fwd_macs);
    ModelSummary {
        name: cfg.name.clone(),
        params: parts.iter().map(|c| c.params).sum(),
        image_params,
        text_params,
        fwd_macs_per_pair: image_fwd_macs + text_fwd_macs,
        image_fwd_macs,
        text_fwd_macs,
    }
}
