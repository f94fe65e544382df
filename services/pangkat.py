"""Golongan ruang and pangkat names (PNS), PPPK golongan, eselon levels."""
from __future__ import annotations

PNS_PANGKAT: dict[str, str] = {
    "I/a": "Juru Muda", "I/b": "Juru Muda Tingkat I", "I/c": "Juru", "I/d": "Juru Tingkat I",
    "II/a": "Pengatur Muda", "II/b": "Pengatur Muda Tingkat I", "II/c": "Pengatur", "II/d": "Pengatur Tingkat I",
    "III/a": "Penata Muda", "III/b": "Penata Muda Tingkat I", "III/c": "Penata", "III/d": "Penata Tingkat I",
    "IV/a": "Pembina", "IV/b": "Pembina Tingkat I", "IV/c": "Pembina Utama Muda",
    "IV/d": "Pembina Utama Madya", "IV/e": "Pembina Utama",
}
PNS_GOLONGAN: list[str] = list(PNS_PANGKAT)
PPPK_GOLONGAN: list[str] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI", "XVII",
]
ESELON: list[str] = ["I.a", "I.b", "II.a", "II.b", "III.a", "III.b", "IV.a", "IV.b", "V.a"]


def normalize_golongan(raw: str) -> str | None:
    """'iii/a', 'III A', 'III-a' -> 'III/a'; PPPK 'ix' -> 'IX'. None if not a golongan."""
    s = raw.strip().replace(" ", "/").replace("-", "/").replace(".", "/")
    if "/" in s:
        room, _, letter = s.partition("/")
        cand = f"{room.upper()}/{letter.lower()}"
        return cand if cand in PNS_PANGKAT else None
    cand = s.upper()
    return cand if cand in PPPK_GOLONGAN else None


def normalize_eselon(raw: str) -> str | None:
    s = raw.strip().upper().replace("/", ".").replace("-", ".").replace(" ", ".")
    for e in ESELON:
        if e.upper() == s or e.upper().replace(".", "") == s.replace(".", ""):
            return e
    return None


def pangkat_label(golongan: str | None, status: str) -> str:
    if not golongan:
        return "-"
    if golongan in PNS_PANGKAT:
        return f"{PNS_PANGKAT[golongan]} ({golongan})"
    return f"Golongan {golongan}" + (" (PPPK)" if status == "PPPK" else "")
