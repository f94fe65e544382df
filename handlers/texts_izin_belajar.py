"""Texts of the izin belajar form (handlers/izin_belajar.py), in one place for BKPSDM staff to
review. HTML (the bot's parse mode); everything interpolated is escaped here."""
from __future__ import annotations

from html import escape as e
from typing import Any

from services.agency import Agency

BTN_BACK = "‹ Kembali"
BTN_CANCEL = "✖️ Batal"
BTN_SEND = "✅ Kirim"
BTN_EDIT = "✏️ Ubah"
BTN_TO_SUMMARY = "‹ Kembali ke ringkasan"
BTN_RESUME = "Lanjutkan isian"
BTN_RESTART = "Mulai dari awal"
BTN_START = "🎓 Ajukan izin belajar"
EDIT_FIELDS = {"j": "Jenjang", "p": "Program studi", "k": "Perguruan tinggi", "a": "Akreditasi", "w": "Jadwal kuliah",
               "d": "Dokumen"}
MAX_BUTTON_LABEL = 48


def short(label: str, limit: int = MAX_BUTTON_LABEL) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def bullet(lines: list[str]) -> str:
    return "\n".join(f"• {e(x)}" for x in lines)


# ---- before the form ------------------------------------------------------------------------
def not_eligible(messages: list[str], agency: Agency) -> str:
    return ("Mohon maaf, permohonan izin belajar <b>belum dapat</b> Anda ajukan:\n"
            f"{bullet(messages)}\n\n"
            f"Bila menurut Anda data ini keliru, hubungi pengelola kepegawaian OPD atau {e(agency.short_name)}.")


def documents_unavailable(agency: Agency) -> str:
    return ("Maaf, daftar persyaratan izin belajar sedang tidak tersedia, jadi permohonan belum dapat diisi. "
            f"Silakan coba lagi nanti atau hubungi {e(agency.short_name)}.")


def open_application(message: str) -> str:
    return f"ℹ️ {e(message)}"


def resume_or_restart() -> str:
    return "Anda punya isian permohonan izin belajar yang belum dikirim. Lanjutkan, atau mulai dari awal?"


def nothing_to_resume() -> str:
    return "Tidak ada isian izin belajar yang sedang berjalan."


# ---- the steps ------------------------------------------------------------------------------
def ask_jenjang(name: str, education: str | None, choices: list[str]) -> str:
    return (f"🎓 <b>Permohonan izin belajar</b>\n"
            f"Data kepegawaian Anda memenuhi syarat dasar, {e(name)}.\n"
            f"Pendidikan terakhir: <b>{e(education or '-')}</b>. "
            "Izin belajar diberikan untuk satu jenjang di atasnya.\n\n"
            f"<b>Langkah 1/5.</b> Pilih jenjang yang akan ditempuh ({e(', '.join(choices))}):")


def ask_program(jenjang: str) -> str:
    return (f"<b>Langkah 2/5.</b> Jenjang {e(jenjang)}. Ketik nama <b>program studi</b>, "
            "misalnya <i>Administrasi Publik</i>.\nProgram studi harus relevan dengan jabatan Anda.")


def ask_kampus() -> str:
    return ("<b>Langkah 3/5.</b> Ketik nama <b>perguruan tinggi</b> (dan kotanya), misalnya "
            "<i>Universitas Terbuka, Bekasi</i>.")


def ask_akreditasi(program: str) -> str:
    return (f"<b>Langkah 4/5.</b> Apa <b>akreditasi program studi</b> {e(program)}?\n"
            "Lihat sertifikat akreditasi BAN-PT/LAM atau laman PDDikti. "
            "Pilih huruf (A/B/C) atau peringkat baru (Unggul/Baik Sekali/Baik):")


def akreditasi_refused(message: str) -> str:
    return f"⛔ {e(message)}\n\nBila akreditasinya keliru, pilih yang benar; atau batalkan permohonan."


def ask_jadwal(working_hours: str, examples: str) -> str:
    return (f"<b>Langkah 5/5.</b> Tulis <b>jadwal kuliah</b> (hari dan jam), misalnya: <i>{e(examples)}</i>.\n"
            f"Kuliah harus di luar jam kerja unit Anda: {e(working_hours)}.")


def jadwal_unreadable(message: str) -> str:
    return f"Jadwal belum terbaca. {e(message)}"


def jadwal_refused(messages: list[str]) -> str:
    return "⛔ " + "\n".join(e(m) for m in messages) + "\n\nTulis jadwal lain, atau batalkan permohonan."


def text_too_short(what: str) -> str:
    return f"Mohon tulis nama {e(what)} dengan lengkap."


def text_too_long(what: str, limit: int) -> str:
    return f"Nama {e(what)} terlalu panjang (paling banyak {limit} karakter)."


def use_buttons() -> str:
    return "Silakan pilih dengan tombol pada pesan di atas, atau tekan Batal."


# ---- documents ------------------------------------------------------------------------------
def checklist(docs: list[tuple[str, str]], files: dict[str, Any]) -> str:
    return "\n".join(f"{'✅' if k in files else '⬜'} {i}. {e(label)}" for i, (k, label) in enumerate(docs, 1))


def ask_document(label: str, index: int, total: int, docs: list[tuple[str, str]], files: dict[str, Any],
                 replacing: bool = False) -> str:
    if replacing:
        return f"Kirim pengganti <b>{e(label)}</b> sebagai foto atau PDF (paling besar 5 MB)."
    # Only what is still missing: the list shrinks as documents arrive.
    missing = [(i, lb) for i, (k, lb) in enumerate(docs, 1) if k not in files]
    return (f"📎 <b>Dokumen {index} dari {total}</b>: kirim <b>{e(label)}</b> sebagai foto atau PDF "
            f"(paling besar 5 MB).\n\nMasih kurang ({len(missing)} dari {total}):\n"
            + "\n".join(f"⬜ {i}. {e(lb)}" for i, lb in missing))


def document_ok(label: str) -> str:
    return f"✅ Diterima: {e(label)}."


def document_rejected(label: str, message: str) -> str:
    return f"⛔ Berkas untuk <b>{e(label)}</b> tidak diterima. {e(message)}"


def file_too_big(limit: str, size: str) -> str:
    return f"Ukuran berkas paling besar {e(limit)}; berkas Anda {e(size)}."


def expect_document(label: str) -> str:
    return f"Mohon kirim berkas <b>{e(label)}</b> sebagai foto atau PDF, atau tekan Batal."


def choose_document() -> str:
    return "Dokumen mana yang ingin diganti?"


# ---- summary and sending --------------------------------------------------------------------
def summary(data: dict[str, Any], docs: list[tuple[str, str]]) -> str:
    files = data.get("files") or {}
    return ("📋 <b>Ringkasan permohonan izin belajar</b>\n"
            f"Jenjang: {e(data.get('jenjang') or '-')}\n"
            f"Program studi: {e(data.get('program_studi') or '-')}\n"
            f"Perguruan tinggi: {e(data.get('perguruan_tinggi') or '-')}\n"
            f"Akreditasi: {e(data.get('akreditasi') or '-')}\n"
            f"Jadwal kuliah: {e(data.get('jadwal_text') or '-')}\n\n"
            f"Dokumen ({sum(1 for k, _ in docs if k in files)}/{len(docs)}):\n{checklist(docs, files)}\n\n"
            "Berikutnya: pertimbangan atasan langsung, verifikasi BKPSDM, lalu keputusan pejabat yang berwenang. "
            "Periksa kembali, lalu tekan <b>Kirim</b>.")


def edit_menu() -> str:
    return "Bagian mana yang ingin diubah?"


def documents_changed() -> str:
    return ("ℹ️ Daftar persyaratan izin belajar baru saja diperbarui BKPSDM. "
            "Mohon lengkapi dokumen sesuai daftar terbaru.")


def submitted(summary_text: str, number: str) -> str:
    return (f"{summary_text}\n\n✅ <b>Terkirim</b> dengan nomor <b>{e(number)}</b>. "
            "Setiap perubahan status akan saya kabarkan; lihat juga menu Status pengajuan.")


def already_submitted(number: str) -> str:
    return f"Permohonan ini sudah terkirim sebelumnya dengan nomor <b>{e(number)}</b>."


def submit_refused(message: str) -> str:
    return f"⛔ Permohonan belum dapat dikirim. {e(message)}\n\nTekan <b>Ubah</b> untuk memperbaiki, atau Batal."


def cancelled() -> str:
    return "Pengisian permohonan izin belajar dibatalkan. Tidak ada yang dikirim."


def expired() -> str:
    return "Isian ini sudah tidak berlaku. Mulai lagi lewat menu 🎓 Izin belajar atau /izinbelajar."
