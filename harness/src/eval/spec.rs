//! Evaluation sets by name, as `clipscale eval --dataset` and the `eval_sets` setting give
//! them: `NAME` or `NAME=ARGUMENT`.

use std::path::PathBuf;

use super::sets::EMOJI_SETS;

/// An evaluation set named on the command line: `NAME` or `NAME=ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalSetSpec {
    /// The synthetic scenes' held-out attribute combinations.
    SyntheticHeldout,
    /// `emoji-heldout-style` or `emoji-heldout-concept`, of the trial's emoji folder (for a
    /// pool, the one it was decontaminated against) or `DIR`.
    Emoji {
        name: &'static str,
        dir: Option<PathBuf>,
    },
    /// `emoji-heldout-style-subgroup`: the held-out styles by subgroup, of the trial's emoji
    /// folder (for a pool, the one it was decontaminated against) or `DIR`.
    EmojiSubgroup { dir: Option<PathBuf> },
    /// `fashion-mnist=DIR`: the folder of `clipscale data prepare fashion-mnist`.
    FashionMnist { dir: PathBuf },
    /// `classification=DIR:SPLIT`: any prepared classification folder.
    Classification { dir: PathBuf, split: String },
    /// `imagefolder=DIR`: an ImageFolder tree.
    ImageFolder { dir: PathBuf },
    /// `tuxpaint=DIR`: image-text retrieval on the folder of `clipscale data prepare tuxpaint`.
    Tuxpaint { dir: PathBuf },
    /// `wds-retrieval=PATTERN`: image-text retrieval on any shards.
    WdsRetrieval { pattern: String },
}

/// Why an evaluation set name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalSetError {
    #[error("unknown evaluation set `{0}`; known: {known}", known = EvalSetSpec::KNOWN)]
    Unknown(String),
    #[error("evaluation set `{name}` needs an argument: {expected}")]
    MissingArgument {
        name: String,
        expected: &'static str,
    },
}

impl EvalSetSpec {
    /// Every evaluation set, for messages.
    pub const KNOWN: &'static str = "synthetic-heldout, emoji-heldout-style, emoji-heldout-concept, emoji-heldout-style-subgroup, fashion-mnist=DIR, classification=DIR:SPLIT, imagefolder=DIR, tuxpaint=DIR, wds-retrieval=PATTERN";
}

impl std::str::FromStr for EvalSetSpec {
    type Err = EvalSetError;

    fn from_str(s: &str) -> Result<Self, EvalSetError> {
        let (name, arg) = s.split_once('=').map_or((s, None), |(n, a)| (n, Some(a)));
        let need = |expected: &'static str| {
            arg.map(String::from).ok_or(EvalSetError::MissingArgument {
                name: name.to_string(),
                expected,
            })
        };
        Ok(match name {
            "synthetic-heldout" => EvalSetSpec::SyntheticHeldout,
            "emoji-heldout-style" | "emoji-heldout-concept" => EvalSetSpec::Emoji {
                name: EMOJI_SETS
                    .iter()
                    .map(|(_, n)| *n)
                    .find(|n| *n == name)
                    .unwrap_or("emoji-heldout-style"),
                dir: arg.map(PathBuf::from),
            },
            "emoji-heldout-style-subgroup" => EvalSetSpec::EmojiSubgroup {
                dir: arg.map(PathBuf::from),
            },
            "fashion-mnist" => EvalSetSpec::FashionMnist {
                dir: need("DIR, the folder of `clipscale data prepare fashion-mnist`")?.into(),
            },
            "classification" => {
                let arg = need("DIR:SPLIT, a prepared folder and its split")?;
                let (dir, split) = arg.rsplit_once(':').unwrap_or((&arg, "test"));
                EvalSetSpec::Classification {
                    dir: dir.into(),
                    split: split.into(),
                }
            }
            "imagefolder" => EvalSetSpec::ImageFolder {
                dir: need("DIR, an ImageFolder tree DIR/<class>/<image>")?.into(),
            },
            "tuxpaint" => EvalSetSpec::Tuxpaint {
                dir: need("DIR, the folder of `clipscale data prepare tuxpaint`")?.into(),
            },
            "wds-retrieval" => EvalSetSpec::WdsRetrieval {
                pattern: need("PATTERN, a shard pattern")?,
            },
            other => return Err(EvalSetError::Unknown(other.to_string())),
        })
    }
}
