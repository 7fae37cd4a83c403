"""One quorum error for the sharing engine and HSM activation: have, need, exit 4."""

from __future__ import annotations

import pytest

from tcr_kit.errors import ExitCode, QuorumError, QuorumNotMet
from tcr_kit.hsm.errors import NotEnoughCredentials
from tcr_kit.sharing.errors import NotEnoughSharesError


def test_sharing_and_hsm_names_are_the_one_quorum_error() -> None:
    assert NotEnoughSharesError is QuorumNotMet
    assert NotEnoughCredentials is QuorumNotMet
    assert issubclass(QuorumNotMet, QuorumError)
    assert QuorumNotMet(1, 3).exit_code == ExitCode.QUORUM == 4


def test_message_of_the_sharing_engine_is_built_from_have_and_need() -> None:
    error = QuorumNotMet(2, 3)
    assert (error.have, error.need, error.missing) == (2, 3, 1)
    assert str(error) == "not enough shares: 2 given, 3 needed (1 more share)"
    assert str(QuorumNotMet(1, 3, "counting complete SLIP-39 groups, not shares")) == (
        "not enough shares: 1 given, 3 needed (2 more shares);"
        " counting complete SLIP-39 groups, not shares"
    )


def test_message_of_an_hsm_activation_names_the_hsm_and_who_is_missing() -> None:
    error = QuorumNotMet(1, 3, "not yet presented: c2 (Bob), c3", of="HSM-E")
    assert (
        str(error)
        == "1 of 3 shares presented for HSM-E: 2 more needed; not yet presented: c2 (Bob), c3"
    )
    assert str(QuorumNotMet(2, 3, of="HSM-E")) == "2 of 3 shares presented for HSM-E: 1 more needed"


def test_a_caller_catching_the_sharing_name_catches_an_activation_short_of_shares() -> None:
    with pytest.raises(NotEnoughSharesError) as caught:
        raise NotEnoughCredentials(0, 2, of="HSM-E")
    assert caught.value.missing == 2
