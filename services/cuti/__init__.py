"""Cuti (leave) rules: working-day calendar, eligibility per kind, the cuti tahunan ledger
balance, and a quote that combines them without filing anything. No aiogram here."""
