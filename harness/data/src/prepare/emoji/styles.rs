//! The drawing styles of the emoji set (npm package, storage kind, licence) and the choice of
//! styles and held-out styles from the command line.

use super::*;

/// How a style's images are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An Iconify JSON set (`icons.json`, `chars.json`, `info.json`).
    Iconify,
    /// emoji-datasource: `img/<vendor>/64/<image>` listed in `emoji.json`.
    Datasource(&'static str),
    /// `@lobehub/fluent-emoji-3d`: `assets/<codepoints>.webp`.
    LobeWebp,
}

/// One drawing style.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StyleDef {
    pub(crate) name: &'static str,
    pub(crate) package: NpmPackage,
    pub(super) kind: Kind,
    pub(super) licence: &'static str,
}

const fn style(
    name: &'static str,
    pkg: &'static str,
    version: &'static str,
    kind: Kind,
    licence: &'static str,
) -> StyleDef {
    StyleDef {
        name,
        package: NpmPackage { name: pkg, version },
        kind,
        licence,
    }
}

/// Every style, in output order.
pub(crate) const STYLES: [StyleDef; 11] = [
    style(
        "noto",
        "@iconify-json/noto",
        "1.2.9",
        Kind::Iconify,
        "Apache-2.0",
    ),
    style(
        "twemoji",
        "@iconify-json/twemoji",
        "1.2.5",
        Kind::Iconify,
        "CC-BY-4.0",
    ),
    style(
        "openmoji",
        "@iconify-json/openmoji",
        "1.2.29",
        Kind::Iconify,
        "CC-BY-SA-4.0",
    ),
    style(
        "fluent-flat",
        "@iconify-json/fluent-emoji-flat",
        "1.2.6",
        Kind::Iconify,
        "MIT",
    ),
    style(
        "fluent-high-contrast",
        "@iconify-json/fluent-emoji-high-contrast",
        "1.2.6",
        Kind::Iconify,
        "MIT",
    ),
    style(
        "noto-v1",
        "@iconify-json/noto-v1",
        "1.2.5",
        Kind::Iconify,
        "Apache-2.0",
    ),
    style(
        "emojione",
        "@iconify-json/emojione",
        "1.2.3",
        Kind::Iconify,
        "CC-BY-4.0",
    ),
    style(
        "emojione-monotone",
        "@iconify-json/emojione-monotone",
        "1.2.1",
        Kind::Iconify,
        "CC-BY-4.0",
    ),
    style(
        "google-png",
        "emoji-datasource-google",
        "16.0.0",
        Kind::Datasource("google"),
        "Apache-2.0",
    ),
    style(
        "twitter-png",
        "emoji-datasource-twitter",
        "16.0.0",
        Kind::Datasource("twitter"),
        "CC-BY-4.0",
    ),
    style(
        "fluent-3d",
        "@lobehub/fluent-emoji-3d",
        "1.1.0",
        Kind::LobeWebp,
        "MIT",
    ),
];

/// The styles to prepare (indices into [`STYLES`]) and which of them are held out.
pub(super) fn resolve_styles(
    args: &PrepareEmojiArgs,
) -> Result<(Vec<usize>, Vec<bool>), DataError> {
    let find = |name: &str| -> Result<usize, DataError> {
        STYLES
            .iter()
            .position(|s| s.name == name.trim())
            .ok_or_else(|| DataError::InvalidOption {
                name: "styles",
                value: name.to_owned(),
                valid: STYLE_NAMES,
            })
    };
    let requested: Vec<String> = args
        .styles
        .iter()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect();
    let mut styles: Vec<usize> = if !requested.is_empty() {
        requested
            .iter()
            .map(|s| find(s))
            .collect::<Result<_, _>>()?
    } else if args.reduced {
        REDUCED_STYLES
            .iter()
            .map(|s| find(s))
            .collect::<Result<_, _>>()?
    } else {
        (0..STYLES.len()).collect()
    };
    styles.sort_unstable();
    styles.dedup();
    let holdout_names: Vec<String> = if !args.holdout_styles.is_empty() {
        args.holdout_styles
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s != "none")
            .collect()
    } else if args.reduced && requested.is_empty() {
        vec!["fluent-flat".to_owned()]
    } else {
        DEFAULT_HOLDOUT
            .iter()
            .filter(|n| styles.iter().any(|&s| STYLES[s].name == **n))
            .map(|n| (*n).to_owned())
            .collect()
    };
    let mut heldout = vec![false; styles.len()];
    for name in &holdout_names {
        let idx = find(name).map_err(|_| DataError::InvalidOption {
            name: "holdout_styles",
            value: name.clone(),
            valid: STYLE_NAMES,
        })?;
        match styles.iter().position(|&s| s == idx) {
            Some(p) => heldout[p] = true,
            None => {
                return Err(DataError::InvalidOption {
                    name: "holdout_styles",
                    value: format!("{name} (not among the included styles)"),
                    valid: "a subset of --styles",
                });
            }
        }
    }
    Ok((styles, heldout))
}
