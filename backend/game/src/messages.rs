//! Funny messages for hits and misses (our own, in the original's spirit).

use rand::Rng;

pub const HIT: [&str; 18] = [
    "🎉 Twins reunited! Somebody cue the dramatic music! 🎻",
    "🧠 Big brain energy! Your neurons just high-fived. ✋",
    "🍕 That match was cheesier than a pizza. Delicious! 🧀",
    "🚀 Houston, we have a match! 🌕",
    "🦄 Magical! Even the unicorn is impressed. ✨",
    "🎯 Bullseye! Those cards never stood a chance.",
    "🔥 You're on fire! Someone call the fire department. 🚒",
    "🕵️ Case closed, detective. Elementary! 🔍",
    "👑 All hail the memory monarch! 👑",
    "🎸 That match rocks harder than a guitar solo! 🤘",
    "💎 Flawless, like a freshly polished diamond.",
    "🐘 An elephant never forgets, and neither do you! 🐘",
    "🥷 Silent, swift, precise. Ninja-level memory! ⚡",
    "🌈 Somewhere over the rainbow, a pair was found! 🌈",
    "🏆 Gold medal in synchronized card flipping! 🥇",
    "🤖 Beep boop: match confirmed. Human memory: excellent.",
    "😎 Too cool. The cards are fanning themselves.",
    "🎉 Party time! These two were meant to be together. 💞",
];

pub const MISS: [&str; 18] = [
    "🤔 Close! Those two are cousins, not twins. 👯",
    "🙃 Plot twist: they are strangers! Try again.",
    "👻 Boo! Wrong card, but the ghost still likes you.",
    "🌮 Nope. That's a taco where you wanted a donut. 🍩",
    "🙄 The cards are rolling their eyes. Show them who's boss!",
    "🤪 A bold guess! Bold, but wrong.",
    "🐌 Not a match, but every snail reaches the finish line.",
    "🧦 Like socks after laundry day: no pair this time.",
    "👽 Those two come from different planets. 🪐",
    "🎭 A dramatic miss! The audience gasps. Encore?",
    "🕶️ Put your shades on and take another look.",
    "🏴‍☠️ Arr, that be the wrong treasure, matey!",
    "🔮 The crystal ball says: try the other one next time.",
    "😅 Oops! Your memory pressed the snooze button.",
    "🥷 Even ninjas miss sometimes. Very rarely. Like now.",
    "🌧️ A little miss before the rainbow. Keep going! 🌈",
    "🤖 Error 404: pair not found. Rebooting memory...",
    "🎲 The dice were not on your side. Roll again!",
];

pub fn hit<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    HIT[rng.random_range(0..HIT.len())]
}

pub fn miss<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    MISS[rng.random_range(0..MISS.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn there_are_at_least_fifteen_distinct_messages_of_each_kind() {
        assert!(HIT.iter().collect::<HashSet<_>>().len() >= 15);
        assert!(MISS.iter().collect::<HashSet<_>>().len() >= 15);
    }
}
