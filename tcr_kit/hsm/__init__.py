"""HSM activation with m of n TCR credentials.

Public entry points:

* :mod:`tcr_kit.hsm.config`: :class:`~tcr_kit.hsm.config.HsmConfig` and
  :func:`~tcr_kit.hsm.config.load_config` (TOML, validated; its SHA-256 goes into every
  audit event).
* :mod:`tcr_kit.hsm.activation`: :class:`~tcr_kit.hsm.activation.Activation`, the sources
  :class:`~tcr_kit.hsm.activation.ShareFile`, :class:`~tcr_kit.hsm.activation.CardShare`
  and :class:`~tcr_kit.hsm.activation.InlineShare`, the incremental
  :class:`~tcr_kit.hsm.activation.Quorum`, and the logged-in
  :class:`~tcr_kit.hsm.token.HsmSession`.
* :mod:`tcr_kit.hsm.pin`: :func:`~tcr_kit.hsm.pin.derive_user_pin`, the documented
  derivation of the HSM user PIN from the activation secret.
* :mod:`tcr_kit.hsm.provision`: :func:`~tcr_kit.hsm.provision.init_softhsm`, a SoftHSM2
  test or demo HSM whose user PIN comes from a fresh secret split m of n.
* :mod:`tcr_kit.hsm.readiness`: :func:`~tcr_kit.hsm.readiness.readiness`, the quorum
  readiness view from the custody ledger.
* :mod:`tcr_kit.hsm.errors`: the errors, each under one family of :mod:`tcr_kit.errors`.

``pkcs11`` is imported only when a token is opened.
"""
