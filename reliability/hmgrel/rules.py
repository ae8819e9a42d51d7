"""The game's scoring rules as docs/api.md states them, written here from the document (not from the server's
code), so the scenarios check every score against an independent reading of the contract."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    pairs: int
    points: int
    pair_bonus: int
    window_ms: int
    limit_ms: int

    @property
    def base(self) -> int:
        return self.pairs * self.points

    @property
    def speed_bonus(self) -> int:
        return self.base * 3 // 2  # 150% of the base, rounded down


RULES = {
    "easy": Rules(8, 10, 5, 10_000, 300_000),
    "medium": Rules(10, 15, 8, 8_000, 480_000),
    "hard": Rules(12, 20, 12, 6_000, 600_000),
    "expert": Rules(15, 25, 15, 5_000, 900_000),
}
HONEST_MAXIMUM = {"easy": 314, "medium": 535, "hard": 824, "expert": 1242}
PERFECT_BONUS = 50
STREAK_PER_PAIR, STREAK_MIN_RUN, STREAK_CAP = 3, 3, 30


def streak_bonus(outcomes: list[bool]) -> int:
    """3 points per pair in every run of >= 3 successive hits (the run in progress counts), capped at 30."""
    total, run = 0, 0
    for hit in outcomes + [False]:
        if hit:
            run += 1
        else:
            if run >= STREAK_MIN_RUN:
                total += STREAK_PER_PAIR * run
            run = 0
    return min(total, STREAK_CAP)


def penalties(outcomes: list[bool]) -> int:
    return 2 * max(0, outcomes.count(False) - 2)


def running_score(rules: Rules, outcomes: list[bool], pair_bonuses: int) -> int:
    """The score a player sees after these moves (no completion bonuses), never below 0."""
    hits = outcomes.count(True)
    return max(0, hits * rules.points + pair_bonuses + streak_bonus(outcomes) - penalties(outcomes))


def final_breakdown(rules: Rules, outcomes: list[bool], pair_bonuses: int, fast_game: bool) -> dict:
    misses = outcomes.count(False)
    b = {
        "baseScore": outcomes.count(True) * rules.points,
        "pairBonus": pair_bonuses,
        "speedBonus": rules.speed_bonus if fast_game else 0,
        "perfectGameBonus": PERFECT_BONUS if misses == 0 else 0,
        "streakBonus": streak_bonus(outcomes),
        "penalties": penalties(outcomes),
    }
    b["finalScore"] = max(0, sum(v for k, v in b.items() if k != "penalties") - b["penalties"])
    return b


def honest_maximum(difficulty: str) -> int:
    r = RULES[difficulty]
    return final_breakdown(r, [True] * r.pairs, r.pairs * r.pair_bonus, True)["finalScore"]


def judge(lower_ms: float, upper_ms: float, limit_ms: int) -> bool | None:
    """Whether a server-side interval known only to lie in [lower, upper] is within `limit`: True, False, or
    None when the client's clock cannot tell (the request times straddle the limit)."""
    if upper_ms <= limit_ms:
        return True
    if lower_ms > limit_ms:
        return False
    return None
