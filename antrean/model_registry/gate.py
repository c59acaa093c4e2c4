"""The promotion gate: a candidate model may replace the live one only if it is not worse.

Refused, with every reason listed, when (both evaluated on the same test set):
- a conversation test that passed with the live model fails with the candidate;
- the candidate's LAW `#` parse rate is below 100 % (also for the first model, with nothing live);
- intent macro-F1 drops by more than `ANTREAN_GATE_INTENT_F1_TOLERANCE` (default 0.01);
- entity F1 (micro, exact spans) drops by more than `ANTREAN_GATE_ENTITY_F1_TOLERANCE` (default 0.01);
- any single intent's F1 drops by more than `ANTREAN_GATE_INTENT_F1_DROP` (default 0.10: the test
  set has about six examples per intent, so one message changing sides moves an intent's F1 by
  0.08–0.09; two is a real loss).
An admin may override a refusal with a written reason (`promote(..., override_reason=…)`); the
verdict and the reason are kept with the promotion and in the audit log.

Each reason has a `code` and `facts` besides its English text, so a page can word it in Indonesian."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from antrean.model_registry.evaluation import headline, stories_by_name
from antrean.runtime.settings import ModelSettings


@dataclass(frozen=True)
class GateSettings:
    intent_f1_tolerance: float = 0.01
    entity_f1_tolerance: float = 0.01
    intent_f1_drop: float = 0.10

    @classmethod
    def from_settings(cls, models: ModelSettings) -> GateSettings:
        """From the ANTREAN_GATE_* variables (antrean/runtime/settings.py, checked at start-up)."""
        return cls(models.intent_f1_tolerance, models.entity_f1_tolerance, models.intent_f1_drop)


@dataclass(frozen=True)
class Reason:
    code: str  # story_broken | law_parse_rate | intent_macro_f1 | entity_f1 | intent_f1 | test_set_differs
    text: str
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    candidate: str
    live: str | None
    reasons: tuple[Reason, ...]
    candidate_figures: dict
    live_figures: dict | None

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict:
        return {"passed": self.passed, "candidate": self.candidate, "live": self.live,
                "reasons": [asdict(r) for r in self.reasons], "candidate_figures": self.candidate_figures,
                "live_figures": self.live_figures}

    def summary(self) -> str:
        against = f"live model {self.live}" if self.live else "no live model"
        if self.passed:
            return f"gate: {self.candidate} passes against {against}"
        lines = [f"gate: {self.candidate} refused against {against} ({len(self.reasons)} reasons):"]
        return "\n".join(lines + [f"  - {reason.text}" for reason in self.reasons])


def gate(candidate_id: str, candidate: dict, live_id: str | None, live: dict | None,
         settings: GateSettings | None = None) -> Verdict:
    """Compares two stored evaluations (antrean.model_registry.evaluation); pure."""
    settings = settings or GateSettings()
    reasons: list[Reason] = []
    law = candidate["law"]
    if law["rate"] < 1.0:
        reasons.append(Reason("law_parse_rate", f"LAW # parse rate {law['rate']:.1%} ({law['parsed']} of "
                              f"{law['examples']}) is below 100 %; misread: "
                              + "; ".join(repr(t) for t in law["failures"][:5]),
                              {"rate": law["rate"], "failures": law["failures"]}))
    if live is not None:
        if candidate["test_set"]["fingerprint"] != live["test_set"]["fingerprint"]:
            reasons.append(Reason("test_set_differs", "the two models were evaluated on different test sets; "
                                  "evaluate both again", {}))
        reasons += _broken_stories(candidate, live)
        reasons += _drops(candidate, live, settings)
    return Verdict(candidate_id, live_id, tuple(reasons), headline(candidate),
                   headline(live) if live is not None else None)


def _broken_stories(candidate: dict, live: dict) -> list[Reason]:
    before, after = stories_by_name(live), stories_by_name(candidate)
    reasons = []
    for key, story in sorted(after.items()):
        if not story["passed"] and before.get(key, {}).get("passed"):
            reasons.append(Reason("story_broken", f"conversation test {story['name']!r} ({story['file']}) passed "
                                  f"with the live model and fails: {story['failure']}",
                                  {"story": story["name"], "file": story["file"], "failure": story["failure"]}))
    return reasons


def _drops(candidate: dict, live: dict, settings: GateSettings) -> list[Reason]:
    reasons = []
    for code, label, key, tolerance, variable in (
            ("intent_macro_f1", "intent macro-F1", "macro_f1", settings.intent_f1_tolerance,
             "ANTREAN_GATE_INTENT_F1_TOLERANCE"),
            ("entity_f1", "entity F1", "f1", settings.entity_f1_tolerance, "ANTREAN_GATE_ENTITY_F1_TOLERANCE")):
        part = "intent" if code.startswith("intent") else "entity"
        new, old = candidate[part][key], live[part][key]
        if old - new > tolerance + 1e-9:
            reasons.append(Reason(code, f"{label} {new:.3f} against {old:.3f} live: down {old - new:.3f}, more "
                                  f"than {tolerance:.3f} ({variable})",
                                  {"candidate": new, "live": old, "tolerance": tolerance}))
    live_intents = live["intent"]["per_intent"]
    for intent, scores in sorted(candidate["intent"]["per_intent"].items()):
        old = live_intents.get(intent, {}).get("f1")
        if old is not None and old - scores["f1"] > settings.intent_f1_drop + 1e-9:
            reasons.append(Reason("intent_f1", f"intent {intent} F1 {scores['f1']:.3f} against {old:.3f} live: down "
                                  f"{old - scores['f1']:.3f}, more than {settings.intent_f1_drop:.3f} "
                                  "(ANTREAN_GATE_INTENT_F1_DROP)",
                                  {"intent": intent, "candidate": scores["f1"], "live": old,
                                   "tolerance": settings.intent_f1_drop}))
    return reasons
