//! The model ladder: named model configs read from a TOML file (`sweeps/models.toml`, built into
//! the binary so a fresh clone needs no path), validated on load.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use super::config::{ClipConfig, ConfigError};

/// The repository's `sweeps/models.toml`, compiled in.
pub const BUILTIN_MODELS_TOML: &str = include_str!("../../../sweeps/models.toml");

#[derive(Debug, Error)]
pub enum LadderError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("model file {path}: {source}")]
    Invalid { path: String, source: ConfigError },
    #[error("model file {path}: model `{name}` is defined twice")]
    Duplicate { path: String, name: String },
    #[error("unknown model `{name}`; known models: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderFile {
    model: Vec<ClipConfig>,
}

/// An ordered list of model configs, smallest first as written.
#[derive(Debug, Clone)]
pub struct ModelLadder {
    pub source: String,
    pub models: Vec<ClipConfig>,
}

impl ModelLadder {
    /// The ladder compiled into the binary.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_MODELS_TOML, "sweeps/models.toml (built in)")
            .expect("the built-in sweeps/models.toml is checked by tests")
    }

    /// The built-in ladder, or the file given.
    pub fn load_or_builtin(path: Option<&Path>) -> Result<Self, LadderError> {
        match path {
            Some(p) => Self::load(p),
            None => Ok(Self::builtin()),
        }
    }

    pub fn load(path: &Path) -> Result<Self, LadderError> {
        let text = std::fs::read_to_string(path).map_err(|source| LadderError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<Self, LadderError> {
        let file: LadderFile = toml::from_str(text).map_err(|e| LadderError::Parse {
            path: source.to_string(),
            message: e.to_string(),
        })?;
        let mut seen = std::collections::HashSet::new();
        for m in &file.model {
            m.validate().map_err(|e| LadderError::Invalid {
                path: source.to_string(),
                source: e,
            })?;
            if !seen.insert(m.name.clone()) {
                return Err(LadderError::Duplicate {
                    path: source.to_string(),
                    name: m.name.clone(),
                });
            }
        }
        Ok(Self {
            source: source.to_string(),
            models: file.model,
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Result<&ClipConfig, LadderError> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| LadderError::Unknown {
                name: name.to_string(),
                known: self.names(),
            })
    }
}
