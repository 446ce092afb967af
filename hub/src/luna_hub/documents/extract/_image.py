"""PNG, JPEG and TIFF: each frame (a TIFF may hold many pages) read by OCR, page by page."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageSequence

from luna_hub.documents.errors import CorruptDocumentError, DocumentTooLargeError, NoTextError
from luna_hub.documents.extract._builder import Builder
from luna_hub.documents.extract._ocr import grey_image, ocr_unavailable, recognise
from luna_hub.documents.extract._types import Extraction, Progress
from luna_hub.settings import OcrSettings


def open_image(data: bytes, filename: str, ocr: OcrSettings | None) -> Image.Image:
    """Open and check an image upload: decodable, within ``max_pixels``, and OCR there to read it."""
    limit = (ocr or OcrSettings()).max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.verify()  # checks the whole file (PNG CRCs, ...); the image must be opened again after
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        msg = f"{filename}: {exc}"
        raise DocumentTooLargeError(msg) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        msg = f"{filename} is not a readable image: {exc}"
        raise CorruptDocumentError(msg) from exc
    if image.width * image.height > limit:
        msg = f"{filename}: {image.width} x {image.height} pixels is more than documents.ocr.max_pixels ({limit})"
        raise DocumentTooLargeError(msg)
    reason = ocr_unavailable(ocr)
    if reason is not None:
        msg = f"{filename} is an image, its text can only be read by OCR; {reason}"
        raise NoTextError(msg)
    return image


def extract_image(data: bytes, filename: str, progress: Progress | None, ocr: OcrSettings | None) -> Extraction:
    image = open_image(data, filename, ocr)
    assert ocr is not None  # noqa: S101 - open_image refuses the image without OCR settings
    total = getattr(image, "n_frames", 1)
    builder = Builder()
    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        picture = grey_image(frame, filename, ocr.max_pixels)
        for paragraph in recognise(picture, ocr, filename=filename, page=number):
            builder.add(paragraph.text, "paragraph", page=number, confidence=paragraph.confidence)
        if progress is not None:
            progress(number, total)
    if not builder.segments:
        msg = f"{filename}: OCR found no text in the image"
        raise NoTextError(msg)
    return builder.build(pages=total)
