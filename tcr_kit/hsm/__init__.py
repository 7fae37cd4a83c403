"""HSM activation with m of n TCR credentials: the public API for activation scripts.

Import these names from the package (``from tcr_kit.hsm import Activation, load_config``);
the modules behind them may move. What each module holds:

* ``config``: :func:`load_config` (TOML, validated; its SHA-256 goes into every audit
  event), :class:`HsmConfig`, :class:`LoadedConfig`.
* ``activation``: :class:`Activation`, the sources :class:`ShareFile`, :class:`CardShare`
  and :class:`InlineShare`, the incremental :class:`Quorum`; sessions are
  :class:`HsmSession` (``token``).
* ``events``: :class:`ActivationEvent`, the typed audit events, and :class:`Presented`.
* ``collect``: :func:`collect` a quorum from share files and card specs through
  :class:`Prompts` callables (the library never prints or prompts); :func:`parse_card_spec`.
* ``handoff``: :func:`run_with_pin` hands the HSM user PIN to a child over an inherited
  pipe named by ``$TCR_PIN_FD``; the child calls :func:`receive_pin`.
* ``signing``: :class:`SignRequest` (sign one file), :class:`SignedFile`.
* ``pin``: :func:`derive_user_pin`, the documented derivation of the HSM user PIN.
* ``clearance``: the custody checks of each credential presented (bag opened intact in this
  ceremony, or its holder present in person) and the emergency :class:`ActivationOverride`
  signed by two staff members (:class:`OverrideStatement`, :class:`OverrideSignature`).
* ``approval``: remote approvals: :func:`new_request`, :func:`sign_request`,
  :func:`check_approvals`, :func:`require_approvals` (``docs/remote-approval.md``).
* ``readiness``: :func:`readiness`, the quorum readiness view from the custody ledger.
* ``register``: :func:`register_share_set` records the config's share set in the ledger.
* ``provision``: :func:`init_softhsm`, a SoftHSM2 test or demo HSM; ``rekey``:
  :func:`rekey`, a new secret and share set for the HSM.
* ``errors``: each under one family of :mod:`tcr_kit.errors`; too few shares is
  :class:`tcr_kit.errors.QuorumNotMet`, here also named :data:`NotEnoughCredentials`.

``pkcs11`` is imported only when a token is opened.
"""

from tcr_kit.hsm.activation import Activation, CardShare, InlineShare, Quorum, ShareFile, Source
from tcr_kit.hsm.approval import (
    Approval,
    ApprovalBundle,
    ApprovalCheck,
    ApprovalInvalid,
    ApprovalRequest,
    ApprovalsNotMet,
    check_approvals,
    ledger_roster,
    load_approval,
    load_request,
    new_request,
    parse_expiry,
    require_approvals,
    sign_request,
)
from tcr_kit.hsm.clearance import (
    ActivationOverride,
    OverrideSignature,
    OverrideStatement,
    sign_override,
)
from tcr_kit.hsm.collect import CardSpec, CardSpecError, Prompts, collect, parse_card_spec
from tcr_kit.hsm.config import HsmConfig, LoadedConfig, load_config
from tcr_kit.hsm.config_extend import ConfigExtension, extend_config, plan_config_extension
from tcr_kit.hsm.config_rekey import ConfigRekey, plan_config_rekey, rekey_config
from tcr_kit.hsm.errors import (
    ConfigError,
    CustodyRefused,
    DuplicateCredential,
    HsmError,
    NotEnoughCredentials,
    SharesDoNotMatchHsm,
    SiteFileChanged,
    WrongShareSet,
)
from tcr_kit.hsm.events import ActivationEvent, Presented
from tcr_kit.hsm.handoff import PIN_FD_ENV, receive_pin, run_with_pin
from tcr_kit.hsm.pin import derive_user_pin
from tcr_kit.hsm.provision import InitPlan, init_softhsm
from tcr_kit.hsm.readiness import Readiness, readiness
from tcr_kit.hsm.register import register_share_set
from tcr_kit.hsm.rekey import (
    RekeyResult,
    ResumedOtherwise,
    StateFileInvalid,
    load_rekey_state,
    rekey,
)
from tcr_kit.hsm.signing import SignedFile, SignRequest
from tcr_kit.hsm.token import HsmSession

__all__ = [
    "PIN_FD_ENV",
    "Activation",
    "ActivationEvent",
    "ActivationOverride",
    "Approval",
    "ApprovalBundle",
    "ApprovalCheck",
    "ApprovalInvalid",
    "ApprovalRequest",
    "ApprovalsNotMet",
    "CardShare",
    "CardSpec",
    "CardSpecError",
    "ConfigError",
    "ConfigExtension",
    "ConfigRekey",
    "CustodyRefused",
    "DuplicateCredential",
    "HsmConfig",
    "HsmError",
    "HsmSession",
    "InitPlan",
    "InlineShare",
    "LoadedConfig",
    "NotEnoughCredentials",
    "OverrideSignature",
    "OverrideStatement",
    "Presented",
    "Prompts",
    "Quorum",
    "Readiness",
    "RekeyResult",
    "ResumedOtherwise",
    "ShareFile",
    "SharesDoNotMatchHsm",
    "SignRequest",
    "SignedFile",
    "SiteFileChanged",
    "Source",
    "StateFileInvalid",
    "WrongShareSet",
    "check_approvals",
    "collect",
    "derive_user_pin",
    "extend_config",
    "init_softhsm",
    "ledger_roster",
    "load_approval",
    "load_config",
    "load_rekey_state",
    "load_request",
    "new_request",
    "parse_card_spec",
    "parse_expiry",
    "plan_config_extension",
    "plan_config_rekey",
    "readiness",
    "receive_pin",
    "register_share_set",
    "rekey",
    "rekey_config",
    "require_approvals",
    "run_with_pin",
    "sign_override",
    "sign_request",
]
