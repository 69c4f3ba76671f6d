//! CLIP in burn, as open_clip builds it: config, the shared block, both towers, the model and
//! its loss, host-side initialisation, and the model ladder.

pub mod block;
pub mod clip;
pub mod config;
pub mod dense;
pub mod fused;
pub mod init;
pub mod ladder;
pub mod openclip;
pub mod precision;
pub mod text;
pub mod vision;

pub use clip::{
    Clip, ClipBatch, ClipOutput, LossHead, Objective, contrastive_loss, l2_normalize, sigmoid_loss,
};
pub use config::{ClipConfig, ConfigError, TextConfig, VisionConfig};
pub use ladder::{LadderError, ModelLadder};
pub use precision::{Precision, PrecisionError, autocast};
