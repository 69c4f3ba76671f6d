//! Where the pool's candidate pairs come from: the Iconify collections (every visible icon and
//! alias of every allowed set, captioned from its name in one of a few phrasings) and
//! OpenClipArt (every regular SVG file, captioned from its `dc:title`). Pairs whose caption
//! names a held-out emoji concept are left out here, before anything is rendered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::decontam::{EmojiHoldout, names_concept, prefixes_of_style};
use super::prepare::PreparePoolArgs;
use crate::error::DataError;
use crate::prepare::emoji::{IconifyIcon, iconify_icons};
use crate::prepare::{read_json, stable_hash};

/// What to draw for one candidate pair.
pub(super) enum Drawing {
    Icon(IconifyIcon),
    File(PathBuf),
}

/// One candidate pair before rendering.
pub(super) struct Candidate {
    pub(super) source: &'static str,
    pub(super) set: String,
    pub(super) set_name: String,
    pub(super) licence: String,
    pub(super) name: String,
    pub(super) caption: String,
    pub(super) category: String,
    pub(super) tags: Vec<String>,
    pub(super) drawing: Drawing,
}

/// A licence allowed by default: none with a non-commercial or no-derivatives clause.
pub(super) fn default_licence_ok(spdx: &str) -> bool {
    let upper = spdx.to_ascii_uppercase();
    !upper.split('-').any(|part| part == "NC" || part == "ND")
}

/// A caption for an icon named `words`, phrased by the seed and the set.
pub(super) fn icon_caption(
    words: &str,
    set_name: &str,
    category: Option<&str>,
    pick: u64,
) -> String {
    match (pick % 6, category) {
        (0, _) => words.to_owned(),
        (1, _) => format!("{words} icon"),
        (2, _) => format!("{words} {}", set_name.to_lowercase()),
        (3, Some(cat)) => format!("{} {words}", cat.to_lowercase()),
        (3, None) => format!("{words} symbol"),
        (4, _) => format!("icon of {words}"),
        _ => format!("{words} vector"),
    }
}

pub(super) fn iconify_candidates(
    dir: &Path,
    args: &PreparePoolArgs,
    holdout: &EmojiHoldout,
    excluded: &mut BTreeMap<String, String>,
    credits: &mut BTreeMap<String, serde_json::Value>,
    counts: &mut BTreeMap<&'static str, usize>,
) -> Result<Vec<Candidate>, DataError> {
    let collections_path = dir.join("collections.json");
    let collections = read_json(&collections_path)?;
    let sets = collections.as_object().ok_or_else(|| DataError::Format {
        path: collections_path.display().to_string(),
        detail: "not an object of icon sets".into(),
    })?;
    let held_prefixes: BTreeSet<String> = holdout
        .styles
        .iter()
        .flat_map(|s| prefixes_of_style(s))
        .collect();
    let wanted: BTreeSet<&str> = args.sets.iter().map(String::as_str).collect();
    for w in &wanted {
        if !sets.contains_key(*w) {
            return Err(DataError::InvalidOption {
                name: "sets",
                value: (*w).to_owned(),
                valid: "prefixes of @iconify/json's collections.json (e.g. mdi, tabler, noto)",
            });
        }
    }
    let mut out = Vec::new();
    let mut prefixes: Vec<&String> = sets.keys().collect();
    prefixes.sort();
    for prefix in prefixes {
        let info = &sets[prefix.as_str()];
        let licence = info
            .pointer("/license/spdx")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let why_not = if !wanted.is_empty() && !wanted.contains(prefix.as_str()) {
            None // not asked for: not an exclusion worth recording
        } else if prefix.starts_with("fluent-emoji") {
            Some("held-out emoji style (every fluent-emoji set, by construction)".to_owned())
        } else if held_prefixes.contains(prefix.as_str()) {
            Some("draws an emoji style the emoji folder holds out".to_owned())
        } else if licence.is_empty() {
            Some("no licence recorded".to_owned())
        } else if (args.licences.is_empty() && !default_licence_ok(&licence))
            || (!args.licences.is_empty() && !args.licences.contains(&licence))
        {
            Some(format!("licence {licence} not allowed"))
        } else {
            Some(String::new())
        };
        match why_not {
            None => continue,
            Some(reason) if !reason.is_empty() => {
                excluded.insert(prefix.clone(), reason);
                continue;
            }
            Some(_) => {}
        }
        let set_name = info
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or(prefix)
            .to_owned();
        let is_emoji = info.get("category").and_then(|v| v.as_str()) == Some("Emoji");
        credits.insert(
            prefix.clone(),
            serde_json::json!({
                "name": set_name,
                "licence": licence,
                "author": info.pointer("/author/name"),
                "url": info.pointer("/author/url"),
                "source": if is_emoji { "emoji" } else { "iconify" },
            }),
        );
        let path = dir.join("json").join(format!("{prefix}.json"));
        let json = read_json(&path)?;
        let icons = iconify_icons(&json, &path)?;
        let mut category_of: HashMap<&str, &str> = HashMap::new();
        if let Some(cats) = json.get("categories").and_then(|c| c.as_object()) {
            for (cat, names) in cats {
                for n in names.as_array().into_iter().flatten() {
                    if let Some(n) = n.as_str() {
                        category_of.entry(n).or_insert(cat.as_str());
                    }
                }
            }
        }
        let mut names: Vec<&String> = icons
            .iter()
            .filter(|(_, i)| !i.hidden)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        if let Some(max) = args.max_per_set {
            names.truncate(max);
        }
        for name in names {
            let words = name.replace(['-', '_'], " ");
            let category = category_of.get(name.as_str()).copied();
            let pick = stable_hash(args.seed, &format!("{prefix}:{name}"));
            let caption = icon_caption(&words, &set_name, category, pick);
            if names_concept(&caption, &holdout.concepts).is_some() {
                *counts.entry("heldout_concept_caption").or_default() += 1;
                continue;
            }
            let mut tags = vec![set_name.clone()];
            tags.extend(category.map(str::to_owned));
            out.push(Candidate {
                source: if is_emoji { "emoji" } else { "iconify" },
                set: prefix.clone(),
                set_name: set_name.clone(),
                licence: licence.clone(),
                name: name.clone(),
                caption,
                category: category.unwrap_or_default().to_owned(),
                tags,
                drawing: Drawing::Icon(icons[name].clone()),
            });
        }
    }
    Ok(out)
}

/// The text of the first `<tag>...</tag>` in `doc` at or after `from`.
pub(super) fn element_text<'a>(doc: &'a str, tag: &str, from: usize) -> Option<(&'a str, usize)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = doc[from..].find(&open)? + from + open.len();
    let end = doc[start..].find(&close)? + start;
    Some((doc[start..end].trim(), end + close.len()))
}

pub(super) fn openclipart_candidates(
    dir: &Path,
    args: &PreparePoolArgs,
    holdout: &EmojiHoldout,
    out: &mut Vec<Candidate>,
    counts: &mut BTreeMap<&'static str, usize>,
) -> Result<(), DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingData {
            path: dir.display().to_string(),
            install: "install Debian's openclipart-svg (`apt-get install openclipart-svg`), name its folder with --openclipart, or leave it out with --openclipart none".into(),
        });
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| DataError::io(&d, &e))?;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "svg") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut per_category: BTreeMap<String, usize> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let category = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|_| rel.components().count() > 1)
            .unwrap_or_else(|| "other".into());
        if let Some(max) = args.max_per_set {
            let n = per_category.entry(category.clone()).or_default();
            if *n >= max {
                continue;
            }
            *n += 1;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = element_text(&text, "dc:title", 0)
            .map(|(t, _)| t.to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| stem.replace(['_', '-'], " "));
        let mut tags = Vec::new();
        if let Some(subject) = text.find("<dc:subject>") {
            let mut at = subject;
            while let Some((t, next)) = element_text(&text, "rdf:li", at) {
                if text[at..next].contains("</dc:subject>") {
                    break;
                }
                if !t.is_empty() && t != "unsorted" {
                    tags.push(t.to_owned());
                }
                at = next;
            }
        }
        let caption = match (stable_hash(args.seed, &stem) % 3, tags.first()) {
            (1, _) => format!("{title} clip art"),
            (2, Some(tag)) => format!("{title} {tag}"),
            _ => title.clone(),
        };
        if names_concept(&caption, &holdout.concepts).is_some() {
            *counts.entry("heldout_concept_caption").or_default() += 1;
            continue;
        }
        tags.push(category.clone());
        out.push(Candidate {
            source: "openclipart",
            set: category.clone(),
            set_name: "OpenClipArt".into(),
            licence: "public-domain".into(),
            name: stem,
            caption,
            category,
            tags,
            drawing: Drawing::File(path),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_with_nc_or_nd_clauses_are_refused_by_default() {
        assert!(default_licence_ok("MIT"));
        assert!(default_licence_ok("CC-BY-SA-4.0"));
        assert!(!default_licence_ok("CC-BY-NC-4.0"));
        assert!(!default_licence_ok("CC-BY-NC-SA-4.0"));
        assert!(!default_licence_ok("CC-BY-ND-4.0"));
    }
}
