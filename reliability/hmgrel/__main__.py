"""`python -m hmgrel <scenario>... [--quick]`: runs scenarios in order, exits 1 when any expectation fails.
reliability/run.sh is the entry point people and CI use (it prepares the virtualenv and the binaries)."""
from __future__ import annotations

import argparse
import sys
import traceback

from .stack import StackError, pin_driver

SCENARIOS = ["rolling", "rolling-inplace", "crash", "postgres", "redis", "hostile", "abuse", "scale"]
FAST = ["rolling", "crash", "postgres", "redis", "hostile", "abuse"]


def run_one(name: str, quick: bool):
    if name in ("rolling", "rolling-inplace"):
        from .scenarios import rolling
        return rolling.run(quick, "surge" if name == "rolling" else "inplace")
    if name == "crash":
        from .scenarios import crash
        return crash.run(quick)
    if name == "postgres":
        from .scenarios import postgres
        return postgres.run(quick)
    if name == "redis":
        from .scenarios import redis_outage
        return redis_outage.run(quick)
    if name == "hostile":
        from .scenarios import hostile
        return hostile.run(quick)
    if name == "abuse":
        from .scenarios import abuse
        return abuse.run(quick)
    if name == "scale":
        from .scenarios import scale
        return scale.run(quick)
    raise SystemExit(f"unknown scenario '{name}' (one of {', '.join(SCENARIOS)}, fast, all)")


def main() -> int:
    ap = argparse.ArgumentParser(prog="reliability/run.sh", description=__doc__)
    ap.add_argument("scenarios", nargs="+", help=f"{', '.join(SCENARIOS)}, fast (CI's set) or all")
    ap.add_argument("--quick", action="store_true", help="short phases (CI)")
    args = ap.parse_args()
    names: list[str] = []
    for s in args.scenarios:
        names += FAST if s == "fast" else [n for n in SCENARIOS if n != "scale"] + ["scale"] if s == "all" else [s]
    for n in names:
        if n not in SCENARIOS:
            ap.error(f"unknown scenario '{n}' (one of {', '.join(SCENARIOS)}, fast, all)")
    pin_driver()
    results = {}
    for n in names:
        print(f"== {n}", flush=True)
        try:
            results[n] = run_one(n, args.quick).finish()
        except StackError as e:
            print(f"== {n}: FAILED to set up: {e}", flush=True)
            results[n] = False
        except Exception:
            traceback.print_exc()
            print(f"== {n}: FAILED with an exception", flush=True)
            results[n] = False
    print("== summary: " + ", ".join(f"{n} {'passed' if ok else 'FAILED'}" for n, ok in results.items()), flush=True)
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
