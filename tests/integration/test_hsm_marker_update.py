"""The activation marker is replaced new-before-old: an update cut off in between leaves the
old marker and its successor, which the HSM token resolves to the successor (and the next
write cleans up), never an HSM without a marker. Real SoftHSM2 tokens; the cut is the state
it leaves, made by writing the successor without destroying the old marker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.errors import SharesDoNotMatchHsm
from tcr_kit.hsm.provision import marker_template, write_marker
from tcr_kit.hsm.token import MARKER_LABEL, EpochRef, HsmToken, Marker
from tcr_kit.secrets import SecretBuffer
from tests.fixtures.stack import SoftHsm
from tests.integration.hsm_helpers import DemoHsm, make_hsm

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _local_activation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCR_ACTIVATION_LOG", str(tmp_path / "activations.log"))


def _hsm_with_marker(tmp_path: Path, softhsm: SoftHsm) -> tuple[DemoHsm, HsmToken, Marker]:
    """A 2-of-3 HSM made by ``tcr hsm init``, its token and the marker it wrote."""
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    token = Activation(hsm.loaded).token()
    marker = token.marker()
    assert marker is not None and marker.count == 3
    return hsm, token, marker


def _pin(hsm: DemoHsm) -> SecretBuffer:
    files = hsm.plan.share_files
    return Activation(hsm.loaded).user_pin([ShareFile(files[0]), ShareFile(files[1])])


def _add_marker_object(hsm: DemoHsm, pin: SecretBuffer, marker: Marker) -> None:
    """Write ``marker`` beside the current one, as an update cut off before it destroyed the
    old marker leaves the token."""
    with Activation(hsm.loaded).token().login(pin, rw=True) as session:
        session.create_object(marker_template(marker))


def _marker_objects(hsm: DemoHsm, pin: SecretBuffer) -> list[Any]:
    from pkcs11 import Attribute, ObjectClass

    with Activation(hsm.loaded).token().login(pin) as session:
        return list(
            session.get_objects({Attribute.LABEL: MARKER_LABEL, Attribute.CLASS: ObjectClass.DATA})
        )


def test_an_update_cut_off_after_writing_the_successor_leaves_the_successor_in_force(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm, token, old = _hsm_with_marker(tmp_path, softhsm)
    with _pin(hsm) as pin:
        raised = replace(old, count=4)
        _add_marker_object(hsm, pin, raised)
        assert len(_marker_objects(hsm, pin)) == 2
        assert token.marker() == raised
        # The HSM still activates with the set's shares, and the next write leaves one marker.
        files = hsm.plan.share_files
        with Activation(hsm.loaded).session([ShareFile(files[1]), ShareFile(files[2])]):
            pass
        write_marker(token, pin, raised)
        assert len(_marker_objects(hsm, pin)) == 1
        assert token.marker() == raised


def test_a_rekey_cut_off_after_writing_the_next_epoch_leaves_the_next_epoch_in_force(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm, token, old = _hsm_with_marker(tmp_path, softhsm)
    following = Marker(EpochRef("ab" * 8, old.current.epoch + 1), 2, 3, (old.current,))
    with _pin(hsm) as pin:
        _add_marker_object(hsm, pin, following)
        assert token.marker() == following


def test_two_markers_neither_of_which_follows_the_other_are_refused(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm, token, old = _hsm_with_marker(tmp_path, softhsm)
    with _pin(hsm) as pin:
        # Another threshold, and another set at the same epoch: neither follows the other.
        _add_marker_object(hsm, pin, replace(old, threshold=3, count=4))
        with pytest.raises(SharesDoNotMatchHsm, match="holds 2 activation markers"):
            token.marker()
        write_marker(token, pin, old)  # a write replaces every marker it finds
        assert token.marker() == old
        _add_marker_object(hsm, pin, replace(old, current=EpochRef("cd" * 8, 1)))
        with pytest.raises(SharesDoNotMatchHsm, match="holds 2 activation markers"):
            token.marker()


@pytest.mark.parametrize(
    ("later", "earlier", "expected"),
    [
        (Marker(EpochRef("a", 1), 2, 4), Marker(EpochRef("a", 1), 2, 3), True),
        (Marker(EpochRef("a", 1), 2, 3), Marker(EpochRef("a", 1), 2, 4), False),
        (Marker(EpochRef("a", 1), 2, 3), Marker(EpochRef("a", 1), 2, 3), False),
        (Marker(EpochRef("a", 1), 3, 4), Marker(EpochRef("a", 1), 2, 3), False),
        (Marker(EpochRef("b", 2), 2, 3, (EpochRef("a", 1),)), Marker(EpochRef("a", 1), 2, 3), True),
        (Marker(EpochRef("b", 2), 2, 3), Marker(EpochRef("a", 1), 2, 3), False),
        (
            Marker(EpochRef("c", 3), 2, 3, (EpochRef("b", 2),)),
            Marker(EpochRef("b", 2), 2, 3, (EpochRef("a", 1),)),
            False,
        ),
        (
            Marker(EpochRef("b", 1), 2, 3, (EpochRef("a", 1),)),
            Marker(EpochRef("a", 1), 2, 3),
            False,
        ),
    ],
)
def test_a_marker_supersedes_another_only_by_a_forward_update(
    later: Marker, earlier: Marker, expected: bool
) -> None:
    assert later.supersedes(earlier) is expected
