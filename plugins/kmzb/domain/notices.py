"""Texts every submission path shows."""

EMERGENCY_NOTICE = {
    "pl": (
        "Krajowa Mapa Zagrożeń Bezpieczeństwa nie służy do powiadamiania o zdarzeniach "
        "wymagających natychmiastowej interwencji. W sytuacji zagrożenia życia lub zdrowia "
        "dzwoń 112."
    ),
    "en": (
        "The National Safety Threat Map is not for emergencies. If life or health is in "
        "danger, call 112."
    ),
}
