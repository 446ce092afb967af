-- Spreadsheets and OCR (luna_hub.documents, issue 21): a chunk of spreadsheet rows names its first
-- and last row (citations say "sheet, rows 12-18"), a chunk read off an image by OCR keeps
-- Tesseract's mean word confidence (citations say "p. 3, OCR 91%"), and a job keeps the notes of
-- its extraction (hidden sheets skipped, pages read by OCR, pages skipped because OCR is unavailable).

ALTER TABLE chunks
    ADD COLUMN row_start integer CHECK (row_start >= 1),
    ADD COLUMN row_end integer CHECK (row_end >= row_start),
    ADD COLUMN ocr_confidence real CHECK (ocr_confidence >= 0 AND ocr_confidence <= 100);

ALTER TABLE document_jobs ADD COLUMN notes text[] NOT NULL DEFAULT '{}';
