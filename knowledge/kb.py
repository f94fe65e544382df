"""Loads, checks and serves the knowledge base: knowledge/entries/*.yaml against catalog.yaml.

check() works like a compiler: it never raises on content, it reports every problem with the
file, the field path and the line, in Indonesian, for the BKPSDM staff who edit the YAML.
Field paths count list items from 1 ("requirements[2]" is the second syarat, the one the bot
shows as "2."). load_kb() raises KBError instead. KnowledgeStore is what the bot holds: it
reloads without a restart and keeps the previous knowledge base live when an edit is broken.
"""
from __future__ import annotations

import difflib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from knowledge import render
from knowledge.model import Entry, LegalBasis, Requirement

ENTRIES_DIR = Path(__file__).parent / "entries"
CATALOG_PATH = Path(__file__).parent / "catalog.yaml"

# Fields whose text the user reads: the only ones `unconfirmed` may name.
CONTENT_FIELDS = ("title", "audience", "eligibility", "summary", "requirements", "steps", "where",
                  "duration", "cost", "legal_basis")
UNCONFIRMED_PHRASE = "perlu konfirmasi"
MAX_ITEM_CHARS = 300  # FORMAT.md: keep every requirement and step under 300 characters
SOP_ID_RE = re.compile(r"^sop-(\d+)$")
SERVICE_ID_PREFIX = "layanan-"

Severity = Literal["error", "warning"]
logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class SopInfo:
    title: str
    bidang: str


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    sop: list[int]
    audience: list[str]  # catalog `for:` (pns, non-pns)


@dataclass(frozen=True)
class Catalog:
    sop: Mapping[int, SopInfo]
    services: Mapping[str, ServiceInfo]
    bidang: Mapping[str, str]


# ----------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    path: str  # "entries/sop-39-kp.yaml", "catalog.yaml", or "entries" for the folder as a whole
    where: str  # field path "requirements[2].copies", or "baris 3, kolom 5" for YAML syntax
    message: str
    severity: Severity = "error"
    line: int | None = None  # 1-based line in the file, when known

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        text = f"{self.path}: "
        if self.where:
            text += f"{self.where}: "
        if self.severity == "warning":
            text += "peringatan: "
        text += self.message
        if self.line and not self.where.startswith("baris"):
            text += f" (baris {self.line})"
        return text


class KBError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.is_error]
        lines = [f"basis pengetahuan tidak valid: {len(errors)} kesalahan"]
        lines += [f"  {p}" for p in errors]
        super().__init__("\n".join(lines))


# ----------------------------------------------------------------------------- knowledge base


@dataclass(frozen=True, repr=False, eq=False)  # identity: each load is its own snapshot
class KnowledgeBase:
    """One validated, immutable snapshot; a reload builds a new one instead of changing this."""

    entries: Mapping[str, Entry]
    catalog: Catalog
    source_dir: Path
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    warnings: tuple[Problem, ...] = ()
    _by_sop: Mapping[int, tuple[str, ...]] = field(init=False)
    _by_service: Mapping[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        entries = dict(sorted(self.entries.items()))
        by_sop: dict[int, list[str]] = {}
        by_service: dict[str, list[str]] = {}
        for eid, entry in entries.items():
            for n in entry.sop:
                by_sop.setdefault(n, []).append(eid)
            if entry.service:
                by_service.setdefault(entry.service, []).append(eid)

        def sop_key(n: int) -> Callable[[str], tuple[int, str]]:
            # The entry named after the SOP first, overviews last.
            return lambda eid: (0 if eid == f"sop-{n:02d}" else
                                2 if eid.startswith(SERVICE_ID_PREFIX) else 1, eid)

        object.__setattr__(self, "entries", MappingProxyType(entries))
        object.__setattr__(self, "_by_sop", MappingProxyType(
            {n: tuple(sorted(ids, key=sop_key(n))) for n, ids in by_sop.items()}))
        object.__setattr__(self, "_by_service", MappingProxyType(
            {s: tuple(sorted(ids, key=lambda eid, s=s: (eid != SERVICE_ID_PREFIX + s, eid)))
             for s, ids in by_service.items()}))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def __repr__(self) -> str:
        return (f"<KnowledgeBase {len(self.entries)} entri dari {self.source_dir} "
                f"dimuat {self.loaded_at:%Y-%m-%d %H:%M:%S %Z}>")

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    def get(self, entry_id: str) -> Entry | None:
        return self.entries.get(entry_id)

    def by_sop(self, n: int) -> list[Entry]:
        """Entries covering SOP n: its own sop-NN entry first, service overviews last."""
        return [self.entries[eid] for eid in self._by_sop.get(n, ())]

    def by_service(self, sid: str) -> list[Entry]:
        """Entries of a service: the layanan- overview first, then the others by id."""
        return [self.entries[eid] for eid in self._by_service.get(sid, ())]

    def service_overview(self, sid: str) -> Entry | None:
        return self.entries.get(SERVICE_ID_PREFIX + sid)


# ----------------------------------------------------------------------------- YAML reading


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """Raised with an Indonesian problem text already."""


class _Strict:
    """Loader mixin: rejects duplicate keys and keeps dates as text.

    A duplicate key silently overwrites the first value in plain YAML, which hides an edit.
    Dates stay text so pydantic reports an impossible date on its field, with its path.
    """

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[str, Node] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value != "<<":
                    if key_node.value in seen:
                        first = seen[key_node.value].start_mark.line + 1
                        raise _DuplicateKeyError(
                            None, None,
                            f"kunci '{key_node.value}' ditulis dua kali (pertama di baris {first}); "
                            "hapus salah satunya",
                            key_node.start_mark)
                    seen[key_node.value] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _Loader(_Strict, yaml.SafeLoader):
    """Pure Python: its error messages are the ones translated below."""


# libyaml (when installed) parses several times faster; _Loader re-parses only a failing file.
_FastLoader = type("_FastLoader", (_Strict, getattr(yaml, "CSafeLoader", yaml.SafeLoader)), {})

for _cls in (_Loader, _FastLoader):
    _cls.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

# PyYAML's problems, said in Indonesian for the people who edit the files.
_YAML_PROBLEMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"mapping values are not allowed here"),
     ("tanda ':' tidak boleh di sini; teks yang berisi ': ' harus diberi tanda kutip, "
      "atau indentasi baris ini salah")),
    (re.compile(r"found character '\\t' that cannot start any token|tab character"),
     "karakter tab tidak boleh dipakai; gunakan spasi untuk indentasi"),
    (re.compile(r"found character '(.)' that cannot start any token"),
     "karakter '{0}' tidak boleh mengawali nilai; beri tanda kutip pada teksnya"),
    (re.compile(r"expected <block end>, but found|did not find expected key"),
     "indentasi tidak konsisten; periksa jumlah spasi di awal baris"),
    (re.compile(r"did not find expected '-' indicator"),
     "butir daftar harus diawali '- ' dengan indentasi yang sama"),
    (re.compile(r"could not find expected ':'"),
     "tanda ':' tidak ditemukan; setiap baris harus berbentuk 'kunci: nilai'"),
    (re.compile(r"found unexpected end of stream"),
     "berkas berakhir sebelum tanda kutip atau kurung ditutup"),
    (re.compile(r"found unknown escape character '?(.?)"),
     "karakter escape '\\{0}' tidak dikenal dalam teks berkutip ganda; pakai kutip tunggal"),
    (re.compile(r"expected ',' or '\]'"), "daftar [ ... ] tidak ditutup dengan benar"),
    (re.compile(r"expected ',' or '\}'"), "pasangan { ... } tidak ditutup dengan benar"),
    (re.compile(r"found undefined alias '?([^']*)"), "alias '*{0}' tidak didefinisikan"),
    (re.compile(r"but found another document"),
     "berkas hanya boleh berisi satu entri; hapus '---' tambahan"),
]


def _yaml_problem_text(exc: yaml.MarkedYAMLError) -> str:
    if isinstance(exc, _DuplicateKeyError):
        return str(exc.problem)
    raw = " ".join(x for x in (exc.context, exc.problem) if x)
    for pattern, text in _YAML_PROBLEMS:
        m = pattern.search(raw)
        if m:
            return text.format(*m.groups())
    return f"struktur YAML tidak valid ({raw})" if raw else "struktur YAML tidak valid"


def _parse(text: str, loader_cls: type) -> tuple[Node | None, Any]:
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _read_yaml(path: Path, display: str) -> tuple[Any, Node | None, list[Problem]]:
    """(data, node tree for line numbers, problems); data is None when unreadable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None, None, [Problem(display, "", "berkas tidak ditemukan")]
    except UnicodeDecodeError as exc:
        return None, None, [Problem(display, "", f"berkas harus disimpan sebagai UTF-8 "
                                                 f"(byte tidak sah di posisi {exc.start})")]
    except OSError as exc:
        return None, None, [Problem(display, "", f"berkas tidak bisa dibaca: {exc.strerror}")]
    try:
        try:
            node, data = _parse(text, _FastLoader)
        except yaml.YAMLError:
            node, data = _parse(text, _Loader)  # same verdict, better messages
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = "YAML tidak valid: " + _yaml_problem_text(exc)
        start = exc.context_mark
        if start is not None and mark is not None and start.line != mark.line:
            message += f" (bagian ini dimulai di baris {start.line + 1})"
        if mark is None:
            return None, None, [Problem(display, "", message)]
        where = f"baris {mark.line + 1}, kolom {mark.column + 1}"
        return None, None, [Problem(display, where, message, line=mark.line + 1)]
    except yaml.YAMLError as exc:
        return None, None, [Problem(display, "", f"YAML tidak valid: {exc}")]
    if node is None:
        return None, None, [Problem(display, "", "berkas kosong")]
    return data, node, []


def _line_at(root: Node | None, loc: Iterable[str | int]) -> int | None:
    """Line of the deepest node along loc (a key's own line for mapping steps)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == part:
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _fmt_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"  # people count from 1
        else:
            out += f".{part}" if out else str(part)
    return out


def _suggest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (maksud Anda '{close[0]}'?)" if close else ""


# ----------------------------------------------------------------------------- catalog loading


def load_catalog(path: Path | str = CATALOG_PATH) -> Catalog:
    catalog, problems = _load_catalog(Path(path))
    if catalog is None:
        raise KBError(problems)
    return catalog


def _load_catalog(path: Path) -> tuple[Catalog | None, list[Problem]]:
    display = path.name
    data, node, problems = _read_yaml(path, display)
    if problems:
        return None, problems

    def bad(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(display, _fmt_loc(loc), message, line=_line_at(node, loc)))

    if not isinstance(data, dict):
        return None, [Problem(display, "", "katalog harus berisi bidang, sop dan services")]
    bidang: dict[str, str] = {}
    raw_bidang = data.get("bidang")
    if not isinstance(raw_bidang, dict):
        bad(("bidang",), "wajib berupa pasangan kode: nama bidang")
    else:
        for code, name in raw_bidang.items():
            if not isinstance(code, str) or not isinstance(name, str) or not name.strip():
                bad(("bidang", str(code)), "kode dan nama bidang harus berupa teks")
            else:
                bidang[code] = name
    sops: dict[int, SopInfo] = {}
    raw_sop = data.get("sop")
    if not isinstance(raw_sop, dict):
        bad(("sop",), "wajib berupa pasangan nomor: {bidang, title}")
    else:
        for n, info in raw_sop.items():
            loc: tuple[str | int, ...] = ("sop", str(n))
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                bad(loc, "nomor SOP harus bilangan bulat positif")
            elif not isinstance(info, dict) or not isinstance(info.get("title"), str):
                bad(loc, "wajib berisi title (teks) dan bidang")
            elif info.get("bidang") not in bidang:
                bad(loc + ("bidang",), f"bidang '{info.get('bidang')}' tidak ada di daftar bidang")
            else:
                sops[n] = SopInfo(title=info["title"], bidang=info["bidang"])
    services: dict[str, ServiceInfo] = {}
    raw_services = data.get("services")
    if not isinstance(raw_services, dict):
        bad(("services",), "wajib berupa pasangan id layanan: {name, sop, for}")
    else:
        for sid, info in raw_services.items():
            loc = ("services", str(sid))
            if not isinstance(sid, str) or not isinstance(info, dict):
                bad(loc, "wajib berisi name, sop dan for")
                continue
            name, sop_list, audience = info.get("name"), info.get("sop"), info.get("for", [])
            if not isinstance(name, str) or not name.strip():
                bad(loc + ("name",), "wajib diisi (teks)")
                continue
            if not isinstance(sop_list, list) or not all(
                    isinstance(n, int) and not isinstance(n, bool) for n in sop_list):
                bad(loc + ("sop",), "harus daftar nomor SOP, mis. [46, 47]")
                continue
            unknown = [n for n in sop_list if n not in sops]
            if unknown and isinstance(raw_sop, dict):
                bad(loc + ("sop",), f"SOP {', '.join(map(str, unknown))} tidak ada di daftar sop")
                continue
            if not isinstance(audience, list) or not all(isinstance(a, str) for a in audience):
                bad(loc + ("for",), "harus daftar teks, mis. [pns, non-pns]")
                continue
            services[sid] = ServiceInfo(name=name, sop=list(sop_list), audience=list(audience))
    if problems:
        return None, problems
    return Catalog(sop=MappingProxyType(sops), services=MappingProxyType(services),
                   bidang=MappingProxyType(bidang)), []


# ----------------------------------------------------------------------------- schema messages

_SUBMODELS: dict[str, type[BaseModel]] = {"requirements": Requirement, "legal_basis": LegalBasis}


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The model that owns the last field of loc (Entry, Requirement or LegalBasis)."""
    if len(loc) >= 3 and isinstance(loc[0], str) and isinstance(loc[1], int):
        return _SUBMODELS.get(loc[0], Entry)
    return Entry


def _field_of(loc: tuple[str | int, ...]) -> tuple[str | None, Any]:
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None, None
    name = names[-1]
    return name, _model_at(loc).model_fields.get(name)


def _input_hint(value: Any) -> str:
    if isinstance(value, bool):
        return ("; YAML membaca yes/no/true/false/on/off sebagai nilai benar/salah, "
                "beri tanda kutip bila maksudnya teks")
    if isinstance(value, (int, float)):
        return "; beri tanda kutip bila maksudnya teks"
    if value is None:
        return "; nilainya kosong"
    if isinstance(value, list):
        return "; yang tertulis berupa daftar"
    if isinstance(value, dict):
        return "; yang tertulis berupa pasangan kunci: nilai (periksa tanda ':' di teks)"
    return ""


def _schema_message(err: Mapping[str, Any]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    loc = tuple(err["loc"])
    name, info = _field_of(loc)
    nullable = (info is not None and info.default is None and not isinstance(loc[-1], int))
    or_null = " (atau null bila belum dikonfirmasi)" if nullable else ""
    if kind == "missing":
        return "wajib diisi"
    if kind == "extra_forbidden":
        known = _model_at(loc).model_fields
        return f"kolom '{loc[-1]}' tidak dikenal{_suggest(str(loc[-1]), known)}"
    if kind == "string_too_short":
        if isinstance(value, str) and not value.strip():
            return "tidak boleh kosong"
        return f"terlalu pendek: minimal {ctx.get('min_length')} karakter (sekarang {len(value)})"
    if kind == "string_too_long":
        return f"terlalu panjang: maksimal {ctx.get('max_length')} karakter (sekarang {len(value)})"
    if kind == "too_short":
        return f"minimal {ctx.get('min_length')} butir (sekarang {ctx.get('actual_length')})"
    if kind == "too_long":
        return f"maksimal {ctx.get('max_length')} butir (sekarang {ctx.get('actual_length')})"
    if kind == "string_type":
        return "harus berupa teks" + _input_hint(value)
    if kind.startswith("int_") or kind in ("greater_than_equal", "less_than_equal",
                                          "greater_than", "less_than"):
        lo = hi = None
        for meta in getattr(info, "metadata", []) or []:
            lo = getattr(meta, "ge", lo)
            hi = getattr(meta, "le", hi)
        if lo is not None and hi is not None:
            return f"harus bilangan bulat {lo}-{hi}{or_null}"
        if name == "sop":
            return "harus nomor SOP (bilangan bulat), mis. 39"
        return "harus bilangan bulat" + or_null
    if kind.startswith("bool_"):
        return "harus true atau false" + or_null
    if kind == "list_type":
        return "harus berupa daftar, mis. [a, b] atau butir-butir '- ...'" + _input_hint(value)
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", " atau ")
        return f"harus salah satu dari {expected}{' atau null' if nullable else ''}"
    if kind.startswith("date_"):
        return "harus tanggal yang sah dengan format TTTT-BB-HH, mis. 2026-11-27"
    if kind == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return msg.removeprefix(f"{name}: ") if name else msg
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        sub = _SUBMODELS.get(str(loc[0])) if len(loc) == 2 else None
        if sub is not None:
            return "setiap butir harus berisi kolom " + ", ".join(sub.model_fields)
        return "harus berupa pasangan kunci: nilai"
    return str(err.get("msg", "tidak valid"))


# ----------------------------------------------------------------------------- entries


@dataclass
class _Record:
    display: str  # "entries/sop-39-kp.yaml"
    file_name: str
    node: Node | None
    entry: Entry | None = None
    raw_id: str | None = None  # id of an entry that failed the schema, to avoid cascades
    raw_sop: tuple[int, ...] = ()

    def problem(self, loc: tuple[str | int, ...], message: str,
                severity: Severity = "error") -> Problem:
        return Problem(self.display, _fmt_loc(loc), message, severity, _line_at(self.node, loc))


def _load_entries(entries_dir: Path, dir_display: str) -> tuple[list[_Record], list[Problem]]:
    if not entries_dir.is_dir():
        return [], [Problem(dir_display, "", f"folder entri tidak ditemukan: {entries_dir}")]
    records: list[_Record] = []
    problems: list[Problem] = []
    for path in sorted(entries_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue  # editors' temporary and hidden files
        display = f"{dir_display}/{path.name}"
        if path.suffix == ".yml":
            problems.append(Problem(display, "", "ekstensi harus .yaml (berkas .yml tidak dimuat)"))
            continue
        if path.suffix != ".yaml":
            continue
        data, node, read_problems = _read_yaml(path, display)
        record = _Record(display, path.name, node)
        if read_problems:
            problems += read_problems
            continue
        if not isinstance(data, dict):
            problems.append(Problem(display, "", "isi berkas harus berupa pasangan kunci: nilai "
                                                 "(id, title, service, ...)", line=1))
            continue
        try:
            record.entry = Entry.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                problems.append(record.problem(loc, _schema_message(err)))
            if isinstance(data.get("id"), str):
                record.raw_id = data["id"]
            sop = data.get("sop")
            if isinstance(sop, list):
                record.raw_sop = tuple(n for n in sop if isinstance(n, int))
        records.append(record)
    return records, problems


def _texts(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every text inside a field value, with its path."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _texts(getattr(value, name), loc + (name,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _texts(item, loc + (i,))


def _normalize_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w/]+", " ", text.casefold()).split())


def _check_entries(records: list[_Record], catalog: Catalog | None,
                   dir_display: str) -> tuple[dict[str, Entry], list[Problem]]:
    problems: list[Problem] = []
    by_id: dict[str, _Record] = {}
    for rec in records:
        if rec.entry is None:
            continue
        eid = rec.entry.id
        if eid in by_id:
            problems.append(rec.problem(("id",), f"id '{eid}' sudah dipakai di "
                                                 f"{by_id[eid].display}; setiap id harus unik"))
        else:
            by_id[eid] = rec
    entries = {eid: rec.entry for eid, rec in by_id.items() if rec.entry is not None}
    # Ids of files that failed the schema still count as existing, so one broken file does
    # not also produce "related not found" and "not covered" errors elsewhere.
    known_ids = set(by_id) | {r.raw_id for r in records if r.raw_id}

    seen_questions: dict[str, tuple[_Record, tuple[str | int, ...]]] = {}
    for rec in records:
        entry = rec.entry
        if entry is None or by_id.get(entry.id) is not rec:
            continue
        problems += _check_identity(rec, entry, catalog)
        if catalog is not None:
            problems += _check_catalog_refs(rec, entry, catalog)
        problems += _check_references(rec, entry, known_ids)
        problems += _check_unconfirmed(rec, entry)
        problems += _check_lengths(rec, entry)
        if entry.application is not None and entry.service != entry.application:
            problems.append(rec.problem(("application",), (
                f"application '{entry.application}' hanya boleh pada entri layanan "
                f"{entry.application} (service: {entry.application}); entri ini "
                f"service: {entry.service or 'null'}")))
        for i, question in enumerate(entry.questions):
            key = _normalize_question(question)
            if key in seen_questions:
                other, other_loc = seen_questions[key]
                place = (_fmt_loc(other_loc) if other is rec
                         else f"{other.display} {_fmt_loc(other_loc)}")
                problems.append(rec.problem(("questions", i), (
                    f"pertanyaan contoh '{question}' sama dengan {place}; pakai pertanyaan lain "
                    "agar pencarian bisa membedakan entri"), "warning"))
            else:
                seen_questions[key] = (rec, ("questions", i))

    if catalog is not None:
        covered = {n for e in entries.values() for n in e.sop}
        covered |= {n for r in records if r.entry is None for n in r.raw_sop}
        for n, info in catalog.sop.items():
            if n not in covered:
                problems.append(Problem(dir_display, "", (
                    f"SOP {n} '{info.title}' belum dicakup entri mana pun "
                    f"(buat {dir_display}/sop-{n:02d}-<nama-singkat>.yaml)")))
        for sid, info in catalog.services.items():
            oid = SERVICE_ID_PREFIX + sid
            if oid not in known_ids:
                problems.append(Problem(dir_display, "", (
                    f"layanan '{sid}' ({info.name}) belum punya entri ringkasan {oid} "
                    f"(buat {dir_display}/{oid}-<nama-singkat>.yaml)")))
    return entries, problems


def _check_identity(rec: _Record, entry: Entry, catalog: Catalog | None) -> list[Problem]:
    problems = []
    eid = entry.id
    stem = rec.file_name.removesuffix(".yaml")
    if stem != eid and not stem.startswith(eid + "-"):
        problems.append(rec.problem(("id",), (
            f"nama berkas '{rec.file_name}' harus diawali id '{eid}' "
            f"(mis. {eid}-<nama-singkat>.yaml)")))
    if eid.startswith("sop-"):
        m = SOP_ID_RE.match(eid)
        if m is None:
            problems.append(rec.problem(("id",), "id berawalan 'sop-' harus sop-NN, mis. sop-39"))
        else:
            n = int(m.group(1))
            if eid != f"sop-{n:02d}":
                problems.append(rec.problem(("id",), (
                    f"nomor SOP pada id ditulis dua angka: sop-{n:02d}")))
            if n not in entry.sop:
                problems.append(rec.problem(("sop",), (
                    f"entri {eid} harus mencakup SOP {n} (sop: {sorted(entry.sop)})")))
    if eid.startswith(SERVICE_ID_PREFIX) and catalog is not None:
        sid = eid.removeprefix(SERVICE_ID_PREFIX)
        service = catalog.services.get(sid)
        if service is None:
            problems.append(rec.problem(("id",), (
                f"layanan '{sid}' tidak ada di katalog{_suggest(sid, catalog.services)}")))
        else:
            if entry.service != sid:
                problems.append(rec.problem(("service",), (
                    f"entri {eid} harus service: {sid} (sekarang: {entry.service or 'null'})")))
            if sorted(entry.sop) != sorted(service.sop):
                missing = sorted(set(service.sop) - set(entry.sop))
                extra = sorted(set(entry.sop) - set(service.sop))
                detail = []
                if missing:
                    detail.append("kurang " + ", ".join(map(str, missing)))
                if extra:
                    detail.append("kelebihan " + ", ".join(map(str, extra)))
                problems.append(rec.problem(("sop",), (
                    f"harus sama dengan daftar SOP layanan '{sid}' di katalog: {service.sop}"
                    + (f" ({'; '.join(detail)})" if detail else ""))))
    return problems


def _check_catalog_refs(rec: _Record, entry: Entry, catalog: Catalog) -> list[Problem]:
    problems = []
    seen: set[int] = set()
    for i, n in enumerate(entry.sop):
        if n not in catalog.sop:
            valid = f"{min(catalog.sop)}-{max(catalog.sop)}" if catalog.sop else "-"
            problems.append(rec.problem(("sop", i), (
                f"SOP {n} tidak ada di katalog (nomor yang sah: {valid})")))
        if n in seen:
            problems.append(rec.problem(("sop", i), f"SOP {n} disebut dua kali"))
        seen.add(n)
    service = catalog.services.get(entry.service) if entry.service else None
    if entry.service is not None and service is None:
        problems.append(rec.problem(("service",), (
            f"layanan '{entry.service}' tidak ada di katalog"
            f"{_suggest(entry.service, catalog.services)}")))
    if entry.bidang is not None and entry.bidang not in catalog.bidang:
        problems.append(rec.problem(("bidang",), (
            f"bidang '{entry.bidang}' tidak ada di katalog "
            f"(yang sah: {', '.join(catalog.bidang)})")))
    # Consistency with the catalog: likely slips, but not always wrong, hence warnings.
    if service is not None:
        outside = [n for n in entry.sop if n in catalog.sop and n not in service.sop]
        if outside:
            problems.append(rec.problem(("sop",), (
                f"SOP {', '.join(map(str, outside))} bukan bagian layanan '{entry.service}' "
                f"di katalog ({service.sop})"), "warning"))
    sop_bidang = {catalog.sop[n].bidang for n in entry.sop if n in catalog.sop}
    if len(sop_bidang) == 1 and entry.bidang in catalog.bidang:
        expected = next(iter(sop_bidang))
        if entry.bidang != expected:
            problems.append(rec.problem(("bidang",), (
                f"bidang '{entry.bidang}' berbeda dengan bidang SOP-nya di katalog "
                f"('{expected}')"), "warning"))
    return problems


def _check_references(rec: _Record, entry: Entry, known_ids: set[str]) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for i, rid in enumerate(entry.related):
        if rid == entry.id:
            problems.append(rec.problem(("related", i), (
                f"'{rid}' menunjuk entri ini sendiri; hapus dari related")))
        elif rid not in known_ids:
            # Only suggest for likely typos: "sop-62" is not a misspelt "sop-24".
            hint = "" if SOP_ID_RE.match(rid) else _suggest(rid, known_ids, cutoff=0.85)
            problems.append(rec.problem(("related", i), f"id '{rid}' tidak ditemukan{hint}"))
        elif rid in seen:
            problems.append(rec.problem(("related", i), f"'{rid}' disebut dua kali", "warning"))
        seen.add(rid)
    return problems


def _check_unconfirmed(rec: _Record, entry: Entry) -> list[Problem]:
    problems = []
    for i, name in enumerate(entry.unconfirmed):
        if name not in Entry.model_fields:
            problems.append(rec.problem(("unconfirmed", i), (
                f"kolom '{name}' tidak ada{_suggest(name, CONTENT_FIELDS)}; "
                f"yang boleh: {', '.join(CONTENT_FIELDS)}")))
        elif name not in CONTENT_FIELDS:
            problems.append(rec.problem(("unconfirmed", i), (
                f"kolom '{name}' bukan isi jawaban; yang boleh: {', '.join(CONTENT_FIELDS)}")))
    for name in CONTENT_FIELDS:
        if name in entry.unconfirmed:
            continue
        for loc, text in _texts(getattr(entry, name), (name,)):
            if UNCONFIRMED_PHRASE in text.lower():
                problems.append(rec.problem(loc, (
                    f"berisi \"{UNCONFIRMED_PHRASE}\" tetapi '{name}' tidak tercantum "
                    "di unconfirmed"), "warning"))
                break  # one warning per field is enough to fix it
    return problems


def _check_lengths(rec: _Record, entry: Entry) -> list[Problem]:
    problems = []
    for i, req in enumerate(entry.requirements):
        if len(req.item) > MAX_ITEM_CHARS:
            problems.append(rec.problem(("requirements", i, "item"), (
                f"terlalu panjang untuk dibaca di ponsel: {len(req.item)} karakter "
                f"(usahakan di bawah {MAX_ITEM_CHARS}; pindahkan rincian ke note)"), "warning"))
    for i, step in enumerate(entry.steps):
        if len(step) > MAX_ITEM_CHARS:
            problems.append(rec.problem(("steps", i), (
                f"terlalu panjang untuk dibaca di ponsel: {len(step)} karakter "
                f"(usahakan di bawah {MAX_ITEM_CHARS}; pecah menjadi dua langkah)"), "warning"))
    return problems


_PIECE_FIELDS = {render.CARD: "summary", **render.SECTION_FIELDS}
_PIECE_LABELS = {render.CARD: "kartu jawaban", **render.SECTION_LABELS}


def _check_rendering(rec: _Record, entry: Entry, lookup: render.EntryLookup) -> list[Problem]:
    """Every message and button the bot builds for the entry must be accepted by Telegram."""
    problems = []
    for name, text in render.pieces(entry, html=True).items():
        n = render.visible_length(text, html=True)
        if n > render.MAX_MESSAGE_CHARS:
            field_name = _PIECE_FIELDS[name]
            hint = ("persingkat summary, eligibility, where, duration atau cost"
                    if name == render.CARD else f"persingkat {field_name}")
            problems.append(rec.problem((field_name,), (
                f"pesan '{_PIECE_LABELS[name]}' terlalu panjang untuk Telegram: {n} karakter "
                f"(maksimal {render.MAX_MESSAGE_CHARS}); {hint}")))
    for data in render.all_callback_data(lookup, entry):
        size = len(data.encode("utf-8"))
        if size > render.MAX_CALLBACK_BYTES:
            problems.append(rec.problem(("id",), (
                f"data tombol '{data}' {size} byte (maksimal {render.MAX_CALLBACK_BYTES}); "
                "perpendek id")))
    return problems


# ----------------------------------------------------------------------------- public API


def _rank(problem: Problem, catalog_display: str, dir_display: str) -> tuple[int, str, int]:
    if problem.path == catalog_display:
        rank = 0
    elif problem.path == dir_display:
        rank = 2  # folder-wide problems (coverage) after the files
    else:
        rank = 1
    return rank, problem.path, problem.line or 0


def check(entries_dir: Path | str = ENTRIES_DIR,
          catalog_path: Path | str = CATALOG_PATH) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Validate everything; (knowledge base, problems). The KB is None when any error exists.

    Never raises on content: unreadable files, bad YAML and schema errors are problems too.
    """
    entries_dir, catalog_path = Path(entries_dir), Path(catalog_path)
    dir_display = entries_dir.name
    catalog, problems = _load_catalog(catalog_path)
    records, load_problems = _load_entries(entries_dir, dir_display)
    problems += load_problems
    entries, entry_problems = _check_entries(records, catalog, dir_display)
    problems += entry_problems

    empty = Catalog(sop=MappingProxyType({}), services=MappingProxyType({}),
                    bidang=MappingProxyType({}))
    draft = KnowledgeBase(entries=entries, catalog=catalog or empty, source_dir=entries_dir)
    by_record = {id(rec.entry): rec for rec in records if rec.entry is not None}
    for entry in entries.values():
        problems += _check_rendering(by_record[id(entry)], entry, draft)

    problems.sort(key=lambda p: _rank(p, catalog_path.name, dir_display))
    if catalog is None or any(p.is_error for p in problems):
        return None, problems
    kb = KnowledgeBase(entries=entries, catalog=catalog, source_dir=entries_dir,
                       warnings=tuple(problems))
    return kb, problems


def read_entries(entries_dir: Path | str = ENTRIES_DIR) -> tuple[list[Entry], list[Problem]]:
    """Every entry that passes the schema, without the cross-entry and catalog checks.

    For tools that look at single entries (and tests) while the KB as a whole is incomplete.
    """
    entries_dir = Path(entries_dir)
    records, problems = _load_entries(entries_dir, entries_dir.name)
    return [r.entry for r in records if r.entry is not None], problems


def load_kb(entries_dir: Path | str = ENTRIES_DIR,
            catalog_path: Path | str = CATALOG_PATH) -> KnowledgeBase:
    """The validated knowledge base; raises KBError listing every error."""
    kb, problems = check(entries_dir, catalog_path)
    if kb is None:
        raise KBError([p for p in problems if p.is_error])
    return kb


class KnowledgeStore:
    """The live knowledge base of the running bot.

    reload() builds and validates a complete new KB (and, through on_load, e.g. the search
    index for it) before one assignment swaps both in; readers never see a half-loaded state,
    and a broken edit leaves the previous KB serving. Reloads are serialised by a lock.
    """

    def __init__(self, entries_dir: Path | str = ENTRIES_DIR,
                 catalog_path: Path | str = CATALOG_PATH,
                 on_load: Callable[[KnowledgeBase], Any] | None = None) -> None:
        self.entries_dir = Path(entries_dir)
        self.catalog_path = Path(catalog_path)
        self._on_load = on_load
        self._lock = threading.Lock()
        kb = load_kb(self.entries_dir, self.catalog_path)  # the bot must not start without one
        self._state: tuple[KnowledgeBase, Any] = (kb, on_load(kb) if on_load else None)

    @property
    def current(self) -> KnowledgeBase:
        return self._state[0]

    @property
    def index(self) -> Any:
        """What on_load returned for the current KB (e.g. the search index); None without one."""
        return self._state[1]

    def snapshot(self) -> tuple[KnowledgeBase, Any]:
        """(KB, index) from the same load, for callers that need both consistently."""
        return self._state

    def reload(self) -> list[Problem]:
        """Errors (+ warnings) when the KB stays as it was; only warnings after a swap."""
        with self._lock:
            kb, problems = check(self.entries_dir, self.catalog_path)
            if kb is None:
                logger.warning("knowledge base reload rejected: %d errors",
                               sum(p.is_error for p in problems))
                return problems
            index = None
            if self._on_load is not None:
                try:
                    index = self._on_load(kb)
                except Exception as exc:  # whatever failed, a KB without its index must not go live
                    logger.exception("knowledge base reload rejected: on_load failed")
                    return problems + [Problem(
                        self.entries_dir.name, "",
                        f"basis pengetahuan baru tidak dipakai: pemrosesan setelah memuat gagal "
                        f"({type(exc).__name__}: {exc})")]
            self._state = (kb, index)
            logger.info("knowledge base reloaded: %d entries, %d warnings", len(kb), len(problems))
            return problems
