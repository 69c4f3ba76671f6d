//! The subcommands' bodies (binary only: they use anyhow and print for people).

pub mod analyse;
pub mod bench;
pub mod bench_train;
pub mod data;
pub mod demo;
pub mod devices;
pub mod eval;
pub mod export;
pub mod gpu_check;
pub mod models;
pub mod slurm;
pub mod sweep;
pub mod train;
