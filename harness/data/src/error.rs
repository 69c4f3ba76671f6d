//! The crate's error type: every fallible call returns a `DataError` that names the offending
//! value and the values that would have been accepted.

/// Errors from building data sources, tokenizing text and encoding images.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// The requested image side length is outside the supported range.
    #[error("image_size {value} is out of range: valid sizes are {min}..={max} pixels")]
    InvalidImageSize {
        value: usize,
        min: usize,
        max: usize,
    },

    /// An option (a scene's difficulty knob, a preparation or benchmark setting) has a value
    /// outside its range.
    #[error("option `{name}` = {value} is invalid: valid values are {valid}")]
    InvalidOption {
        name: &'static str,
        value: String,
        valid: &'static str,
    },

    /// The token context cannot hold the start and end tokens.
    #[error(
        "context_length {value} is too short: it must be at least {min} (start and end tokens)"
    )]
    ContextTooShort { value: usize, min: usize },

    /// A vocabulary entry would not survive tokenization as a single token.
    #[error("vocabulary word {word:?} is invalid: {reason}")]
    InvalidWord { word: String, reason: String },

    /// An image buffer does not have the length its dimensions require.
    #[error(
        "image buffer holds {actual} values but a {width}x{height} image with {channels} channels needs {expected}"
    )]
    BufferSize {
        expected: usize,
        actual: usize,
        width: usize,
        height: usize,
        channels: usize,
    },

    /// Image dimensions that cannot be encoded.
    #[error("image dimensions {width}x{height} are invalid: width and height must be 1..={max}")]
    InvalidDimensions {
        width: usize,
        height: usize,
        max: usize,
    },

    /// A file or folder could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },

    /// A file's content is not what was expected (a bad line, field or value).
    #[error("{path}: {detail}")]
    Format { path: String, detail: String },

    /// A data set's files are missing; `install` says how to get them.
    #[error("{path} not found: {install}")]
    MissingData { path: String, install: String },

    /// An external command (such as `npm pack`) failed.
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },

    /// A shard pattern that cannot be expanded (empty, unbalanced braces, a bad range).
    #[error("shard pattern {pattern:?} is invalid: {reason}")]
    ShardPattern { pattern: String, reason: String },

    /// None of the shards named by a pattern could be read.
    #[error("no readable shard in {pattern:?}: {problems}")]
    NoReadableShards { pattern: String, problems: String },

    /// A data source holds no usable image-text pair (all missing, skipped or undecodable).
    #[error("{source_name} has no usable image-text pair: {detail}")]
    NoUsableSamples { source_name: String, detail: String },

    /// A CSV file lacks a required column.
    #[error("{path}: no column {column:?}; the header has {available}")]
    MissingColumn {
        path: String,
        column: String,
        available: String,
    },

    /// An image that could not be decoded (`what` names the file or tar member).
    #[error("{what}: cannot decode the image: {detail}")]
    Image { what: String, detail: String },

    /// A curation (`clipscale data curate`, the `curation` setting) that cannot be used: an
    /// unknown operator or parameter, a bad value, or a subset that no longer matches its pool.
    #[error("curation {spec:?}: {detail}")]
    Curation { spec: String, detail: String },

    /// The background threads of a sample stream stopped unexpectedly.
    #[error("sample stream over {source_name} stopped: {detail}")]
    StreamClosed { source_name: String, detail: String },
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, err: &std::io::Error) -> Self {
        DataError::Io {
            path: path.as_ref().display().to_string(),
            message: err.to_string(),
        }
    }
}
