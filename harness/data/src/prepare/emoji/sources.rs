//! Where the emoji set's pieces come from: emojibase's concepts (labels, tags, groups), the
//! drawings of each style (npm packages of SVG/PNG files, or Iconify icon sets), joined by code
//! point, and the captions built from the labels.

use super::*;

/// One emoji concept.
#[derive(Debug, Clone)]
pub(super) struct Concept {
    pub(super) class: usize,
    pub(super) key: String,
    pub(super) hexcode: String,
    pub(super) emoji: String,
    pub(super) label: String,
    pub(super) tags: Vec<String>,
    pub(super) group: String,
    pub(super) subgroup: String,
    pub(super) heldout: bool,
}

/// Where one image comes from.
#[derive(Debug, Clone)]
pub(super) enum ImageSource {
    Svg(String),
    File(PathBuf),
}

/// One sample to write.
pub(super) struct Job {
    pub(super) split: usize,
    pub(super) style: usize,
    pub(super) concept: usize,
    pub(super) source: ImageSource,
}

/// Lowercase code points joined by `-`, without the variation selector `fe0f`.
pub(super) fn norm_key(hex: &str) -> String {
    hex.split(['-', ' ', '_'])
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty() && p != "fe0f")
        .map(|p| p.trim_start_matches('0').to_owned())
        .map(|p| if p.is_empty() { "0".to_owned() } else { p })
        .collect::<Vec<_>>()
        .join("-")
}

/// Iconify-style names a label may have ("man’s shoe" -> `mans-shoe`, `man-s-shoe`):
/// accents dropped, other non-alphanumeric characters as separators.
pub(super) fn slugs(label: &str) -> Vec<String> {
    let slug = |s: &str| {
        let folded: String = s
            .nfd()
            .filter(|&c| !unicode_normalization::char::is_combining_mark(c))
            .collect::<String>()
            .to_ascii_lowercase();
        folded
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    };
    let mut out = vec![slug(&label.replace(['’', '\''], "")), slug(label)];
    out.dedup();
    out
}

pub(super) fn field_str<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(|x| x.as_str())
}

/// Reads emojibase's concepts (all non-component, non-flag entries), in emojibase order.
pub(super) fn load_concepts(dir: &Path) -> Result<Vec<Concept>, DataError> {
    let data_path = dir.join("en").join("data.json");
    let data = read_json(&data_path)?;
    let msg_path = dir.join("en").join("messages.json");
    let messages = read_json(&msg_path)?;
    let names = |kind: &str| -> HashMap<u64, String> {
        messages
            .get(kind)
            .and_then(|v| v.as_array())
            .map(|arr| {
                arr.iter()
                    .filter_map(|m| {
                        Some((
                            m.get("order")?.as_u64()?,
                            field_str(m, "message")?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let groups = names("groups");
    let subgroups = names("subgroups");
    if groups.is_empty() || subgroups.is_empty() {
        return Err(DataError::Format {
            path: msg_path.display().to_string(),
            detail: "no `groups`/`subgroups` messages with `order` and `message`".to_owned(),
        });
    }
    let entries = data.as_array().ok_or_else(|| DataError::Format {
        path: data_path.display().to_string(),
        detail: "expected a JSON array of emoji".to_owned(),
    })?;
    let mut out: Vec<(u64, Concept)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(group) = e.get("group").and_then(|g| g.as_u64()) else {
            continue; // regional indicators have no group
        };
        if group == 2 || group == 9 {
            continue; // components (skin tones, hair) and flags
        }
        let bad = |what: &str| DataError::Format {
            path: data_path.display().to_string(),
            detail: format!("entry {i}: {what}"),
        };
        let hexcode = field_str(e, "hexcode").ok_or_else(|| bad("no `hexcode`"))?;
        let label = field_str(e, "label").ok_or_else(|| bad("no `label`"))?;
        let subgroup = e
            .get("subgroup")
            .and_then(|g| g.as_u64())
            .ok_or_else(|| bad("no `subgroup`"))?;
        let tags = e
            .get("tags")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let order = e.get("order").and_then(|o| o.as_u64()).unwrap_or(i as u64);
        out.push((
            order,
            Concept {
                class: 0,
                key: norm_key(hexcode),
                hexcode: hexcode.to_owned(),
                emoji: field_str(e, "emoji").unwrap_or_default().to_owned(),
                label: label.to_owned(),
                tags,
                group: groups
                    .get(&group)
                    .cloned()
                    .ok_or_else(|| bad(&format!("group {group} has no name")))?,
                subgroup: subgroups
                    .get(&subgroup)
                    .cloned()
                    .ok_or_else(|| bad(&format!("subgroup {subgroup} has no name")))?,
                heldout: false,
            },
        ));
    }
    out.sort_by_key(|(order, _)| *order);
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// One resolved Iconify icon.
#[derive(Debug, Clone)]
pub(crate) struct IconifyIcon {
    pub(crate) body: String,
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
    pub(crate) rotate: i64,
    pub(crate) h_flip: bool,
    pub(crate) v_flip: bool,
    /// Marked hidden by the set (kept for old names; an alias is visible unless it says so).
    pub(crate) hidden: bool,
}

impl IconifyIcon {
    /// The icon as a standalone SVG document of side `size`.
    pub(crate) fn document(&self, size: u32) -> String {
        let (l, t, w, h) = (self.left, self.top, self.width, self.height);
        let mut transforms = Vec::new();
        if self.h_flip {
            transforms.push(format!("translate({} 0) scale(-1 1)", 2.0 * l + w));
        }
        if self.v_flip {
            transforms.push(format!("translate(0 {}) scale(1 -1)", 2.0 * t + h));
        }
        let quarter = self.rotate.rem_euclid(4);
        let (mut vl, mut vt, mut vw, mut vh) = (l, t, w, h);
        if quarter != 0 {
            let (cx, cy) = (l + w / 2.0, t + h / 2.0);
            transforms.insert(0, format!("rotate({} {cx} {cy})", quarter * 90));
            if quarter % 2 == 1 {
                (vl, vt, vw, vh) = (cx - h / 2.0, cy - w / 2.0, h, w);
            }
        }
        let body = if transforms.is_empty() {
            self.body.clone()
        } else {
            format!(
                "<g transform=\"{}\">{}</g>",
                transforms.join(" "),
                self.body
            )
        };
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{size}\" height=\"{size}\" viewBox=\"{vl} {vt} {vw} {vh}\" color=\"black\">{body}</svg>"
        )
    }
}

/// An Iconify set: icons (aliases resolved) and the code-point index.
pub(super) struct IconifySet {
    pub(super) icons: HashMap<String, IconifyIcon>,
    pub(super) chars: HashMap<String, String>,
    pub(super) licence: Option<String>,
}

pub(super) fn load_iconify(dir: &Path) -> Result<IconifySet, DataError> {
    let path = dir.join("icons.json");
    let json = read_json(&path)?;
    let icons = iconify_icons(&json, &path)?;
    let chars_path = dir.join("chars.json");
    let chars = if chars_path.is_file() {
        let c = read_json(&chars_path)?;
        c.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((norm_key(k), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        HashMap::new()
    };
    let licence = read_json(&dir.join("info.json")).ok().and_then(|i| {
        i.pointer("/license/spdx")
            .and_then(|s| s.as_str())
            .map(str::to_owned)
    });
    Ok(IconifySet {
        icons,
        chars,
        licence,
    })
}

/// The icons of an Iconify set's JSON (`icons.json` of an `@iconify-json/*` package, or
/// `json/<prefix>.json` of `@iconify/json`), aliases resolved with their flips and rotations;
/// `path` names the file in errors.
pub(crate) fn iconify_icons(
    json: &serde_json::Value,
    path: &Path,
) -> Result<HashMap<String, IconifyIcon>, DataError> {
    let num = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_f64());
    let set_w = num(json, "width").unwrap_or(16.0);
    let set_h = num(json, "height").unwrap_or(16.0);
    let set_l = num(json, "left").unwrap_or(0.0);
    let set_t = num(json, "top").unwrap_or(0.0);
    let raw = json
        .get("icons")
        .and_then(|i| i.as_object())
        .ok_or_else(|| DataError::Format {
            path: path.display().to_string(),
            detail: "no `icons` object".to_owned(),
        })?;
    let mut icons = HashMap::with_capacity(raw.len());
    for (name, v) in raw {
        let Some(body) = field_str(v, "body") else {
            return Err(DataError::Format {
                path: path.display().to_string(),
                detail: format!("icon {name:?} has no `body`"),
            });
        };
        icons.insert(
            name.clone(),
            IconifyIcon {
                body: body.to_owned(),
                left: num(v, "left").unwrap_or(set_l),
                top: num(v, "top").unwrap_or(set_t),
                width: num(v, "width").unwrap_or(set_w),
                height: num(v, "height").unwrap_or(set_h),
                rotate: v.get("rotate").and_then(|r| r.as_i64()).unwrap_or(0),
                h_flip: v.get("hFlip").and_then(|r| r.as_bool()).unwrap_or(false),
                v_flip: v.get("vFlip").and_then(|r| r.as_bool()).unwrap_or(false),
                hidden: v.get("hidden").and_then(|r| r.as_bool()).unwrap_or(false),
            },
        );
    }
    // Aliases: a parent (icon or alias) plus flips/rotation; resolve chains up to 16 deep.
    if let Some(aliases) = json.get("aliases").and_then(|a| a.as_object()) {
        for name in aliases.keys() {
            let mut chain = Vec::new();
            let mut cur = name.as_str();
            let mut resolved = None;
            for _ in 0..16 {
                if let Some(icon) = icons.get(cur) {
                    resolved = Some(icon.clone());
                    break;
                }
                let Some(alias) = aliases.get(cur) else { break };
                chain.push(alias);
                let Some(parent) = field_str(alias, "parent") else {
                    break;
                };
                cur = parent;
            }
            let Some(mut icon) = resolved else { continue };
            icon.hidden = aliases[name]
                .get("hidden")
                .and_then(|r| r.as_bool())
                .unwrap_or(false);
            for alias in chain.iter().rev() {
                if let Some(w) = num(alias, "width") {
                    icon.width = w;
                }
                if let Some(h) = num(alias, "height") {
                    icon.height = h;
                }
                icon.rotate += alias.get("rotate").and_then(|r| r.as_i64()).unwrap_or(0);
                icon.h_flip ^= alias
                    .get("hFlip")
                    .and_then(|r| r.as_bool())
                    .unwrap_or(false);
                icon.v_flip ^= alias
                    .get("vFlip")
                    .and_then(|r| r.as_bool())
                    .unwrap_or(false);
            }
            icons.insert(name.clone(), icon);
        }
    }
    Ok(icons)
}

/// Finds each concept's image in one style; returns concept index -> source.
pub(super) fn join_style(
    def: &StyleDef,
    dir: &Path,
    concepts: &[Concept],
    size: u32,
) -> Result<(HashMap<usize, ImageSource>, Option<String>), DataError> {
    let mut found = HashMap::new();
    match def.kind {
        Kind::Iconify => {
            let set = load_iconify(dir)?;
            for (i, c) in concepts.iter().enumerate() {
                let by_char = set.chars.get(&c.key).and_then(|n| set.icons.get(n));
                let icon =
                    by_char.or_else(|| slugs(&c.label).iter().find_map(|s| set.icons.get(s)));
                if let Some(icon) = icon {
                    found.insert(i, ImageSource::Svg(icon.document(size)));
                }
            }
            Ok((found, set.licence))
        }
        Kind::Datasource(vendor) => {
            let path = dir.join("emoji.json");
            let json = read_json(&path)?;
            let list = json.as_array().ok_or_else(|| DataError::Format {
                path: path.display().to_string(),
                detail: "expected a JSON array".to_owned(),
            })?;
            let flag = format!("has_img_{vendor}");
            let mut by_key = HashMap::new();
            for e in list {
                let has = e.get(&flag).and_then(|f| f.as_bool()).unwrap_or(true);
                if let (Some(unified), Some(image), true) =
                    (field_str(e, "unified"), field_str(e, "image"), has)
                {
                    by_key.insert(norm_key(unified), image.to_owned());
                }
            }
            let img_dir = dir.join("img").join(vendor).join("64");
            for (i, c) in concepts.iter().enumerate() {
                if let Some(image) = by_key.get(&c.key) {
                    let p = img_dir.join(image);
                    if p.is_file() {
                        found.insert(i, ImageSource::File(p));
                    }
                }
            }
            Ok((found, None))
        }
        Kind::LobeWebp => {
            let assets = dir.join("assets");
            let entries = std::fs::read_dir(&assets).map_err(|e| DataError::io(&assets, &e))?;
            let mut by_key = HashMap::new();
            for entry in entries.flatten() {
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "webp")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    by_key.insert(norm_key(stem), p.clone());
                }
            }
            for (i, c) in concepts.iter().enumerate() {
                if let Some(p) = by_key.get(&c.key) {
                    found.insert(i, ImageSource::File(p.clone()));
                }
            }
            Ok((found, None))
        }
    }
}

pub(super) fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

/// Varied captions of a concept (the same list for every style; tags drawn with `seed`).
pub(super) fn captions(c: &Concept, seed: u64) -> Vec<String> {
    let label = c.label.as_str();
    let a = article(label);
    let mut tags: Vec<&str> = c
        .tags
        .iter()
        .map(String::as_str)
        .filter(|t| *t != label)
        .collect();
    tags.sort_by_key(|t| stable_hash(seed, &format!("tag:{}:{t}", c.key)));
    let some = |n: usize| tags.iter().take(n).copied().collect::<Vec<_>>().join(", ");
    let mut out = vec![
        format!("an emoji of {a} {label}"),
        format!("{a} {label} emoji"),
        label.to_owned(),
        format!("{label} ({})", c.subgroup),
        format!("a picture of {a} {label}, {}", c.group),
        format!("the {label} emoji from the {} category", c.group),
        format!("a small icon showing {a} {label}"),
    ];
    if !tags.is_empty() {
        out.push(format!("{label}, {}", some(3)));
        out.push(format!("{label}, {} — {}", some(2), c.group));
        out.push(format!("emoji: {label}. tags: {}", some(5)));
        out.push(format!("{} {label}", some(1)));
    }
    out
}
