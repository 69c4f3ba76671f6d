//! The small pieces that the other clipscale crates share, each written once: the seeded
//! generators and the stable hash whose outputs fix trial ids, data order, weights and bootstrap
//! replicates ([`rng`]), atomic file writes ([`fs`]) and the repository root ([`repo`]).
//!
//! It depends on `std` only, so that `clipscale-analysis` and `clipscale-data` (neither of which
//! may depend on the other or on burn) can both use it.

pub mod fs;
pub mod repo;
pub mod rng;
