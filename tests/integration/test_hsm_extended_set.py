"""An extended share set activates its HSM: old and new shares together (real SoftHSM2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.errors import WrongShareSet
from tcr_kit.sharing.files import stem_of_share
from tcr_kit.sharing.native_extend import extend_to_dir
from tests.fixtures.stack import SoftHsm
from tests.integration.hsm_helpers import make_hsm, write_config

pytestmark = pytest.mark.integration


def test_a_share_made_by_an_extension_activates_with_an_old_one(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    files = hsm.plan.share_files
    folder = files[0].parent
    outcome = extend_to_dir(files[:2], [4], folder, stem_of_share(files[0]))
    new = outcome.paths[0]
    # The config still says 2-of-3: a share from an extension it does not know is refused
    # before the HSM is tried.
    with pytest.raises(WrongShareSet, match="2-of-4 share"):
        with Activation(hsm.loaded).session([ShareFile(files[2]), ShareFile(new)]):
            pass
    # With the config raised to the set's new n, old and new shares activate together.
    raised = load_config(write_config(tmp_path, softhsm, hsm.label, m=2, n=4))
    activation = Activation(raised)
    with activation.session([ShareFile(new), ShareFile(files[2])]) as session:
        assert session.sign("ksk-demo", b"signed with an extended set")
    first = activation.events[0]
    assert first.outcome == "activated" and sorted(p.index for p in first.presented) == [3, 4]
