"""Texts of /pengaturan (which reminders a person receives). HTML; interpolations escaped."""
from __future__ import annotations

from html import escape as e

# kind -> (short name on the button, what it is about)
KINDS = {
    "kgb": ("KGB", "kenaikan gaji berkala yang akan jatuh tempo"),
    "pangkat": ("Kenaikan pangkat", "periode kenaikan pangkat yang dapat Anda capai"),
    "pensiun": ("Pensiun", "setahun dan tiga bulan sebelum TMT pensiun"),
    "approver": ("Persetujuan", "permohonan yang lama menunggu tindakan Anda"),
    "revisi": ("Perbaikan", "permohonan Anda yang belum diperbaiki"),
}


def _clock(hhmm: str) -> str:
    return hhmm.strip()[:5].replace(":", ".")


def overview(prefs: dict[str, bool], kinds: list[str], *, quiet_hours: str, reminder_time: str, tz: str) -> str:
    lines = ["⚙️ <b>Pengaturan pengingat</b>",
             "Ketuk tombol di bawah untuk menyalakan atau mematikan pengingat.", ""]
    for kind in kinds:
        name, about = KINDS[kind]
        lines.append(f"{'🔔' if prefs.get(kind, True) else '🔕'} <b>{e(name)}</b>: {e(about)} - "
                     f"{'aktif' if prefs.get(kind, True) else 'mati'}")
    lines += ["", "📢 Pengumuman resmi BKPSDM (misalnya peraturan disiplin) selalu dikirim dan tidak dapat "
                  "dimatikan."]
    if reminder_time.strip():
        lines.append(f"🕖 Pengingat diperiksa setiap hari pukul {e(_clock(reminder_time))} {e(tz)}.")
    if quiet_hours.strip():
        start, _, end = quiet_hours.partition("-")
        lines.append(f"🌙 Jam tenang {e(_clock(start))}-{e(_clock(end))} {e(tz)}: pengingat dan pengumuman "
                     "ditahan sampai jam tenang berakhir; kabar permohonan Anda sendiri tetap dikirim segera.")
    return "\n".join(lines)


def button(kind: str, enabled: bool) -> str:
    name = KINDS[kind][0]
    return f"🔕 Matikan: {name}" if enabled else f"🔔 Nyalakan: {name}"


def toggled(kind: str, enabled: bool) -> str:
    return f"Pengingat {KINDS[kind][0]} {'dinyalakan' if enabled else 'dimatikan'}."


def not_linked() -> str:
    return ("Pengaturan pengingat tersedia setelah akun Telegram Anda ditautkan. Tekan "
            "<b>Bagikan nomor telepon saya</b> untuk menautkan.")


def not_linked_alert() -> str:
    return "Akun Anda belum ditautkan."


def unknown_choice() -> str:
    return "Pilihan itu tidak tersedia."
