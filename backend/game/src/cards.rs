//! The 30 emoji faces and their 21 categories.

/// One card face. `key` is a stable identifier used only on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Face {
    pub key: &'static str,
    pub emoji: &'static str,
    pub name: &'static str,
    pub category: &'static str,
}

const fn face(
    key: &'static str,
    emoji: &'static str,
    name: &'static str,
    category: &'static str,
) -> Face {
    Face {
        key,
        emoji,
        name,
        category,
    }
}

pub const FACES: [Face; 30] = [
    face("laughing", "😂", "Crying Laugh", "classic"),
    face("wink", "😉", "Winking Face", "classic"),
    face("cool", "😎", "Cool Dude", "classic"),
    face("heart_eyes", "😍", "Heart Eyes", "love"),
    face("thinking", "🤔", "Thinking Face", "thoughtful"),
    face("upside_down", "🙃", "Upside Down", "silly"),
    face("rolling_eyes", "🙄", "Eye Roll", "sassy"),
    face("zany", "🤪", "Zany Face", "silly"),
    face("robot", "🤖", "Robot Face", "tech"),
    face("ghost", "👻", "Friendly Ghost", "spooky"),
    face("alien", "👽", "Alien Friend", "space"),
    face("unicorn", "🦄", "Magical Unicorn", "fantasy"),
    face("pizza", "🍕", "Pizza Slice", "food"),
    face("taco", "🌮", "Taco Tuesday", "food"),
    face("donut", "🍩", "Donut Delight", "food"),
    face("rainbow", "🌈", "Rainbow Magic", "nature"),
    face("rocket", "🚀", "Blast Off", "space"),
    face("guitar", "🎸", "Rock Star", "music"),
    face("sunglasses", "🕶️", "Shades", "cool"),
    face("party", "🎉", "Party Time", "celebration"),
    face("detective", "🕵️", "Detective", "mystery"),
    face("ninja", "🥷", "Stealth Ninja", "action"),
    face("pirate", "🏴‍☠️", "Pirate Flag", "adventure"),
    face("fire", "🔥", "On Fire", "hot"),
    face("lightning", "⚡", "Lightning Bolt", "energy"),
    face("star", "⭐", "Superstar", "space"),
    face("diamond", "💎", "Precious Diamond", "luxury"),
    face("crown", "👑", "Royal Crown", "luxury"),
    face("trophy", "🏆", "Victory Trophy", "achievement"),
    face("magic_wand", "🪄", "Magic Wand", "fantasy"),
];

/// The 21 categories, in the order they first appear in [`FACES`].
pub const CATEGORIES: [&str; 21] = [
    "classic",
    "love",
    "thoughtful",
    "silly",
    "sassy",
    "tech",
    "spooky",
    "space",
    "fantasy",
    "food",
    "nature",
    "music",
    "cool",
    "celebration",
    "mystery",
    "action",
    "adventure",
    "hot",
    "energy",
    "luxury",
    "achievement",
];

pub fn is_category(name: &str) -> bool {
    CATEGORIES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn faces_are_unique_and_categorised() {
        let keys: HashSet<_> = FACES.iter().map(|f| f.key).collect();
        let emoji: HashSet<_> = FACES.iter().map(|f| f.emoji).collect();
        assert_eq!(keys.len(), 30);
        assert_eq!(emoji.len(), 30);
        for f in FACES {
            assert!(is_category(f.category), "{} has unknown category", f.key);
        }
    }

    #[test]
    fn every_category_has_a_face() {
        let used: HashSet<_> = FACES.iter().map(|f| f.category).collect();
        assert_eq!(used.len(), CATEGORIES.len());
    }
}
