"""The SAMPLE dataset: deterministic, large and varied enough, and marked as sample."""

from __future__ import annotations

from dialogues.knowledge_port import CertStatus
from integrations.ccc.numbers import validate
from integrations.ccc.sample import SAMPLE_MARK, generate


def test_sample_is_deterministic_and_covers_every_status_and_many_categories() -> None:
    certs = list(generate())
    assert certs == list(generate())
    assert len(certs) >= 500
    assert len({c.cert_no for c in certs}) == len(certs)
    assert {c.status for c in certs} == set(CertStatus)
    assert len({c.category_code for c in certs if c.category_code}) >= 30
    assert sum(len(c.cert_no) == 12 for c in certs) >= 2


def test_every_sample_record_is_marked_and_well_formed() -> None:
    for cert in generate():
        assert cert.is_sample and SAMPLE_MARK in cert.holder
        assert validate(cert.cert_no, current_year=2026).ok
