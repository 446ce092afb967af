"""OCR with the Tesseract program: an image's paragraphs with their mean word confidence.

Tesseract runs as a child of the parsing process, so the same address-space cap holds for it
(``RLIMIT_AS`` is inherited), it is killed with that process's group (``isolation``), and each page
has ``page_timeout_s``. One thread (``OMP_THREAD_LIMIT=1``): the hub's machine is shared.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Final

from PIL import Image

from luna_hub.documents.errors import CorruptDocumentError, DocumentTooLargeError
from luna_hub.settings import OcrSettings
from luna_shared.logs import get_logger

__all__ = ["OcrParagraph", "grey_image", "ocr_unavailable", "recognise"]

_WORD_LEVEL: Final = 5
_TSV_COLUMNS: Final = 12
_MIN_CONFIDENCE: Final = 20.0  # paragraphs read worse than this are a photo's or a stamp's texture, not text
_LIST_TIMEOUT_S: Final = 30.0
_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OcrParagraph:
    """A paragraph as Tesseract read it (lines kept) and its words' mean confidence, 0-100."""

    text: str
    confidence: float


def ocr_unavailable(settings: OcrSettings | None) -> str | None:
    """Return why OCR cannot run (off, program missing, a language missing), or None when it can."""
    if settings is None or not settings.enabled:
        return "OCR is switched off (documents.ocr.enabled)"
    return _program_problem(settings.command, settings.languages)


@functools.cache
def _program_problem(command: str, languages: str) -> str | None:
    program = shutil.which(command)
    if program is None:
        return f"OCR is unavailable: the Tesseract program {command!r} (documents.ocr.command) was not found"
    try:
        listed = subprocess.run(  # noqa: S603 - the configured program, no shell
            [program, "--list-langs"], capture_output=True, timeout=_LIST_TIMEOUT_S, check=True, env=_env()
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"OCR is unavailable: {command} --list-langs failed: {exc}"
    known = {line.strip() for line in listed.stdout.decode("utf-8", "replace").splitlines()[1:]}
    missing = [language for language in languages.split("+") if language not in known]
    if missing:
        return f"OCR is unavailable: Tesseract has no data for {', '.join(missing)} (install tesseract-ocr-<lang>)"
    return None


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def grey_image(image: Image.Image, filename: str, max_pixels: int) -> bytes:
    """Return ``image`` as an 8-bit grey PGM (what Tesseract reads fastest); 413 beyond ``max_pixels``."""
    if image.width * image.height > max_pixels:
        msg = (
            f"{filename}: an image of {image.width} x {image.height} pixels is larger than"
            f" documents.ocr.max_pixels ({max_pixels})"
        )
        raise DocumentTooLargeError(msg)
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PPM")
    return buffer.getvalue()


def recognise(image: bytes, settings: OcrSettings, *, filename: str, page: int) -> list[OcrParagraph]:
    """Read the paragraphs of one page image (any format Tesseract reads: PNM, PNG, JPEG, TIFF)."""
    command = [
        settings.command,
        "stdin",
        "stdout",
        "-l",
        settings.languages,
        "--dpi",
        str(settings.dpi),
        "--psm",
        "3",
        "tsv",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - the configured program, no shell
            command, input=image, capture_output=True, timeout=settings.page_timeout_s, check=False, env=_env()
        )
    except subprocess.TimeoutExpired as exc:
        limit = settings.page_timeout_s
        msg = f"{filename}: OCR of page {page} took longer than documents.ocr.page_timeout_s ({limit:g} s)"
        raise DocumentTooLargeError(msg) from exc
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        msg = f"{filename}: OCR of page {page} failed: {error[0]}"
        raise CorruptDocumentError(msg)
    paragraphs = _paragraphs(done.stdout.decode("utf-8", "replace"))
    _log.info(
        "ocr page read",
        filename=filename,
        page=page,
        paragraphs=len(paragraphs),
        confidence=round(_mean(paragraphs), 1) if paragraphs else None,
    )
    return paragraphs


def _paragraphs(tsv: str) -> list[OcrParagraph]:
    """Group Tesseract's TSV words into paragraphs (block, paragraph) of lines."""
    words: dict[tuple[int, int], dict[int, list[tuple[str, float]]]] = {}
    for line in tsv.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < _TSV_COLUMNS or fields[0] != str(_WORD_LEVEL):
            continue
        text = fields[11].strip()
        confidence = float(fields[10])
        if not text or confidence < 0:
            continue
        key = (int(fields[1]) * 10_000 + int(fields[2]), int(fields[3]))  # (page and block, paragraph)
        words.setdefault(key, {}).setdefault(int(fields[4]), []).append((text, confidence))
    paragraphs = []
    for lines in words.values():
        scored = [word for line in lines.values() for word in line]
        confidence = sum(score for _, score in scored) / len(scored)
        if confidence < _MIN_CONFIDENCE:
            continue
        text = "\n".join(" ".join(word for word, _ in line) for line in lines.values())
        paragraphs.append(OcrParagraph(text, confidence))
    return paragraphs


def _mean(paragraphs: list[OcrParagraph]) -> float:
    total = sum(len(p.text) for p in paragraphs)
    return sum(p.confidence * len(p.text) for p in paragraphs) / max(total, 1)
