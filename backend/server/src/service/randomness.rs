//! Where the game path's randomness comes from (game ids, the deal, card ids, messages), so a
//! test can fix it with a seed while the server draws from the operating system.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use uuid::Uuid;

/// Hands out an independent generator for each use.
pub trait RandomSource: Send + Sync {
    fn rng(&self) -> StdRng;

    /// A random (version 4) id drawn from this source.
    fn uuid(&self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng().random()).into_uuid()
    }
}

/// Seeded from the thread's OS-seeded generator: what the server uses.
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn rng(&self) -> StdRng {
        StdRng::from_rng(&mut rand::rng())
    }
}

/// Every generator derives from one seed, in order: the same seed and the same calls give the
/// same games.
pub struct SeededRandom(Mutex<StdRng>);

impl SeededRandom {
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl RandomSource for SeededRandom {
    fn rng(&self) -> StdRng {
        // A panic while holding the lock cannot leave the generator half-updated.
        let mut root = self.0.lock().unwrap_or_else(|e| e.into_inner());
        StdRng::from_rng(&mut *root)
    }
}
