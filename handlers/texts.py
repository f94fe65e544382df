"""Every user-facing text, in one place so BKPSDM staff can review the wording.

Texts are HTML (the bot's default parse mode); anything interpolated is escaped here.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from html import escape as e

from services.agency import Agency
from services.employees import Profile
from services.cuti.quote import AnnualBalance
from services.personal_dates import Milestone

# Main menu labels (reply keyboard). Handlers match on these exact strings.
MENU_TANYA = "❓ Tanya layanan"
MENU_CUTI = "🗓 Ajukan cuti"
MENU_IZIN_BELAJAR = "🎓 Izin belajar"
MENU_STATUS = "📋 Status pengajuan"
MENU_PROFIL = "👤 Profil saya"
MENU_BANTUAN = "ℹ️ Bantuan"
MENU_ITEMS = [MENU_TANYA, MENU_CUTI, MENU_IZIN_BELAJAR, MENU_STATUS, MENU_PROFIL, MENU_BANTUAN]

BTN_SHARE_PHONE = "📱 Bagikan nomor telepon saya"
BTN_HAVE_CODE = "🔑 Saya punya kode tautan"
BTN_CANCEL = "Batal"
BTN_UNLINK_YES = "Ya, putuskan"
BTN_UNLINK_NO = "Tidak"

COMMANDS = [
    ("start", "Mulai / menu utama"),
    ("profil", "Profil saya"),
    ("cuti", "Ajukan cuti"),
    ("izinbelajar", "Ajukan izin belajar"),
    ("status", "Status pengajuan saya"),
    ("antrian", "Permohonan yang menunggu tindakan saya"),
    ("verifikasi", "Cek keaslian surat"),
    ("link", "Tautkan akun dengan kode"),
    ("unlink", "Putuskan tautan akun"),
    ("pengaturan", "Atur pengingat"),
    ("bantuan", "Bantuan"),
    ("batal", "Batalkan langkah saat ini"),
]

# Features that later releases bring; the bot says so honestly instead of pretending.
COMING_SOON: dict[str, str] = {}


def welcome_unlinked(agency: Agency) -> str:
    return (
        f"Selamat datang di <b>asnbot</b>, layanan mandiri kepegawaian {e(agency.short_name)} "
        "untuk ASN Pemerintah Kota Bekasi.\n\n"
        "Di sini Anda dapat menanyakan syarat layanan, mengajukan cuti dan izin belajar, "
        "serta menerima kabar status pengajuan.\n\n"
        "Untuk melihat data pribadi dan mengajukan layanan, tautkan dulu akun Telegram Anda "
        "dengan data kepegawaian: tekan <b>Bagikan nomor telepon saya</b> di bawah "
        "(nomor yang terdaftar di data kepegawaian)."
    )


def welcome_linked(profile: Profile) -> str:
    return f"Halo, <b>{e(profile.full_name)}</b>! Silakan pilih menu di bawah."


def ask_verification(digits: int) -> str:
    return (
        "Nomor Anda ditemukan. Untuk memastikan ini benar Anda, ketik "
        f"<b>{digits} digit terakhir NIK</b> (nomor KTP) Anda.\n\nKetik /batal untuk membatalkan."
    )


def verification_format(digits: int) -> str:
    return f"Mohon ketik tepat {digits} digit angka terakhir NIK Anda, atau /batal."


def linked(profile: Profile) -> str:
    return f"✅ Akun berhasil ditautkan. Selamat datang, <b>{e(profile.full_name)}</b>!"


def attempts_left(n: int | None) -> str:
    return f" Sisa percobaan: {n}." if n is not None else ""


def wrong_verification(left: int | None) -> str:
    return "Digit NIK tidak cocok." + attempts_left(left) + " Silakan coba lagi, atau /batal."


def not_own_contact() -> str:
    return (
        "Maaf, yang dibagikan bukan nomor Anda sendiri. Tekan tombol "
        "<b>Bagikan nomor telepon saya</b> agar Telegram mengirim nomor akun Anda."
    )


def phone_not_found(agency: Agency, left: int | None) -> str:
    return (
        "Nomor telepon Anda belum terdaftar di data kepegawaian." + attempts_left(left) + "\n\n"
        f"Minta <b>kode tautan</b> kepada {e(agency.link_code_issuer)}, lalu kirim "
        "<code>/link KODE</code>."
    )


def phone_ambiguous(agency: Agency) -> str:
    return (
        "Nomor ini terdaftar untuk lebih dari satu pegawai, jadi tidak bisa dipakai untuk menautkan. "
        f"Minta <b>kode tautan</b> kepada {e(agency.link_code_issuer)}, lalu kirim <code>/link KODE</code>."
    )


def no_verification_data(agency: Agency) -> str:
    return (
        "Data verifikasi (NIK) Anda belum tersedia di sistem. "
        f"Minta <b>kode tautan</b> kepada {e(agency.link_code_issuer)}, lalu kirim <code>/link KODE</code>."
    )


def bad_phone(detail: str | None) -> str:
    return "Nomor telepon tidak dapat diproses" + (f": {e(detail)}" if detail else ".")


def locked(wait: timedelta) -> str:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    return (
        "Terlalu banyak percobaan yang gagal. Demi keamanan, silakan coba lagi dalam "
        f"<b>{minutes} menit</b>."
    )


def ask_code() -> str:
    return "Ketik kode tautan dari admin kepegawaian (10 huruf/angka), atau /batal."


def code_invalid(left: int | None) -> str:
    return "Kode tautan tidak dikenal." + attempts_left(left) + " Periksa kembali kodenya."


def code_expired(left: int | None) -> str:
    return "Kode tautan sudah kedaluwarsa." + attempts_left(left) + " Minta kode baru kepada admin kepegawaian."


def code_used(left: int | None) -> str:
    return "Kode tautan sudah pernah dipakai." + attempts_left(left) + " Minta kode baru kepada admin kepegawaian."


def already_linked(profile: Profile) -> str:
    return (
        f"Akun Telegram ini sudah tertaut ke <b>{e(profile.full_name)}</b>. "
        "Ketik /unlink dulu bila ingin menautkan ke data lain."
    )


def not_linked() -> str:
    return "Akun Telegram Anda belum ditautkan. Tekan <b>Bagikan nomor telepon saya</b> untuk menautkan."


def unlink_confirm(profile: Profile) -> str:
    return (
        f"Putuskan tautan akun Telegram ini dari <b>{e(profile.full_name)}</b>? "
        "Setelah itu Anda tidak menerima kabar pengajuan sampai menautkan lagi."
    )


def unlinked() -> str:
    return "Tautan akun sudah diputus. Ketik /start bila ingin menautkan lagi."


def unlink_cancelled() -> str:
    return "Baik, akun tetap tertaut."


def profile_card(p: Profile) -> str:
    lines = [
        "<b>Profil saya</b>",
        f"Nama: {e(p.full_name)}",
        f"{e(p.identifier_label)}: <code>{e(p.identifier)}</code>",
        f"Status: {e(p.status)}",
        f"Pangkat/golongan: {e(p.pangkat)}",
        f"Jabatan: {e(p.jabatan or '-')}" + (f" (eselon {e(p.eselon)})" if p.eselon else ""),
        f"Unit kerja: {e(p.unit)}",
    ]
    if p.opd:
        lines.append(f"Perangkat Daerah: {e(p.opd)}")
    if p.superior:
        lines.append(f"Atasan langsung: {e(p.superior)}")
    lines.append("\nBila ada data yang salah, hubungi pengelola kepegawaian OPD Anda.")
    return "\n".join(lines)


def coming_soon(feature: str, agency: Agency) -> str:
    contact = "\n".join(e(x) for x in agency.contact_lines())
    return (
        f"🚧 <b>{e(feature)}</b> segera hadir di asnbot.\n"
        f"Sementara ini, silakan hubungi {e(agency.short_name)}:\n{contact}"
    )


def help_text(agency: Agency) -> str:
    contact = "\n".join(e(x) for x in agency.contact_lines())
    cmds = "\n".join(f"/{c} - {e(d)}" for c, d in COMMANDS)
    return (
        "<b>Bantuan asnbot</b>\n"
        "Pilih menu di bawah, atau gunakan perintah:\n"
        f"{cmds}\n\n"
        f"Kontak {e(agency.short_name)}:\n{contact}"
    )


def cancelled() -> str:
    return "Dibatalkan."


def nothing_to_cancel() -> str:
    return "Tidak ada langkah yang sedang berjalan."


def unknown_command(cmd: str) -> str:
    return f"Perintah {e(cmd)} tidak dikenal. Ketik /bantuan untuk melihat perintah yang tersedia."


def unsupported_message() -> str:
    return "Maaf, jenis pesan ini belum dapat diproses. Silakan kirim teks atau pilih menu."


def error(ref: str) -> str:
    return (
        "Maaf, terjadi kesalahan di sistem kami. Silakan coba lagi sebentar lagi.\n"
        f"Bila berulang, sampaikan kode rujukan <code>{e(ref)}</code> kepada BKPSDM."
    )


def stale_button() -> str:
    return "Tombol ini sudah tidak berlaku."


def admin_code_usage() -> str:
    return "Pemakaian: <code>/kodetautan NIP</code> (atau nomor Non-PNS)."


def admin_code_unknown(identifier: str) -> str:
    return f"Tidak ada pegawai aktif dengan NIP/nomor <code>{e(identifier)}</code>."


def admin_code_issued(name: str, code: str, expires_local: datetime, bot_username: str) -> str:
    return (
        f"Kode tautan untuk <b>{e(name)}</b>: <code>{e(code)}</code>\n"
        f"Sekali pakai, berlaku sampai {expires_local:%d-%m-%Y %H:%M %Z}.\n"
        f"Pegawai mengirim <code>/link {e(code)}</code> atau membuka "
        f"https://t.me/{e(bot_username)}?start={e(code)}"
    )


# ---- Tanya layanan ----------------------------------------------------------------------------
def ask_question_prompt() -> str:
    return (
        "Silakan ketik pertanyaan Anda tentang layanan kepegawaian, misalnya:\n"
        "<i>syarat kenaikan pangkat</i>, <i>kartu suami hilang</i>, <i>cuti melahirkan berapa lama</i>."
    )


def smalltalk(reply: str | None) -> str:
    return e(reply or "Halo! Ada yang bisa saya bantu?")


def clarify() -> str:
    return "Maksud Anda yang mana? Pilih salah satu:"


def abstain(agency: Agency) -> str:
    return (
        "Maaf, saya belum tahu jawaban yang tepat untuk pertanyaan itu, dan saya tidak mau menebak.\n"
        f"Saya bisa meneruskannya ke petugas {e(agency.short_name)}."
    )


def related_intro(title: str) -> str:
    return f"Pertanyaan terkait <b>{e(title)}</b>:"


def application_soon(kind: str, agency: Agency) -> str:
    label = {"cuti": "Pengajuan cuti", "izin-belajar": "Pengajuan izin belajar"}.get(kind, "Pengajuan")
    return coming_soon(label, agency)


# ---- hand-off to staff ------------------------------------------------------------------------
def handoff_nothing() -> str:
    return "Silakan ketik dulu pertanyaan Anda, lalu tekan tombol untuk meneruskannya ke petugas."


def handoff_sent(question_id: int) -> str:
    return (
        f"Pertanyaan Anda sudah diteruskan ke petugas BKPSDM (nomor <b>#{question_id}</b>). "
        "Jawabannya akan dikirim di sini."
    )


def handoff_unavailable(agency: Agency) -> str:
    contact = "\n".join(e(x) for x in agency.contact_lines())
    return f"Untuk saat ini, silakan sampaikan pertanyaan Anda langsung ke {e(agency.short_name)}:\n{contact}"


def helpdesk_card(question_id: int, asker: str, question: str) -> str:
    return (
        f"❓ <b>Pertanyaan #{question_id}</b> dari {e(asker)}\n\n{e(question)}\n\n"
        "<i>Balas (reply) pesan ini untuk menjawab; jawaban dikirim ke penanya lewat bot.</i>"
    )


def staff_answer(question_id: int, answer: str) -> str:
    return f"💬 <b>Jawaban petugas BKPSDM</b> untuk pertanyaan #{question_id}:\n\n{e(answer)}"


def staff_answer_delivered(question_id: int) -> str:
    return f"Jawaban untuk #{question_id} sudah dikirim ke penanya."


def staff_answer_undeliverable(question_id: int) -> str:
    return f"Jawaban untuk #{question_id} tersimpan, tetapi belum bisa dikirim (penanya memblokir bot)."


def staff_reply_unknown() -> str:
    return "Balasan ini tidak terkait pertanyaan mana pun. Balas (reply) kartu pertanyaan dari bot."


def rating_thanks() -> str:
    return "Terima kasih atas penilaian Anda."


def kb_reload_failed(problems: list[str]) -> str:
    shown = "\n".join(f"• {e(p)}" for p in problems[:15])
    more = f"\n… dan {len(problems) - 15} galat lain." if len(problems) > 15 else ""
    return (
        "⚠️ Perubahan basis pengetahuan <b>ditolak</b>; versi sebelumnya tetap dipakai. "
        f"Perbaiki:\n{shown}{more}\n\nCek lengkap: <code>asnbot kb check</code>"
    )[:4000]


def kb_reloaded(entries: int, warnings: int) -> str:
    return f"✅ Basis pengetahuan dimuat ulang: {entries} entri" + (f", {warnings} peringatan." if warnings else ".")


def kb_unavailable(agency: Agency) -> str:
    return (
        "Maaf, layanan tanya-jawab sedang dalam pemeliharaan. "
        f"Saya bisa meneruskan pertanyaan Anda ke petugas {e(agency.short_name)}."
    )


def ask_for_human_question() -> str:
    return (
        "Baik, saya teruskan ke petugas BKPSDM. Silakan tulis pertanyaan Anda dalam satu pesan "
        "(tanpa NIK atau kata sandi), atau tekan Batal."
    )


# ---- personal dates -----------------------------------------------------------------------------
BULAN = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
         "November", "Desember"]
MILESTONE_TITLE = {"kgb": "Kenaikan gaji berkala (KGB) berikutnya", "kp": "Kenaikan pangkat paling cepat",
                   "pensiun": "TMT pensiun"}


def tanggal(d: date) -> str:
    return f"{d.day} {BULAN[d.month - 1]} {d.year}"


def milestone(m: Milestone) -> str:
    title = MILESTONE_TITLE[m.kind]
    if m.not_applicable:
        return f"<b>{e(title)}</b>: {e(m.not_applicable)}"
    lines = [f"🗓 <b>{e(title)}</b>: {e(tanggal(m.when))}"]
    lines += [f"• {e(n)}" for n in m.notes]
    lines.append(f"<i>Dasar: {e(m.basis)}. Dihitung dari data kepegawaian; bila datanya keliru, hubungi "
                 "pengelola kepegawaian OPD Anda.</i>")
    return "\n".join(lines)


def saldo_cuti(b: AnnualBalance, year: int) -> str:
    if b.balance is None:
        return ("Anda belum memiliki hak cuti tahunan menurut data (hak cuti tahunan PNS/PPPK setelah bekerja "
                "paling singkat 1 tahun; untuk Non-PNS perlu konfirmasi ke BKPSDM).")
    x = b.balance
    text = (
        f"🗓 <b>Sisa cuti tahunan Anda: {x.total} hari kerja</b>\n"
        f"• {year - 2} (N-2): {x.n2} hari\n• {year - 1} (N-1): {x.n1} hari\n• {year} (N): {x.n} hari\n"
        "<i>Dasar: PP 11/2017 Pasal 311-312; Peraturan BKN 24/2017 (sisa tahun lalu).</i>"
    )
    if not b.has_ledger:
        text += ("\n⚠️ Belum ada catatan cuti Anda di sistem ini: angka di atas hanya hak tahun berjalan dan "
                 "belum memperhitungkan cuti yang sudah diambil. Pastikan ke pengelola kepegawaian OPD.")
    return text


# ---- abuse limits (bot/guard.py) -----------------------------------------------------------
def too_many_messages() -> str:
    return "Terlalu banyak pesan; mohon tunggu sebentar."


def message_too_long(limit: int) -> str:
    return f"Maaf, pesan terlalu panjang (paling banyak {limit} karakter). Mohon ringkas pesan Anda."


def file_too_large(limit_bytes: int, size: int) -> str:
    from services.files import format_size

    return (f"Maaf, berkas terlalu besar ({format_size(size, round_up=True)}); ukuran paling besar "
            f"{format_size(limit_bytes)}. Silakan kirim berkas yang lebih kecil.")
