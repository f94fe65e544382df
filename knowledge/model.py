"""The knowledge-base entry, as staff write it in knowledge/entries/*.yaml (see FORMAT.md).

Plain pydantic: no framework, no database; the engine, the checker, the CLI and the bot share it.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Audience = Literal["PNS", "CPNS", "PPPK", "Non-PNS"]
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=3)
    copies: int | None = Field(default=None, ge=1, le=20)  # None: not confirmed
    legalized: bool | None = None  # None: not confirmed
    note: str | None = None


class LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=5)  # "Peraturan Pemerintah Nomor 11 Tahun 2017"
    article: str | None = None  # "Pasal 310"
    note: str | None = None


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=5, max_length=120)
    service: str | None = None  # catalog service id
    sop: list[int] = Field(default_factory=list)  # catalog SOP numbers covered
    bidang: str | None = None  # catalog bidang code
    audience: list[Audience] = Field(min_length=1)
    eligibility: str = Field(min_length=10)
    summary: str = Field(min_length=40, max_length=700)
    requirements: list[Requirement] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    where: str = Field(min_length=10)
    duration: str = Field(min_length=3)
    cost: str = Field(min_length=3)
    legal_basis: list[LegalBasis] = Field(min_length=1)
    unconfirmed: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    application: Literal["cuti", "izin-belajar"] | None = None
    keywords: list[str] = Field(min_length=3)
    questions: list[str] = Field(min_length=5)
    reviewed: date

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError("id: huruf kecil, angka dan tanda '-' saja (mis. sop-39)")
        return v
