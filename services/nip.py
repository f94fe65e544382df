"""Parsing and validation of ASN identity numbers (NIP PNS, NI PPPK, Non-PNS numbers).

Layouts follow Perka BKN 22/2007 and 43/2007:

* NIP PNS, 18 digits ``YYYYMMDD YYYYMM G NNN``: birth date, year+month of TMT CPNS
  (the day is always the 1st), sex (1 = L, 2 = P), serial (001..999).
* NI PPPK, 18 digits ``YYYYMMDD YYYY 2X G NNN``: birth date, year of the first PPPK
  appointment, a two-digit code whose first digit is 2 (the meaning of the second digit
  is unconfirmed, so nothing is derived from it), sex, serial.

The two layouts are told apart by digits 13-14: a month 01-12 means PNS, 20-29 means PPPK.
Messages are in Bahasa Indonesia because they are shown to BKPSDM staff and ASN users.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from services.errors import InvalidInput

__all__ = [
    "NipKind",
    "NipInfo",
    "NipError",
    "normalize_nip",
    "parse_nip",
    "check_nip_consistency",
    "format_nip",
    "validate_nomor_non_pns",
]

NIP_LENGTH = 18
PPPK_FIRST_YEAR = 2019  # PPPK (UU ASN 5/2014, PP 49/2018) were first appointed in 2019
MIN_BIRTH_YEAR = 1900  # anything earlier is a typo, not a civil servant
MIN_APPOINTMENT_AGE = 15  # younger than this at appointment is impossible -> error
PNS_USUAL_AGE = (18, 40)  # outside this only warns: older rules allowed other ages
PPPK_USUAL_AGE = (18, 59)  # PPPK may be appointed up to 1 year before retirement age

# Separators people type or paste into a NIP ("19860926 201505 1 001", "1986.0926-...").
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_NON_PNS_CHARS = re.compile(r"[A-Za-z0-9./-]+")


class NipKind(StrEnum):
    PNS = "PNS"
    PPPK = "PPPK"


class NipError(InvalidInput):
    """Invalid NIP / NI PPPK / Non-PNS number."""


@dataclass(frozen=True)
class NipInfo:
    nip: str  # normalised 18 digits
    kind: NipKind
    birth_date: date
    appointment_year: int
    appointment_month: int | None  # TMT CPNS month for PNS, None for PPPK
    sex: str  # "L" or "P"
    serial: int
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How the number is called in messages ("NIP" or "NI PPPK")."""
        return _label(self.kind)

    @property
    def tmt_cpns(self) -> date | None:
        """TMT CPNS encoded in a PNS NIP (always the 1st of the month); None for PPPK."""
        if self.appointment_month is None:
            return None
        return date(self.appointment_year, self.appointment_month, 1)

    @property
    def formatted(self) -> str:
        return format_nip(self.nip)


def _label(kind: NipKind | None) -> str:
    return "NI PPPK" if kind is NipKind.PPPK else "NIP"


def _layout(code13_14: str) -> NipKind | None:
    """Kind implied by digits 13-14, or None when they fit neither layout."""
    if code13_14.isdigit() and 1 <= int(code13_14) <= 12:
        return NipKind.PNS
    if code13_14[:1] == "2" and code13_14[1:2].isdigit():
        return NipKind.PPPK
    return None


def normalize_nip(raw: str) -> str:
    """Strip whitespace, dots and dashes; no validation (idempotent)."""
    return _SEPARATORS.sub("", raw or "")


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def parse_nip(
    raw: str,
    expected_kind: NipKind | None = None,
    *,
    today: date | None = None,
) -> NipInfo:
    """Parse and validate an NIP PNS or NI PPPK; raises :class:`NipError`.

    ``expected_kind`` restricts the accepted layout (e.g. a PNS-only form) and makes
    the error explain a PNS/PPPK mix-up. ``today`` exists for deterministic tests.
    """
    today = today or date.today()
    nip = normalize_nip(raw)

    # --- shape -------------------------------------------------------------------
    if not nip:
        raise NipError("NIP belum diisi (harus 18 digit angka)", "empty")
    if not _ASCII_DIGITS.fullmatch(nip):
        bad = next(ch for ch in nip if not ("0" <= ch <= "9"))
        raise NipError(
            f"NIP hanya boleh berisi angka; ditemukan karakter '{bad}'", "not_digits"
        )
    if len(nip) != NIP_LENGTH:
        raise NipError(
            f"NIP harus 18 digit angka (diterima {len(nip)} digit)", "length"
        )

    layout = _layout(nip[12:14])
    # Use the label of the layout the digits suggest, so a PPPK sees "NI PPPK".
    label = _label(layout or expected_kind)

    # --- digits 1-8: birth date -------------------------------------------------
    try:
        birth = date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    except ValueError:
        raise NipError(
            f"Digit 1-8 {label} (tanggal lahir) bukan tanggal yang valid: {nip[0:8]}",
            "birth_date",
        ) from None
    if birth.year < MIN_BIRTH_YEAR:
        raise NipError(
            f"Digit 1-8 {label} (tanggal lahir) tidak masuk akal: {nip[0:8]} "
            f"(tahun {birth.year})",
            "birth_date",
        )

    # --- digits 13-14: layout (PNS month vs PPPK code) ----------------------------
    code = nip[12:14]
    if expected_kind is NipKind.PNS and layout is NipKind.PPPK:
        raise NipError(
            f"Nomor ini berformat NI PPPK, bukan NIP PNS (digit 13-14 = {code}; "
            "pada NIP PNS digit 13-14 adalah bulan TMT CPNS 01-12)",
            "kind_mismatch",
        )
    if expected_kind is NipKind.PPPK and layout is NipKind.PNS:
        raise NipError(
            f"Nomor ini berformat NIP PNS, bukan NI PPPK (digit 13-14 = {code} adalah "
            "bulan TMT CPNS; pada NI PPPK digit 13-14 adalah 20-29)",
            "kind_mismatch",
        )
    if layout is None:
        if expected_kind is NipKind.PPPK:
            raise NipError(
                f"Digit 13-14 NI PPPK harus 20-29 (diawali angka 2), diterima {code}",
                "pppk_code",
            )
        hint = "" if expected_kind is NipKind.PNS else " (untuk NI PPPK: 20-29)"
        raise NipError(
            f"Digit 13-14 NIP (bulan TMT CPNS) harus 01-12, diterima {code}{hint}",
            "tmt_month",
        )
    kind = layout
    year = int(nip[8:12])
    month = int(code) if kind is NipKind.PNS else None

    # --- digits 9-12: appointment year -------------------------------------------
    if kind is NipKind.PPPK and year < PPPK_FIRST_YEAR:
        raise NipError(
            f"Tahun pengangkatan pada NI PPPK (digit 9-12) adalah {year}, padahal PPPK "
            f"baru ada sejak {PPPK_FIRST_YEAR}",
            "pppk_year",
        )
    if year > today.year + 1:
        what = (
            f"TMT CPNS pada NIP ({year}-{month:02d})"
            if month is not None
            else f"Tahun pengangkatan pada NI PPPK ({year})"
        )
        raise NipError(f"{what} berada di masa depan", "tmt_future")

    # --- digit 15: sex; digits 16-18: serial ---------------------------------------
    sex_digit = nip[14]
    if sex_digit not in "12":
        raise NipError(
            f"Digit 15 {label} (jenis kelamin) harus 1 (laki-laki) atau 2 (perempuan), "
            f"diterima {sex_digit}",
            "sex_digit",
        )
    serial = int(nip[15:18])
    if serial == 0:
        raise NipError(
            f"Nomor urut {label} (digit 16-18) tidak boleh 000", "serial"
        )

    # --- cross-field plausibility ------------------------------------------------
    warnings: list[str] = []
    if month is not None:
        tmt = date(year, month, 1)
        if tmt < birth:
            raise NipError(
                f"TMT CPNS pada NIP ({year}-{month:02d}) sebelum tanggal lahir "
                f"({birth.isoformat()})",
                "tmt_before_birth",
            )
        age = _age_on(birth, tmt)
        if age < MIN_APPOINTMENT_AGE:
            raise NipError(
                f"Usia saat TMT CPNS menurut NIP baru {age} tahun (lahir "
                f"{birth.isoformat()}, TMT {year}-{month:02d}); tidak mungkin di bawah "
                f"{MIN_APPOINTMENT_AGE} tahun",
                "appointment_age",
            )
        low, high = PNS_USUAL_AGE
        if not low <= age <= high:
            warnings.append(
                f"Usia saat TMT CPNS {age} tahun, di luar rentang lazim {low}-{high} "
                "tahun; mohon periksa kembali NIP"
            )
        if tmt > today:
            warnings.append(f"TMT CPNS pada NIP ({year}-{month:02d}) belum tiba")
    else:
        if year < birth.year:
            raise NipError(
                f"Tahun pengangkatan pada NI PPPK ({year}) sebelum tahun lahir "
                f"({birth.year})",
                "tmt_before_birth",
            )
        # Only the year is known, so the exact age is this or one less.
        age = year - birth.year
        if age < MIN_APPOINTMENT_AGE:
            raise NipError(
                f"Usia saat pengangkatan PPPK menurut NI PPPK sekitar {age} tahun (lahir "
                f"{birth.isoformat()}, diangkat {year}); tidak mungkin di bawah "
                f"{MIN_APPOINTMENT_AGE} tahun",
                "appointment_age",
            )
        low, high = PPPK_USUAL_AGE
        if age < low or age - 1 > high:
            warnings.append(
                f"Usia saat pengangkatan PPPK sekitar {age} tahun, di luar rentang lazim "
                f"{low}-{high} tahun; mohon periksa kembali NI PPPK"
            )
        if year > today.year:
            warnings.append(f"Tahun pengangkatan pada NI PPPK ({year}) belum tiba")

    return NipInfo(
        nip=nip,
        kind=kind,
        birth_date=birth,
        appointment_year=year,
        appointment_month=month,
        sex="L" if sex_digit == "1" else "P",
        serial=serial,
        warnings=tuple(warnings),
    )


_SEX_ALIASES = {
    "L": "L",
    "LAKI-LAKI": "L",
    "LAKI LAKI": "L",
    "LAKI": "L",
    "PRIA": "L",
    "P": "P",
    "PEREMPUAN": "P",
    "WANITA": "P",
}
_SEX_WORD = {"L": "laki-laki", "P": "perempuan"}


def _as_date(value: date) -> date:
    # openpyxl yields datetime; datetime(…) == date(…) is always False, so drop the time.
    return value.date() if isinstance(value, datetime) else value


def check_nip_consistency(
    info: NipInfo,
    *,
    birth_date: date | None = None,
    sex: str | None = None,
    tmt_cpns: date | None = None,
) -> list[str]:
    """Compare a parsed NIP with the other columns of a personnel record.

    Returns Indonesian problem messages; an empty list means consistent. Arguments left
    as None (or a blank ``sex``) are not checked. For PPPK ``tmt_cpns`` is the start of
    the first agreement and only its year is compared.
    """
    problems: list[str] = []
    label = info.label

    if birth_date is not None:
        bd = _as_date(birth_date)
        if bd != info.birth_date:
            problems.append(
                f"Tanggal lahir {bd.isoformat()} tidak sama dengan tanggal lahir pada "
                f"{label} ({info.birth_date.isoformat()})"
            )

    if sex is not None and sex.strip():
        given = _SEX_ALIASES.get(" ".join(sex.strip().upper().split()))
        if given is None:
            problems.append(f"Jenis kelamin '{sex.strip()}' tidak dikenali (harus L atau P)")
        elif given != info.sex:
            digit = "1" if info.sex == "L" else "2"
            problems.append(
                f"Jenis kelamin {given} tidak sama dengan {label} (digit 15 = {digit}, "
                f"{_SEX_WORD[info.sex]})"
            )

    if tmt_cpns is not None:
        tmt = _as_date(tmt_cpns)
        if info.kind is NipKind.PNS:
            if (tmt.year, tmt.month) != (info.appointment_year, info.appointment_month):
                problems.append(
                    f"TMT CPNS {tmt.isoformat()} tidak sama dengan bulan TMT pada NIP "
                    f"({info.appointment_year}-{info.appointment_month:02d})"
                )
            elif tmt.day != 1:
                problems.append(
                    f"TMT CPNS {tmt.isoformat()} seharusnya tanggal 1 "
                    f"({info.appointment_year}-{info.appointment_month:02d}-01)"
                )
        elif tmt.year != info.appointment_year:
            problems.append(
                f"TMT PPPK {tmt.isoformat()} tidak sama dengan tahun pengangkatan pada "
                f"NI PPPK ({info.appointment_year})"
            )
    return problems


def format_nip(nip: str) -> str:
    """Display grouping: PNS ``8 6 1 3``, PPPK ``8 4 2 1 3``.

    Input that is not 18 digits is returned normalised but ungrouped, so this never
    raises inside a message template.
    """
    n = normalize_nip(nip)
    if len(n) != NIP_LENGTH or not _ASCII_DIGITS.fullmatch(n):
        return n
    if _layout(n[12:14]) is NipKind.PPPK:
        return f"{n[0:8]} {n[8:12]} {n[12:14]} {n[14]} {n[15:18]}"
    return f"{n[0:8]} {n[8:14]} {n[14]} {n[15:18]}"


def validate_nomor_non_pns(raw: str) -> str:
    """Validate an agency-issued Non-PNS number (e.g. ``TKK-2019-000123``).

    Returns the trimmed, upper-cased number or raises :class:`NipError`. Anything that
    is an 18-digit number once separators are removed is rejected, so that a PNS/PPPK
    is not registered as Non-PNS by mistake.
    """
    value = (raw or "").strip()
    if not value:
        raise NipError("Nomor Non-PNS belum diisi", "empty")
    digits = normalize_nip(value)
    if len(digits) == NIP_LENGTH and _ASCII_DIGITS.fullmatch(digits):
        raise NipError(
            "Nomor ini berformat NIP/NI PPPK (18 digit). PNS dan PPPK harus mendaftar "
            "dengan NIP, bukan sebagai Non-PNS",
            "looks_like_nip",
        )
    # Check the charset before upper-casing: str.upper() maps some non-ASCII letters
    # (e.g. 'ß' -> 'SS') into the allowed set.
    if not _NON_PNS_CHARS.fullmatch(value):
        bad = next(ch for ch in value if not _NON_PNS_CHARS.fullmatch(ch))
        shown = "spasi" if bad.isspace() else f"'{bad}'"
        raise NipError(
            "Nomor Non-PNS hanya boleh berisi huruf, angka, titik (.), garis miring (/) "
            f"dan tanda hubung (-); ditemukan {shown}",
            "non_pns_chars",
        )
    if not 3 <= len(value) <= 40:
        raise NipError(
            f"Nomor Non-PNS harus 3-40 karakter (diterima {len(value)} karakter)",
            "non_pns_length",
        )
    if not any(ch.isalnum() for ch in value):
        raise NipError(
            "Nomor Non-PNS harus memuat setidaknya satu huruf atau angka",
            "non_pns_chars",
        )
    return value.upper()
