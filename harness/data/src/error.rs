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

    /// A scene option (difficulty knob) has a value outside its range.
    #[error("scene option `{name}` = {value} is invalid: valid values are {valid}")]
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
}
