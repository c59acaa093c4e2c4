"""The "Model" page (maintainers and admins): the trained models with their figures and which one
is live, "Latih model baru" (export + training in the background, antrean/console/model_training.py),
two models compared, and promotion / rollback with the gate's verdict shown before the
confirmation. Only admins may override a refusal, with a written reason.

The registry's gate and comparison may evaluate a model again (Rasa, 10–60 s) when its stored
evaluation predates the test set: every registry call runs in a worker thread, never on the loop."""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

from sanic import Blueprint, Request
from sanic.exceptions import NotFound

from antrean.console.model_training import STEPS, TrainingRefused
from antrean.console.permissions import Permission
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, render
from antrean.model_registry import (
    ConcurrentChange,
    ModelFileProblem,
    ModelRegistryError,
    NothingToRollBack,
    PromotionRefused,
    UnknownModel,
)
from antrean.model_registry.evaluation import headline
from antrean.protection.masking import mask_text

bp = Blueprint("models", url_prefix="/model")

MODEL_ID = re.compile(r"[0-9A-Za-z-]{1,40}")
REFRESH_SECONDS = 5

# key → (Indonesian label, format); the keys and their order are the registry's (compare.FIGURES).
FIGURE_LABELS = {
    "intent_accuracy": ("Akurasi intent", "{:.3f}"),
    "intent_macro_f1": ("Macro-F1 intent", "{:.3f}"),
    "entity_f1": ("F1 entitas (mikro)", "{:.3f}"),
    "entity_macro_f1": ("F1 entitas (makro)", "{:.3f}"),
    "law_parse_rate": ("Format LAW # terbaca", "{:.1%}"),
    "fallback_rate": ("Tingkat fallback", "{:.1%}"),
    "stories_passed": ("Tes percakapan lulus", "{:.0f}"),
    "stories_failed": ("Tes percakapan gagal", "{:.0f}"),
    "latency_p50_ms": ("Latensi parse p50 (ms)", "{:.1f}"),
    "latency_p95_ms": ("Latensi parse p95 (ms)", "{:.1f}"),
    "size_mb": ("Ukuran model (MB)", "{:.2f}"),
    "load_seconds": ("Waktu muat (detik)", "{:.1f}"),
}
STATUS_LABELS = {"fixed": "diperbaiki", "broken": "rusak", "changed": "berubah", "still_wrong": "masih salah",
                 "right": "benar di keduanya"}


def reason_text(reason) -> str:
    """The gate's reason in Indonesian, from its code and facts (the English text as a fallback)."""
    f = reason.facts
    if reason.code == "story_broken":
        return (f"Tes percakapan “{f['story']}” ({f['file']}) lulus dengan model aktif tetapi gagal dengan "
                f"model ini: {f['failure']}")
    if reason.code == "law_parse_rate":
        misread = "; ".join(f"“{mask_text(t)}”" for t in f["failures"][:5])
        return f"Format LAW # terbaca {f['rate']:.1%}, harus 100 %. Salah baca: {misread}"
    if reason.code in ("intent_macro_f1", "entity_f1"):
        label = "Macro-F1 intent" if reason.code == "intent_macro_f1" else "F1 entitas"
        return (f"{label} turun dari {f['live']:.3f} menjadi {f['candidate']:.3f} (turun "
                f"{f['live'] - f['candidate']:.3f}, toleransi {f['tolerance']:.3f}).")
    if reason.code == "intent_f1":
        return (f"F1 intent {f['intent']} turun dari {f['live']:.3f} menjadi {f['candidate']:.3f} (turun "
                f"{f['live'] - f['candidate']:.3f}, batas {f['tolerance']:.3f}).")
    if reason.code == "test_set_differs":
        return "Kedua model dievaluasi dengan set uji yang berbeda; evaluasi ulang keduanya."
    return reason.text


def figures_of(record) -> dict | None:
    return headline(record.evaluation) if record.evaluation else None


def formatted(key: str, value) -> str:
    return FIGURE_LABELS[key][1].format(value) if value is not None else "—"


def _model_id(text: str) -> str:
    if not MODEL_ID.fullmatch(text):
        raise NotFound("Model tidak dikenal.")
    return text


def _message(error: ModelRegistryError) -> str:
    """The registry's errors in Indonesian for the page; the English detail stays beside it."""
    if isinstance(error, UnknownModel):
        return "Model tidak dikenal."
    if isinstance(error, ModelFileProblem):
        return f"Berkas model bermasalah (hilang, dipangkas, atau rusak): {error}"
    if isinstance(error, ConcurrentChange):
        return "Model aktif baru saja diubah oleh orang lain. Periksa daftar, lalu coba lagi."
    if isinstance(error, NothingToRollBack):
        return "Tidak ada model sebelumnya untuk dikembalikan."
    if isinstance(error, PromotionRefused):
        return "Ditolak gerbang: " + " ".join(reason_text(r) for r in error.verdict.reasons)
    return f"Tidak bisa: {error}"


# --- the list and the training ---------------------------------------------------------------------

@bp.get("", name="index")
@permission_required(Permission.MODELS)
async def index(request: Request):
    registry = request.app.ctx.models

    def load():
        return registry.all(), registry.live_model(), registry.rollback_target(), registry.history()[-8:]

    records, live, rollback_target, history = await blocking(load)
    training = await blocking(request.app.ctx.model_training.view)
    await pop_flash(request)
    newest = next((r.id for r in records if not live or r.id != live.id), None)
    return render(request, "models/index.html", records=records, live=live, rollback_target=rollback_target,
                  history=list(reversed(history)), training=training, steps=STEPS, figures_of=figures_of,
                  formatted=formatted, refresh=REFRESH_SECONDS if training.state == "running" else None,
                  default_a=live.id if live else (records[1].id if len(records) > 1 else ""),
                  default_b=newest or "")


@bp.post("/latih", name="train")
@permission_required(Permission.MODELS)
async def train(request: Request):
    try:
        await blocking(request.app.ctx.model_training.start, request.ctx.user.username)
    except TrainingRefused as refusal:
        return await redirect_with(request, "/model", "error", str(refusal))
    return await redirect_with(request, "/model", "ok", "Pelatihan dimulai: ekspor inbox NLU, validasi, pelatihan, "
                               "evaluasi. Halaman ini diperbarui sendiri; boleh ditutup.")


# --- compare -------------------------------------------------------------------------------------------

@bp.get("/banding", name="compare")
@permission_required(Permission.MODELS)
async def compare(request: Request):
    registry = request.app.ctx.models
    a, b = request.args.get("a", "").strip(), request.args.get("b", "").strip()
    if not a or not b or a == b:
        return await redirect_with(request, "/model", "error", "Pilih dua model yang berbeda untuk dibandingkan.")
    try:
        comparison = await blocking(registry.compare, _model_id(a), _model_id(b))
    except ModelRegistryError as error:
        return await redirect_with(request, "/model", "error", _message(error))
    picture = await blocking(_confusion_picture, comparison)
    for message in (*comparison.messages, *comparison.entities, *comparison.corrections):
        message["shown"] = mask_text(message["text"])  # same length: entity spans still fit
    figures = [{**row, "label": FIGURE_LABELS[row["name"]][0],
                "a_text": formatted(row["name"], row["a"]), "b_text": formatted(row["name"], row["b"]),
                "change_text": _change(row), "verdict": _direction(row)} for row in comparison.figures]
    return render(request, "models/compare.html", c=comparison, figures=figures, picture=picture,
                  status_labels=STATUS_LABELS, spans=_spans)


def _change(row: dict) -> str:
    if not row["change"]:
        return "="
    text = FIGURE_LABELS[row["name"]][1].format(row["change"])
    return text if text.startswith("-") else "+" + text


def _direction(row: dict) -> str:
    if abs(row["change"]) < 1e-9 or row["name"] in ("latency_p50_ms", "latency_p95_ms", "load_seconds", "size_mb"):
        return ""  # timings and size move with the machine's load: shown, not judged
    return "better" if (row["change"] > 0) == row["higher_is_better"] else "worse"


def _spans(text: str, spans: list) -> str:
    return ", ".join(f"{entity}: “{text[start:end]}”" for entity, start, end in spans) or "—"


def _confusion_picture(comparison) -> str:
    """The confusion-matrix difference as a data: URI (the page's CSP allows images from data:)."""
    from antrean.model_registry.compare import draw_confusion_difference

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "confusion.png"
        draw_confusion_difference(comparison.confusion, path, f"{comparison.b} − {comparison.a}")
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# --- promote and roll back -------------------------------------------------------------------------

@bp.get("/<model_id:str>/aktifkan", name="promote_check")
@permission_required(Permission.MODELS)
async def promote_check(request: Request, model_id: str):
    registry = request.app.ctx.models
    model_id = _model_id(model_id)

    def check():
        record = registry.verify(model_id)
        live = registry.live_model()
        if live is not None and live.id == model_id:
            raise ModelRegistryError("model ini sudah aktif")
        return record, live, registry.gate(model_id, live.id if live else None)

    try:
        record, live, verdict = await blocking(check)
    except ModelRegistryError as error:
        return await redirect_with(request, "/model", "error", _message(error))
    await pop_flash(request)
    rows = [{"label": label, "live": formatted(key, verdict.live_figures[key]) if verdict.live_figures else "—",
             "candidate": formatted(key, verdict.candidate_figures[key])}
            for key, (label, _) in FIGURE_LABELS.items()]
    return render(request, "models/promote.html", record=record, live=live, verdict=verdict, rows=rows,
                  reasons=[reason_text(r) for r in verdict.reasons],
                  may_override=request.ctx.user.can(Permission.ADMINISTER))


@bp.post("/<model_id:str>/aktifkan", name="promote")
@permission_required(Permission.MODELS)
async def promote(request: Request, model_id: str):
    registry = request.app.ctx.models
    model_id = _model_id(model_id)
    reason = (request.form.get("alasan") or "").strip()
    back = f"/model/{model_id}/aktifkan"
    if reason and not request.ctx.user.can(Permission.ADMINISTER):
        return await redirect_with(request, back, "error", "Hanya admin yang boleh mengaktifkan model yang ditolak "
                                   "gerbang.")
    try:
        promotion = await blocking(registry.promote, model_id, request.ctx.user.username, reason or None)
    except PromotionRefused as refusal:
        return await redirect_with(request, back, "error", _message(refusal))
    except ModelRegistryError as error:
        return await redirect_with(request, "/model", "error", _message(error))
    text = (f"Model {promotion.to_model} aktif walau ditolak gerbang; alasan dicatat di log audit."
            if promotion.action == "override" else f"Model {promotion.to_model} sekarang aktif.")
    return await redirect_with(request, "/model", "ok", text)


@bp.get("/kembalikan", name="rollback_check")
@permission_required(Permission.MODELS)
async def rollback_check(request: Request):
    registry = request.app.ctx.models

    def check():
        live, target = registry.live_model(), registry.rollback_target()
        return live, registry.get(target) if target else None

    live, target = await blocking(check)
    if live is None or target is None:
        return await redirect_with(request, "/model", "error", "Tidak ada model sebelumnya untuk dikembalikan.")
    await pop_flash(request)
    live_figures, target_figures = figures_of(live), figures_of(target)
    rows = [{"label": label, "live": formatted(key, live_figures[key]) if live_figures else "—",
             "target": formatted(key, target_figures[key]) if target_figures else "—"}
            for key, (label, _) in FIGURE_LABELS.items()]
    return render(request, "models/rollback.html", live=live, target=target, rows=rows)


@bp.post("/kembalikan", name="rollback")
@permission_required(Permission.MODELS)
async def rollback(request: Request):
    registry = request.app.ctx.models
    expected = request.form.get("dari", "")
    live = await blocking(registry.live_model)
    if live is None or live.id != expected:
        # The confirmation was for another live model: someone changed it since the page was shown.
        return await redirect_with(request, "/model", "error", "Model aktif baru saja diubah oleh orang lain. "
                                   "Periksa daftar, lalu coba lagi.")
    try:
        promotion = await blocking(registry.rollback, request.ctx.user.username)
    except ModelRegistryError as error:
        return await redirect_with(request, "/model", "error", _message(error))
    return await redirect_with(request, "/model", "ok", f"Model {promotion.to_model} aktif kembali (menggantikan "
                               f"{promotion.from_model}).")
