"""Words users say for the terms the documents use: a small curated table, German and English.

Each entry maps a phrase as users say it (lower-case, matched as whole words in the question) to
the phrases the sources use; retrieval and quoting look for both. Kept small on purpose: every line
is a term of German energy law or of the meter manuals that a user is known to say differently.
Curated from the documents' vocabulary with the development set's questions in view (qa_dev.json);
never from the held-out set, whose numbers therefore show what the table does for unseen questions.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SYNONYMS", "synonyms_for"]

SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "smart meter": ("intelligentes Messsystem", "Smart-Meter-Gateway"),
    "smart-meter": ("intelligentes Messsystem",),
    "stromzähler": ("Messeinrichtung", "Zähler"),
    "zähler": ("Messeinrichtung",),
    "digitaler zähler": ("moderne Messeinrichtung",),
    "digital meter": ("moderne Messeinrichtung",),
    "electricity meter": ("Messeinrichtung", "Zähler"),
    "meter operator": ("Messstellenbetreiber",),
    "meter": ("Zähler", "Messeinrichtung"),
    "grundgebühr": ("Grundpreis",),
    "standing charge": ("Grundpreis",),
    "kündigen": ("Kündigung", "Kündigungsfrist"),
    "notice": ("Kündigungsfrist", "Benachrichtigung"),
    "cancel": ("Kündigung",),
    "balkonkraftwerk": ("Steckersolargerät",),
    "balcony solar": ("Steckersolargerät",),
    "plug-in solar": ("Steckersolargerät",),
    "stromanbieter": ("Energielieferant", "Lieferant"),
    "supplier": ("Lieferant", "Energielieferant"),
    "electricity supplier": ("Stromlieferant", "Energielieferant"),
    "grid fee": ("Netzentgelt",),
    "grid fees": ("Netzentgelte",),
    "netzgebühr": ("Netzentgelt",),
    "electricity tax": ("Stromsteuer",),
    "tax rate": ("Steuersatz",),
    "basic supply": ("Grundversorgung",),
    "default supply": ("Ersatzversorgung",),
    "feed-in tariff": ("Einspeisevergütung", "anzulegender Wert"),
    "einspeisevergütung": ("anzulegender Wert", "Marktprämie"),
    "vergütung": ("anzulegender Wert",),
    "rooftop": ("Gebäude",),
    "solar": ("Solaranlage", "solarer Strahlungsenergie"),
    "pv": ("Solaranlage", "Photovoltaik"),
    "wallbox": ("Ladepunkt", "Ladeeinrichtung"),
    "charging station": ("Ladepunkt",),
    "price increase": ("Preisänderung", "Änderungen der Allgemeinen Preise"),
    "preiserhöhung": ("Preisänderung", "Änderungen der Allgemeinen Preise"),
    "refund": ("Guthaben", "erstatten"),
    "guthaben": ("erstatten",),
    "bill": ("Rechnung", "Abrechnung"),
    "rechnung": ("Abrechnung",),
    "moving": ("Umzug", "Wohnsitzwechsel"),
    "umzug": ("Wohnsitzwechsel",),
    "warranty": ("Garantie", "guarantee"),
    "garantie": ("warranty", "guarantee"),
    "password": ("Passwort",),
    "passwort": ("password",),
    "baud rate": ("Baudrate",),
    "baudrate": ("baud rate",),
    "register": ("Register", "address"),
    "error code": ("exception code", "Fehlercode"),
    "fehlercode": ("exception code",),
    "timeout": ("Zeitüberschreitung", "time out"),
    "state of charge": ("SOC", "Ladezustand"),
    "ladezustand": ("SOC", "state of charge"),
    "battery": ("Batterie", "ESS"),
    "batterie": ("battery",),
    "leistung": ("power",),
    "power": ("Leistung",),
    "frequency": ("Frequenz",),
    "frequenz": ("frequency",),
    "spannung": ("voltage",),
    "voltage": ("Spannung",),
    "strom": ("current",),
    "current": ("Strom",),
}

_PATTERNS: Final = [
    (re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", re.IGNORECASE), targets)
    for phrase, targets in SYNONYMS.items()
]


def synonyms_for(question: str) -> list[str]:
    """Return the source terms for every user phrase ``question`` holds, each once, in table order."""
    found: dict[str, None] = {}
    for pattern, targets in _PATTERNS:
        if pattern.search(question):
            found.update(dict.fromkeys(targets))
    return list(found)
