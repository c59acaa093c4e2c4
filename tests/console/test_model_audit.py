"""Model promotions, overrides and rollbacks made from the command line show in the console's
audit log, with the override's reason."""

from __future__ import annotations

from antrean.console.views.audit import ACTION_LABELS
from antrean.model_registry import ModelRegistry
from antrean.model_registry.registry import AUDIT_ACTIONS
from tests.model_registry.test_records import WORSE, evaluation, inputs, model_file


def test_every_action_the_registry_audits_has_a_label():
    assert set(AUDIT_ACTIONS) <= set(ACTION_LABELS)


def test_an_override_shows_in_the_audit_log_with_its_reason(console, tmp_path):
    registry = ModelRegistry(console.service.engine, tmp_path / "models", console.clock, story_files=[])
    live = registry.register(model_file(tmp_path / "files", "a"), by="test", inputs=inputs("a"),
                             evaluation=evaluation())
    candidate = registry.register(model_file(tmp_path / "files", "b"), by="test", inputs=inputs("b"),
                                  evaluation=evaluation(WORSE))
    registry.promote(live.id, by="cli:budi")
    registry.promote(candidate.id, by="cli:siti", override_reason="darurat: model lama salah baca tanggal")
    registry.rollback(by="cli:budi")
    page = console.as_role("admin").get("/audit").text
    assert "Menjadikan model NLU aktif walau ditolak gerbang: <em>darurat: model lama salah baca tanggal</em>" in page
    assert "Mengembalikan model NLU sebelumnya" in page and candidate.id in page
    assert "operator siti (baris perintah)" in page
