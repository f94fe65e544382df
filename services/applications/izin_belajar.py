"""Izin belajar as an application type on the shared workflow engine.

Eligibility from the personnel data is services.izin_belajar.check; this module adds what the
form tells: the study programme's accreditation, the lecture schedule (which must lie outside
the unit's working hours) and one stored document per required item. The required items are
the syarat of the knowledge-base entry for SOP 62, passed in by the caller as
data["documents"] (services never read the knowledge base), so what the bot publishes and what
it enforces are the same list. On approval the Surat Izin Belajar is issued as a PDF."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import izin_belajar as rules
from services.applications.engine import OPEN, ApplicationType, Context, Status, WorkflowError, esc
from services.cuti.calendar import DAY_NAMES, parse_work_days
from services.cuti.quote import unit_chain_work_days
from services.izin_belajar import BASIS, Problem
from services.models import Application, ApplicationEvent, ApplicationFile, Employee

TYPE = "izin-belajar"
JENJANG_CHOICES = ("D3", "D4", "S1", "S2", "S3")
# Refusals that concern the person, whatever level they ask for (shown before the form starts).
PERSON_CODES = {"pppk", "bukan-asn", "cpns", "masa-kerja", "tmt-kosong"}
MAX_TEXT = 200
SE_2013 = "SE MenPANRB 04/2013"  # the study-permit conditions below are from its list


# ---- documents ------------------------------------------------------------------------------
def _slug(label: str) -> str:
    words = re.findall(r"[a-z0-9]+", label.lower())
    out = ""
    for w in words:  # whole words up to 40 characters: short enough for button data, still readable
        if len(out) + len(w) + 1 > 40:
            break
        out = f"{out}-{w}" if out else w
    return out or "dokumen"


def document_keys(labels: list[str]) -> list[tuple[str, str]]:
    """(doc_key, label) for each required document, in order. The key is derived from the label
    (so an application keeps its own list even when the published one changes later)."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for label in labels:
        key, n = _slug(label), 2
        while key in seen:
            key, n = f"{_slug(label)}-{n}", n + 1
        seen.add(key)
        out.append((key, label))
    return out


def missing_documents(data: dict[str, Any]) -> list[tuple[str, str]]:
    files = data.get("files") or {}
    return [(k, label) for k, label in document_keys(list(data.get("documents") or [])) if k not in files]


# ---- accreditation --------------------------------------------------------------------------
# What the form offers; the newer grades are mapped to letters by city config (akreditasi_setara).
AKREDITASI_CHOICES = ("A", "B", "C", "Unggul", "Baik Sekali", "Baik", "Belum terakreditasi")
_LETTERS = ("A", "B", "C")


def normalize_akreditasi(value: str) -> str | None:
    v = " ".join(str(value or "").split()).lower()
    for choice in AKREDITASI_CHOICES:
        if v == choice.lower():
            return choice
    if v in ("belum", "tidak terakreditasi", "belum ada", "-"):
        return "Belum terakreditasi"
    return None


def check_akreditasi(value: str, config: dict[str, Any]) -> Problem | None:
    choice = normalize_akreditasi(value)
    minimum = str(config.get("min_akreditasi") or "B").upper()
    rule = f"syaratnya program studi terakreditasi paling rendah {minimum} ({SE_2013})"
    if choice is None:
        return Problem("akreditasi-tidak-dikenal", f"Akreditasi \"{value}\" tidak dikenal; pilih A, B, C, Unggul, "
                                                   "Baik Sekali, Baik, atau Belum terakreditasi.")
    if choice == "Belum terakreditasi":
        return Problem("akreditasi-belum",
                       f"Program studi yang belum terakreditasi tidak dapat diberi izin belajar: {rule}.")
    letter = choice if choice in _LETTERS else (config.get("akreditasi_setara") or {}).get(choice)
    if letter not in _LETTERS:
        return Problem("akreditasi-tidak-dikenal", f"Peringkat akreditasi {choice} belum diatur padanannya; "
                                                   "mohon konfirmasi ke BKPSDM.")
    if minimum in _LETTERS and _LETTERS.index(letter) > _LETTERS.index(minimum):
        same = f" (setara {letter})" if letter != choice else ""
        return Problem("akreditasi-rendah", f"Akreditasi {choice}{same} belum memenuhi: {rule}.")
    return None


# ---- schedule -------------------------------------------------------------------------------
class JadwalError(ValueError):
    """A schedule the bot cannot read; the message is for the user."""


@dataclass(frozen=True)
class Slot:
    days: tuple[int, ...]  # ISO weekdays, 1 = Senin
    start: str  # "18:30"
    end: str

    def as_json(self) -> dict[str, Any]:
        return {"days": list(self.days), "start": self.start, "end": self.end}


_DAY_WORDS = {"senin": 1, "selasa": 2, "rabu": 3, "kamis": 4, "jumat": 5, "sabtu": 6, "minggu": 7, "ahad": 7}
_TOKEN = re.compile(
    r"(?P<time>(?P<h1>\d{1,2})(?:[.:](?P<m1>\d{2}))?\s*-\s*(?P<h2>\d{1,2})(?:[.:](?P<m2>\d{2}))?)"
    r"|(?P<weekend>akhir\s+pekan|weekend)"
    r"|(?P<day>senin|selasa|rabu|kamis|jumat|sabtu|minggu|ahad)"
    r"|(?P<dash>-)"
)
EXAMPLES = "Sabtu 08.00-16.00 atau Senin-Jumat 18.30-21.00; Sabtu 08.00-12.00"


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _hhmm(h: str, m: str | None) -> str:
    hh, mm = int(h), int(m or 0)
    if hh > 24 or mm > 59 or (hh == 24 and mm):
        raise JadwalError(f"Jam {h}.{m or '00'} tidak valid.")
    return f"{hh:02d}:{mm:02d}"


def parse_jadwal(text: str) -> list[Slot]:
    """Days and hours typed the Indonesian way: "Sabtu-Minggu 08.00-16.00",
    "Senin, Rabu 19.00 s.d. 21.30; Sabtu 08.00-12.00", "akhir pekan pukul 8-15"."""
    t = (text or "").lower().replace("'", "").replace("’", "")
    # "s.d.", "s/d", "sampai (dengan)", "hingga" and long dashes all mean a range.
    t = re.sub(r"(?<![a-z])(s\.\s?d\.?|s/d|sd|sampai(?:\s+dengan)?|hingga)(?![a-z])|[–—]", " - ", t)
    events: list[tuple[str, Any]] = []
    for m in _TOKEN.finditer(t):
        if m.group("time"):
            start, end = _hhmm(m.group("h1"), m.group("m1")), _hhmm(m.group("h2"), m.group("m2"))
            if _minutes(end) <= _minutes(start):
                raise JadwalError(f"Jam selesai harus setelah jam mulai ({start.replace(':', '.')}-"
                                  f"{end.replace(':', '.')}).")
            events.append(("time", (start, end)))
        elif m.group("weekend"):
            events += [("day", 6), ("dash", None), ("day", 7)]
        elif m.group("day"):
            events.append(("day", _DAY_WORDS[m.group("day")]))
        else:
            events.append(("dash", None))
    slots: list[Slot] = []
    days: list[int] = []
    last_days: list[int] = []
    pending_time: tuple[str, str] | None = None
    for i, (kind, value) in enumerate(events):
        if kind == "day":
            if days and i >= 2 and events[i - 1][0] == "dash" and events[i - 2][0] == "day":
                lo = events[i - 2][1]
                span = range(lo, value + 1) if lo <= value else [*range(lo, 8), *range(1, value + 1)]
                days += [d for d in span if d not in days]
            elif value not in days:
                days.append(value)
            if pending_time and (i + 1 == len(events) or events[i + 1][0] != "dash"):
                # "08.00-12.00 Sabtu": the hours came first.
                slots.append(Slot(tuple(sorted(days)), *pending_time))
                last_days, days, pending_time = days, [], None
        elif kind == "time":
            if days:
                slots.append(Slot(tuple(sorted(days)), *value))
                last_days, days = days, []
            elif last_days:  # "Sabtu 08.00-12.00 dan 13.00-16.00"
                slots.append(Slot(tuple(sorted(last_days)), *value))
            else:
                pending_time = value
    if days or pending_time or not slots:
        raise JadwalError(f"Mohon tuliskan hari dan jamnya, misalnya: {EXAMPLES}.")
    return slots


def slots_from_data(raw: Any) -> list[Slot]:
    try:
        slots = [Slot(tuple(int(d) for d in s["days"]), _hhmm(*s["start"].split(":")), _hhmm(*s["end"].split(":")))
                 for s in raw]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise WorkflowError("jadwal-kosong", "Jadwal kuliah belum diisi dengan benar.") from None
    if not slots or any(not s.days or not set(s.days) <= set(range(1, 8)) or _minutes(s.end) <= _minutes(s.start)
                        for s in slots):
        raise WorkflowError("jadwal-kosong", "Jadwal kuliah belum diisi dengan benar.")
    return slots


def _day_list(days: tuple[int, ...] | list[int]) -> str:
    days = sorted(set(days))
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts: list[str] = []
    for r in runs:  # three or more days in a row read as a range, fewer as names
        parts += [f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}"] if len(r) >= 3 else [DAY_NAMES[d] for d in r]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " dan " + parts[-1]


def _jam(hhmm: str) -> str:
    return hhmm.replace(":", ".")


def format_jadwal(slots: list[Slot]) -> str:
    """ "Senin-Jumat pukul 18.30-21.00; Sabtu dan Minggu pukul 08.00-12.00" (as on the letter)."""
    return "; ".join(f"{_day_list(s.days)} pukul {_jam(s.start)}-{_jam(s.end)}" for s in slots)


def working_hours(config: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """Working hours per ISO weekday from city config (working_hours, working_hours_by_day)."""
    def span(text: str) -> tuple[str, str]:
        a, _, b = str(text).partition("-")
        return _hhmm(*a.strip().replace(".", ":").split(":")), _hhmm(*b.strip().replace(".", ":").split(":"))

    default = span(config.get("working_hours") or "07:30-16:00")
    out = {d: default for d in range(1, 8)}
    for name, hours in (config.get("working_hours_by_day") or {}).items():
        day = _DAY_WORDS.get(str(name).lower().replace("'", ""))
        if day:
            out[day] = span(hours)
    return out


def working_hours_text(work_days: frozenset[int], config: dict[str, Any]) -> str:
    """ "Senin-Kamis pukul 07.30-16.00, Jumat pukul 07.30-16.30" for the unit's working days."""
    hours = working_hours(config)
    groups: dict[tuple[str, str], list[int]] = {}
    for d in sorted(work_days):
        groups.setdefault(hours[d], []).append(d)
    return "; ".join(f"{_day_list(days)} pukul {_jam(a)}-{_jam(b)}" for (a, b), days in groups.items())


def check_jadwal(slots: list[Slot], work_days: frozenset[int], config: dict[str, Any]) -> list[Problem]:
    """Lectures must lie outside working hours on the unit's working days (one problem per slot)."""
    hours = working_hours(config)
    problems: list[Problem] = []
    for s in slots:
        clashes = [d for d in s.days if d in work_days
                   and _minutes(s.start) < _minutes(hours[d][1]) and _minutes(s.end) > _minutes(hours[d][0])]
        if clashes:
            spans = sorted({hours[d] for d in clashes})
            jam = " / ".join(f"{_jam(a)}-{_jam(b)}" for a, b in spans)
            problems.append(Problem(
                "jadwal-jam-kerja",
                f"Jadwal kuliah {_day_list(clashes)} pukul {_jam(s.start)}-{_jam(s.end)} jatuh pada jam kerja "
                f"unit Anda (pukul {jam}). Izin belajar hanya untuk kuliah di luar jam kerja "
                f"({SE_2013}; jam kerja menurut Perpres 21/2023)."))
    return problems


async def unit_work_weekdays(session: AsyncSession, emp: Employee) -> frozenset[int]:
    return parse_work_days(await unit_chain_work_days(session, emp.unit_id))


# ---- eligibility before the form ------------------------------------------------------------
@dataclass
class Precheck:
    blocking: list[Problem]  # about the person: nothing can be filed
    jenjang: list[str]  # the levels this person may ask for
    open_application: Application | None = None

    @property
    def ok(self) -> bool:
        return not self.blocking and bool(self.jenjang) and self.open_application is None


async def open_application(session: AsyncSession, employee_id: int) -> Application | None:
    return (await session.execute(select(Application).where(
        Application.employee_id == employee_id, Application.type == TYPE, Application.status.in_(list(OPEN)))
        .order_by(Application.id.desc()).limit(1))).scalar_one_or_none()


async def precheck(session: AsyncSession, ctx: Context, emp: Employee) -> Precheck:
    """Whether this person may start a request at all, and for which levels."""
    config = rules.load_config(ctx.agency_dir)
    results = {j: rules.check(emp, j, today=ctx.today(), documents=[], config=config) for j in JENJANG_CHOICES}
    first = next(iter(results.values()))
    blocking = [p for p in first.problems if p.code in PERSON_CODES]
    allowed = [j for j, r in results.items() if r.eligible]
    if not blocking and not allowed:
        above = ", ".join((config.get("next_levels") or {}).get(emp.education or "", [])) or "-"
        blocking = [Problem("jenjang", f"Dari pendidikan terakhir Anda ({emp.education or '-'}) izin belajar hanya "
                                       f"untuk satu jenjang di atasnya ({above}), dan jenjang itu belum dapat diajukan "
                                       f"({BASIS}).")]
    return Precheck(blocking, allowed if not blocking else [], await open_application(session, emp.id))


def open_application_message(app: Application) -> str:
    return (f"Anda masih memiliki permohonan izin belajar {app.number} yang sedang diproses. Satu permohonan "
            "dalam satu waktu: tunggu keputusannya, atau batalkan dulu lewat menu Status pengajuan.")


# ---- the type -------------------------------------------------------------------------------
class IzinBelajarType(ApplicationType):
    name = TYPE
    title = "permohonan izin belajar"

    async def check_submit(self, session: AsyncSession, ctx: Context, emp: Employee,
                           data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        documents = [str(x) for x in data.get("documents") or []]
        if not documents:
            raise WorkflowError("syarat-kosong", "Daftar dokumen persyaratan izin belajar sedang tidak tersedia; "
                                                 "mohon hubungi BKPSDM.")
        config = rules.load_config(ctx.agency_dir)
        jenjang = str(data.get("jenjang") or "").strip().upper()
        result = rules.check(emp, jenjang, today=ctx.today(), documents=documents, config=config)
        if not result.eligible:
            raise WorkflowError(result.problems[0].code, " ".join(p.message for p in result.problems))
        existing = await open_application(session, emp.id)
        if existing is not None:
            raise WorkflowError("masih-diproses", open_application_message(existing))
        for key, name in (("program_studi", "program studi"), ("perguruan_tinggi", "perguruan tinggi")):
            value = " ".join(str(data.get(key) or "").split())
            if not value:
                raise WorkflowError(f"{key.replace('_', '-')}-kosong", f"Mohon isi nama {name}.")
            if len(value) > MAX_TEXT:
                raise WorkflowError(f"{key.replace('_', '-')}-panjang", f"Nama {name} terlalu panjang.")
            data[key] = value
        problem = check_akreditasi(str(data.get("akreditasi") or ""), config)
        if problem:
            raise WorkflowError(problem.code, problem.message)
        data["akreditasi"] = normalize_akreditasi(data["akreditasi"])
        slots = slots_from_data(data.get("jadwal"))
        clashes = check_jadwal(slots, await unit_work_weekdays(session, emp), config)
        if clashes:
            raise WorkflowError(clashes[0].code, " ".join(p.message for p in clashes))
        data["jadwal"] = [s.as_json() for s in slots]
        data["jadwal_text"] = format_jadwal(slots)
        await self._check_files(session, emp, data)
        data["jenjang"] = jenjang
        data["documents"] = documents
        return data

    @staticmethod
    async def _check_files(session: AsyncSession, emp: Employee, data: dict[str, Any]) -> None:
        files = data.get("files") or {}
        keys = document_keys(list(data["documents"]))
        missing = [label for key, label in keys if key not in files]
        if missing:
            raise WorkflowError("lampiran-kurang", "Lampiran belum lengkap: " + "; ".join(missing) + ".")
        known = {k for k, _ in keys}
        if set(files) - known:
            raise WorkflowError("lampiran-tidak-sah", "Ada lampiran yang tidak diminta; mohon ulangi pengisian.")
        for key, file_id in files.items():
            f = await session.get(ApplicationFile, file_id) if isinstance(file_id, int) else None
            if (f is None or f.employee_id != emp.id or f.doc_key != key or f.superseded
                    or f.application_id is not None):
                raise WorkflowError("lampiran-tidak-sah", "Lampiran tidak ditemukan; mohon unggah ulang.")

    def describe(self, app: Application) -> list[str]:
        d = app.data
        lines = [f"Jenjang: {esc(d.get('jenjang', '-'))}",
                 f"Program studi: {esc(d.get('program_studi', '-'))}",
                 f"Perguruan tinggi: {esc(d.get('perguruan_tinggi', '-'))}",
                 f"Akreditasi: {esc(d.get('akreditasi', '-'))}",
                 f"Jadwal kuliah: {esc(d.get('jadwal_text', '-'))}"]
        if d.get("files"):
            lines.append(f"Lampiran: {len(d['files'])} dari {len(d.get('documents') or [])} dokumen")
        return lines

    async def on_final(self, session: AsyncSession, ctx: Context, app: Application, emp: Employee,
                       status: Status, event: ApplicationEvent) -> None:
        if status == Status.APPROVED:
            await issue_letter(session, ctx, app, emp)


async def issue_letter(session: AsyncSession, ctx: Context, app: Application, emp: Employee) -> None:
    from services import letters
    from services.applications import letter_issue as li

    d = app.data
    today = ctx.today()
    considerations = d.get("considerations") or {}
    decided = considerations.get("pejabat") or next(reversed(considerations.values()), None)
    decision = await li.decision_of(session, decided, with_option=False)
    assert decision is not None, "an approved izin belajar has a deciding step"
    fields = dict(number=app.number, issued_on=today, agency=li.agency_of(ctx),
                  employee=await li.letter_employee(session, emp, today), jenjang=d["jenjang"],
                  program_studi=d["program_studi"], perguruan_tinggi=d["perguruan_tinggi"],
                  akreditasi=d["akreditasi"], jadwal=d.get("jadwal_text") or "-", decision=decision)
    await li.issue(session, ctx, app, emp, lambda code, hint, url: letters.render_izin_belajar_letter(
        letters.IzinBelajarLetter(**fields, verify_code=code, verify_hint=hint, verify_url=url)))
