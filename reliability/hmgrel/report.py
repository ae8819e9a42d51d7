"""Expectations, the printed summary and the JSON record of one scenario run."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .stack import ROOT


class Report:
    def __init__(self, scenario: str):
        self.scenario = scenario
        self.checks: list[dict] = []
        self.figures: dict = {}
        self.notes: list[str] = []
        self.t0 = time.monotonic()

    def expect(self, name: str, ok: bool, detail: object = "") -> bool:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})
        print(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail not in ("", None) else ""),
              flush=True)
        return bool(ok)

    def figure(self, name: str, value: object) -> None:
        self.figures[name] = value
        print(f"  {name}: {json.dumps(value) if isinstance(value, (dict, list)) else value}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    @property
    def passed(self) -> bool:
        return all(c["ok"] for c in self.checks) and bool(self.checks)

    def finish(self) -> bool:
        out = Path(os.environ.get("REL_OUT", ROOT / "target" / "reliability" / "results"))
        out.mkdir(parents=True, exist_ok=True)
        record = {"scenario": self.scenario, "passed": self.passed, "seconds": round(time.monotonic() - self.t0, 1),
                  "checks": self.checks, "figures": self.figures, "notes": self.notes,
                  "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (out / f"{self.scenario}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        failed = [c["check"] for c in self.checks if not c["ok"]]
        print(f"== {self.scenario}: {'PASSED' if self.passed else 'FAILED'} in {record['seconds']}s"
              + (f" ({len(failed)} failed: {'; '.join(failed)})" if failed else ""), flush=True)
        return self.passed
