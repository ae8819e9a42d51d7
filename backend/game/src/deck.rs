//! Dealing: which faces are on the table and where, and the opaque card ids.

use crate::cards::FACES;
use crate::difficulty::Difficulty;
use rand::seq::SliceRandom;
use rand::Rng;

/// Face indexes into [`FACES`] for each position of the grid (row-major); every face appears twice.
pub type Layout = Vec<u8>;

/// The faces a category filter allows; when it allows fewer than `pairs`, every face.
/// An empty filter means "any".
pub fn eligible_faces(categories: &[String], pairs: usize) -> Vec<u8> {
    let all: Vec<u8> = (0..FACES.len() as u8).collect();
    if categories.is_empty() {
        return all;
    }
    let chosen: Vec<u8> = all
        .iter()
        .copied()
        .filter(|&i| categories.iter().any(|c| c == FACES[i as usize].category))
        .collect();
    if chosen.len() < pairs {
        all
    } else {
        chosen
    }
}

/// Deals a shuffled layout for `difficulty` from the faces `categories` allows.
pub fn deal<R: Rng + ?Sized>(difficulty: Difficulty, categories: &[String], rng: &mut R) -> Layout {
    let pairs = difficulty.rules().pairs;
    let mut pool = eligible_faces(categories, pairs);
    pool.shuffle(rng);
    pool.truncate(pairs);
    let mut layout: Layout = pool.iter().flat_map(|&f| [f, f]).collect();
    layout.shuffle(rng);
    layout
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const CARD_ID_LEN: usize = 12;

/// `count` distinct random card ids (12 base-62 characters, about 71 bits each). They carry no
/// information about faces, pairs or positions.
pub fn card_ids<R: Rng + ?Sized>(count: usize, rng: &mut R) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(count);
    while ids.len() < count {
        let id: String = (0..CARD_ID_LEN)
            .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
            .collect();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Whether `s` has the shape of a card id (used to validate input before any lookup).
pub fn is_card_id(s: &str) -> bool {
    s.len() == CARD_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    fn categories_strategy() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(
            proptest::sample::select(crate::cards::CATEGORIES.to_vec()),
            0..6,
        )
        .prop_map(|v| v.into_iter().map(String::from).collect())
    }

    proptest! {
        #[test]
        fn every_deal_is_a_permutation_of_distinct_pairs(seed: u64, d in 0usize..4, cats in categories_strategy()) {
            let difficulty = Difficulty::ALL[d];
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let layout = deal(difficulty, &cats, &mut rng);
            let r = difficulty.rules();
            prop_assert_eq!(layout.len(), r.columns * r.rows);
            let mut counts: HashMap<u8, usize> = HashMap::new();
            for f in &layout { *counts.entry(*f).or_default() += 1; }
            prop_assert_eq!(counts.len(), r.pairs);
            prop_assert!(counts.values().all(|&c| c == 2));
        }

        #[test]
        fn card_ids_are_distinct_and_well_formed(seed: u64, n in 1usize..40) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let ids = card_ids(n, &mut rng);
            let mut sorted = ids.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), n);
            prop_assert!(ids.iter().all(|id| is_card_id(id)));
        }
    }

    #[test]
    fn a_filter_with_enough_faces_is_honoured() {
        let cats = vec![
            "classic".to_string(),
            "silly".into(),
            "space".into(),
            "food".into(),
            "luxury".into(),
            "fantasy".into(),
        ];
        let faces = eligible_faces(&cats, 8);
        assert_eq!(faces.len(), 15);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for f in deal(Difficulty::Easy, &cats, &mut rng) {
            assert!(cats.iter().any(|c| c == FACES[f as usize].category));
        }
    }

    #[test]
    fn a_filter_with_too_few_faces_falls_back_to_all() {
        assert_eq!(eligible_faces(&["food".to_string()], 8).len(), 30);
        assert_eq!(eligible_faces(&[], 8).len(), 30);
    }
}
