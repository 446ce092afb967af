"""Scanned pages made from a real PDF: rendered to pixels (pdfium), saved as images or image-only PDFs (Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pypdfium2
from PIL import Image

__all__ = ["encoded", "image_only_pdf", "page_image", "text_then_scan"]


def page_image(pdf: Path, page: int, dpi: int = 200) -> Image.Image:
    """Render a 1-based PDF page as a scanner would deliver it: pixels only (greyscale)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        image: Image.Image = document[page - 1].render(scale=dpi / 72).to_pil()
        return image.convert("L")
    finally:
        document.close()


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    """``image`` saved in the format ``kind`` (PNG, JPEG, TIFF, PDF) with Pillow's ``options``."""
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def image_only_pdf(*images: Image.Image) -> bytes:
    """A PDF whose pages are images (no text layer), as a scanner writes it."""
    first, *rest = images
    return encoded(first, "PDF", resolution=200.0, save_all=True, append_images=rest)


def text_then_scan(pdf: Path, text_page: int, scanned_page: int) -> bytes:
    """A two-page PDF: ``text_page`` of ``pdf`` with its text layer, then ``scanned_page`` as a scan."""
    writer = pypdf.PdfWriter()
    writer.add_page(pypdf.PdfReader(pdf).pages[text_page - 1])
    writer.add_page(pypdf.PdfReader(io.BytesIO(image_only_pdf(page_image(pdf, scanned_page)))).pages[0])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
