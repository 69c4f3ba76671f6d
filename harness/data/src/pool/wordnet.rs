//! WordNet 3.0 nouns as Debian's `wordnet-base` installs them (`/usr/share/wordnet`): every
//! noun lemma (MetaCLIP's metadata) and the gloss of each lemma's most frequent sense
//! (K-LITE's knowledge).
//!
//! `index.noun` lists each lemma (spaces written `_`) with its synsets' byte offsets in order
//! of sense frequency; `data.noun` holds one synset per line, starting with its offset, its
//! gloss after ` | `. Lines starting with spaces are the licence header.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// Where Debian's `wordnet-base` puts the database.
pub const WORDNET_DIR: &str = "/usr/share/wordnet";
/// Environment variable naming another WordNet folder.
pub const WORDNET_ENV: &str = "CLIPSCALE_WORDNET";

/// The WordNet folder: `$CLIPSCALE_WORDNET`, else Debian's.
pub fn wordnet_dir() -> PathBuf {
    std::env::var_os(WORDNET_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(WORDNET_DIR), PathBuf::from)
}

/// Noun lemmas with the gloss of their first sense.
#[derive(Debug, Clone, Default)]
pub struct Nouns {
    /// Lemma (lowercase, spaces between words) -> gloss of its most frequent sense.
    pub gloss: HashMap<String, String>,
}

fn read(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::MissingData {
            path: path.display().to_string(),
            install: format!(
                "install WordNet (`apt-get install wordnet-base`) or name its folder in ${WORDNET_ENV}"
            ),
        },
        _ => DataError::io(path, &e),
    })
}

impl Nouns {
    /// Reads `index.noun` and `data.noun` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let index_path = dir.join("index.noun");
        let data_path = dir.join("data.noun");
        let index = read(&index_path)?;
        let data = read(&data_path)?;
        let mut glosses: HashMap<&str, &str> = HashMap::new();
        for line in data.lines().filter(|l| !l.starts_with(' ')) {
            let (Some((offset, _)), Some((_, gloss))) =
                (line.split_once(' '), line.split_once(" | "))
            else {
                continue;
            };
            glosses.insert(offset, gloss.trim());
        }
        let mut gloss = HashMap::new();
        for line in index.lines().filter(|l| !l.starts_with(' ')) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offset...
            let (Some(lemma), Some(count)) = (fields.first(), fields.get(2)) else {
                continue;
            };
            let Ok(synsets) = count.parse::<usize>() else {
                continue;
            };
            let Some(first) = fields
                .len()
                .checked_sub(synsets)
                .and_then(|i| fields.get(i))
            else {
                continue;
            };
            if let Some(g) = glosses.get(first) {
                gloss.insert(lemma.replace('_', " ").to_lowercase(), (*g).to_owned());
            }
        }
        if gloss.is_empty() {
            return Err(DataError::Format {
                path: index_path.display().to_string(),
                detail: "no noun with a gloss: is this WordNet's index.noun beside its data.noun?"
                    .into(),
            });
        }
        Ok(Self { gloss })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sense_gives_the_gloss() {
        let dir = std::env::temp_dir().join(format!("clipscale-wn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.noun"),
            "  1 licence header line  \ncat n 2 1 @ 2 1 00000100 00000200  \nhot_dog n 1 1 @ 1 0 00000300  \n",
        )
        .unwrap();
        std::fs::write(
            dir.join("data.noun"),
            "  1 header  \n00000100 05 n 01 cat 0 000 | feline mammal  \n00000200 18 n 01 cat 0 000 | a spiteful woman gossip  \n00000300 13 n 01 hot_dog 0 000 | a frankfurter in a bun  \n",
        )
        .unwrap();
        let nouns = Nouns::load(&dir).unwrap();
        assert_eq!(nouns.gloss["cat"], "feline mammal");
        assert_eq!(nouns.gloss["hot dog"], "a frankfurter in a bun");
        let err = Nouns::load(&dir.join("none")).unwrap_err().to_string();
        assert!(err.contains("wordnet-base"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
