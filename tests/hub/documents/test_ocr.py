"""OCR of scanned pages: real manual pages rendered to images here, read back by Tesseract.

The pages come from ``../shared/data/docs/manuals`` (their text layer says what the scan must say):
SDM630 PDF page 8 (the default password) and page 1. Images are made with pdfium and Pillow;
image-only PDFs with Pillow; a PDF of a text page and a scanned page with pypdf. Tesseract is
the real program (Debian ``tesseract-ocr``, German and English); "OCR unavailable" is a settings
value naming a program that does not exist.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from luna_hub.documents.chunking import make_chunks
from luna_hub.documents.errors import CorruptDocumentError, DocumentTooLargeError, NoTextError
from luna_hub.documents.extract import JPEG, PDF, PNG, TIFF, extract, ocr_unavailable, probe, sniff
from luna_hub.settings import OcrSettings
from support import scans
from support.scans import encoded, image_only_pdf, page_image

DOCS = Path(__file__).resolve().parents[4] / "shared" / "data" / "docs"
SDM630 = DOCS / "manuals" / "eastron_sdm630_modbus_protocol.pdf"
OCR = OcrSettings()
NO_TESSERACT = OcrSettings(command="/nonexistent/bin/tesseract")
pytestmark = [
    pytest.mark.skipif(not SDM630.is_file(), reason=f"real documents not at {DOCS}"),
    pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed (.ci/run installs it)"),
]


def text_then_scan() -> bytes:
    """SDM630 page 1 with its text layer, then page 8 as a scan."""
    return scans.text_then_scan(SDM630, 1, 8)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_scanned_page_as_png_is_read_with_its_confidence() -> None:
    data = encoded(page_image(SDM630, 8), "PNG")
    assert sniff(data, "scan") == PNG
    probe(data, PNG, "scan.png", OCR)
    extraction = extract(data, PNG, "scan.png", None, OCR)
    assert "The default password is 0000" in flat(extraction.text)
    assert extraction.pages == 1
    assert all(s.page == 1 and s.confidence is not None and 0 <= s.confidence <= 100 for s in extraction.segments)
    [chunk, *_] = make_chunks(
        extraction, document_id="d", version=1, title="scan", media_type=PNG, max_chars=1200, overlap=200
    )
    assert chunk.page == 1
    assert chunk.ocr_confidence is not None
    assert chunk.ocr_confidence > 80  # a clean 200 dpi render: Tesseract is sure of almost every word


def test_jpeg_and_a_two_page_tiff_are_read_page_by_page() -> None:
    first, second = page_image(SDM630, 8), page_image(SDM630, 1)
    jpeg = encoded(first, "JPEG", quality=85)
    assert sniff(jpeg, "scan.jpg") == JPEG
    assert "default password is 0000" in flat(extract(jpeg, JPEG, "scan.jpg", None, OCR).text)
    tiff = encoded(first, "TIFF", save_all=True, append_images=[second])
    assert sniff(tiff, "scan.tif") == TIFF
    seen: list[tuple[int, int]] = []
    extraction = extract(tiff, TIFF, "scan.tif", lambda done, total: seen.append((done, total)), OCR)
    assert seen == [(1, 2), (2, 2)]
    assert extraction.pages == 2
    on_page = {
        page: flat(" ".join(extraction.text[s.start : s.end] for s in extraction.segments if s.page == page))
        for page in (1, 2)
    }
    assert "default password is 0000" in on_page[1]
    assert "SDM630" in on_page[2]


def test_an_image_only_pdf_is_read_page_by_page_and_says_so() -> None:
    data = image_only_pdf(page_image(SDM630, 8))
    assert not pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text().strip()  # really no text layer
    probe(data, PDF, "scan.pdf", OCR)
    seen: list[tuple[int, int]] = []
    extraction = extract(data, PDF, "scan.pdf", lambda done, total: seen.append((done, total)), OCR)
    assert seen == [(1, 1)]
    assert "default password is 0000" in flat(extraction.text)
    assert extraction.notes == ("pages without a text layer read by OCR (deu+eng): 1",)


def test_a_pdf_with_text_pages_and_scanned_pages_gets_both() -> None:
    extraction = extract(text_then_scan(), PDF, "mixed.pdf", None, OCR)
    layer = [s for s in extraction.segments if s.page == 1]
    read = [s for s in extraction.segments if s.page == 2]
    assert layer
    assert read
    assert all(s.confidence is None for s in layer)
    assert all(s.confidence is not None for s in read)
    assert "default password is 0000" in flat(" ".join(extraction.text[s.start : s.end] for s in read))
    assert extraction.notes == ("pages without a text layer read by OCR (deu+eng): 2",)


def test_the_real_scanned_edge_case_is_german_text() -> None:
    data = (DOCS / "edge_cases" / "scanned.pdf").read_bytes()
    probe(data, PDF, "scanned.pdf", OCR)  # accepted now: OCR will read it
    extraction = extract(data, PDF, "scanned.pdf", None, OCR)
    assert extraction.pages == 3
    assert {s.page for s in extraction.segments} == {1, 2, 3}
    text = flat(extraction.text)
    assert "Verwendete Abkürzungen" in text  # Fronius Datamanager manual p. 12, German umlauts kept
    assert "Wechselstrom" in text


def test_without_tesseract_ocr_is_skipped_with_a_note_never_a_crash() -> None:
    reason = ocr_unavailable(NO_TESSERACT)
    assert reason is not None
    assert "'/nonexistent/bin/tesseract'" in reason
    assert "not found" in reason
    png = encoded(page_image(SDM630, 8, dpi=72), "PNG")
    with pytest.raises(NoTextError, match="OCR") as caught:
        probe(png, PNG, "scan.png", NO_TESSERACT)
    assert "not found" in str(caught.value)
    scanned = image_only_pdf(page_image(SDM630, 8, dpi=72))
    with pytest.raises(NoTextError, match="not found"):
        probe(scanned, PDF, "scan.pdf", NO_TESSERACT)
    extraction = extract(text_then_scan(), PDF, "mixed.pdf", None, NO_TESSERACT)
    assert {s.page for s in extraction.segments} == {1}
    [note] = extraction.notes
    assert note.startswith("pages without a text layer skipped: 2; OCR is unavailable")
    with pytest.raises(NoTextError, match="switched off"):
        probe(png, PNG, "scan.png", OcrSettings(enabled=False))


def test_broken_and_oversized_images_are_refused() -> None:
    with pytest.raises(CorruptDocumentError, match=r"image\.png"):
        probe(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG, "image.png", OCR)  # cut off in its header
    huge = encoded(Image.new("L", (9000, 8000), 255), "PNG")  # 72 megapixels, a few kB packed
    with pytest.raises(DocumentTooLargeError, match="max_pixels"):
        probe(huge, PNG, "huge.png", OCR)
