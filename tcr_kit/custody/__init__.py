"""Custody of TCR credentials: who holds what, in which bag, where, and what happened.

State lives in an embedded SQLite ledger (:mod:`tcr_kit.custody.ledger`); every change is
written together with its signed audit event (:mod:`tcr_kit.audit`) in one transaction.
"""
