"""Models that follow the registry: champion and challenger reloaded when an alias moves, split, shadow scoring.

The champion (and a challenger, if any) are reloaded when their alias moves, traffic is split between them, and
in shadow mode the model that does not act is scored beside the one that does.

:class:`LiveModels` holds the models behind ``models:/NAME@champion`` and, optionally, ``models:/NAME@challenger``.
:meth:`LiveModels.refresh` asks the registry where the aliases point now; when a version changed (``offerlab
promote``, ``offerlab promote --rollback``) it loads the new version *beside* the old one and then swaps one
immutable :class:`LiveSnapshot` in with a single assignment, so a request reads either the old pair or the new pair,
never a half-loaded model. A load that fails keeps the model that was serving and records the error
(:attr:`LiveSnapshot.errors`); the next refresh tries again. :meth:`LiveModels.start` runs the refresh on a daemon
thread every ``interval_s`` seconds until :meth:`LiveModels.stop`.

The hook for the endpoint: at start ``live = LiveModels.from_config(config, TrafficSplit(...))`` and
``live.start(interval_s=5)`` (``live.stop()`` at shutdown); ``live.current()`` gives the versions for
``/healthz``, ``/readyz`` and ``/metrics`` (and ``errors`` for a failed reload); then once per request::

    assignment = live.choose(decision_key)       # decision_key: the request's user id (see below)
    acting = assignment.acting.model             # samples the action; its version is the decision's policy_version
    shadow = assignment.shadow                   # None, or a model to score on the same context without acting
    row |= assignment.log_fields(shadow_probabilities)   # beside the DECISIONS columns in the decision log

Which key
    :meth:`LiveModels.route` sends ``challenger_share`` of the *keys* to the challenger, by a keyed hash of the key
    (BLAKE2b of ``salt:key``; the same arm in every process and after every restart). Pass the request's
    ``user_id``: a user then meets one policy for the whole test (their moments' outcomes, caps and cooldowns are
    not shared between arms) and the split is by users. Pass ``moment_id`` instead to split moments, not users.
    A new ``salt`` draws a fresh split. Because the arm is a fixed function of the key, each logged
    ``propensity`` (the acting model's) stays the true probability of the logged action for that row, which is
    what off-policy estimators need.
How the log records it
    The decision's ``policy_version``, ``action``, ``propensity`` and ``probabilities`` are always those of the
    *acting* model (the logging policy, whatever the arm). :meth:`Assignment.log_fields` adds ``arm``
    (``champion`` or ``challenger``) and, in shadow mode, ``shadow_policy_version`` and ``shadow_probabilities``
    (the shadow model's probabilities over :data:`~features.schemas.ACTIONS`, the same layout as
    ``probabilities``, and like it zero for ineligible actions).
    :func:`~policies.serving.logged_targets.policy_target_table` gathers one version's
    probabilities over every round (where it acted and where it shadowed) into the ``p_<action>`` table that
    ``offerlab ope --target-probs`` reads, so the champion and the challenger are each evaluated on the whole
    log; what each arm earned on its own share is compared by filtering the log on ``arm`` (or
    ``policy_version``).
Shadow mode
    With ``shadow=True`` and a challenger present, the model that does *not* act is scored on every request: the
    challenger while the champion acts, the champion on the challenger's share. Every logged row then holds both
    models' probabilities.

Models are shared between requests as the endpoint shares its one model today: whoever calls ``decide`` on them
serialises the calls (the endpoint's policy lock). A new version is loaded on the poller's thread, so requests
answered meanwhile share the CPU with the load (and the GIL) but never wait for it.

Examples
--------
A registry stand-in (a dict of alias → version) and a loader that builds fixed-action policies show an alias
move; with MLflow the defaults (:func:`~policies.serving.registry.resolve`,
:func:`~policies.serving.pyfunc.load_policy_model`) are used.

>>> from policies.bandits.baselines import FixedAction
>>> from policies.serving.pyfunc import PolicyModel
>>> from policies.serving.registry import ResolvedModel
>>> aliases = {"champion": "1", "challenger": "2"}
>>> def resolver(uri):
...     version = aliases[uri.split("@")[1]]
...     return ResolvedModel(f"models:/offer-policy/{version}", version)
>>> def loader(uri):
...     return PolicyModel(FixedAction("coupon" if uri.endswith("/1") else "installment"))
>>> live = LiveModels(
...     "models:/offer-policy@champion",
...     "models:/offer-policy@challenger",
...     TrafficSplit(challenger_share=0.5, shadow=True),
...     resolver=resolver,
...     loader=loader,
... )
>>> live.current().champion.version, live.current().challenger.version
('offer-policy/v1', 'offer-policy/v2')
>>> assignment = live.choose("user-7")
>>> assignment.arm, assignment.acting.version, assignment.shadow.version
('challenger', 'offer-policy/v2', 'offer-policy/v1')
>>> aliases["champion"] = "2"
>>> live.refresh()
True
>>> live.current().champion.version
'offer-policy/v2'
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from features.schemas import ACTIONS
from policies.serving.config import OfferlabConfig
from policies.serving.pyfunc import PolicyModel, load_policy_model
from policies.serving.registry import ResolvedModel, resolve

logger = logging.getLogger(__name__)

Arm = Literal["champion", "challenger"]
#: How many loaded versions are kept besides the serving ones, so a rollback swaps back without loading.
KEPT_VERSIONS = 4


class TrafficSplit(BaseModel):
    """How requests are shared between the champion and the challenger.

    Parameters
    ----------
    challenger_share
        The share of decision keys the challenger acts on, in [0, 1] (0: the champion acts on all).
    shadow
        Score the model that does not act on every request too (nothing is acted on from it).
    salt
        Mixed into the hash of each key: the same salt gives the same split everywhere; a new salt a fresh one.

    Examples
    --------
    >>> split = TrafficSplit(challenger_share=0.1)
    >>> round(split.bucket("user-12"), 3), split.arm_of("user-12"), split.arm_of("user-7")
    (0.034, 'challenger', 'champion')
    >>> TrafficSplit(challenger_share=1.5)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for TrafficSplit
    challenger_share
      Input should be less than or equal to 1 ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    challenger_share: float = Field(0.0, ge=0.0, le=1.0)
    shadow: bool = False
    salt: str = "offerlab-split"

    def bucket(self, key: str) -> float:
        """Return the key's place in [0, 1): the first 8 bytes of BLAKE2b(``salt:key``) over 2**64."""
        digest = hashlib.blake2b(f"{self.salt}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    def arm_of(self, key: str) -> Arm:
        """``challenger`` for keys whose bucket falls below ``challenger_share``, else ``champion``."""
        return "challenger" if self.bucket(key) < self.challenger_share else "champion"


@dataclass(frozen=True)
class LiveModel:
    """A loaded policy model and the registry version it came from.

    ``version`` is what decisions log as ``policy_version``, e.g. ``offer-policy/v3``.
    """

    model: PolicyModel = field(repr=False)
    version: str
    uri: str


@dataclass(frozen=True)
class LiveSnapshot:
    """The models serving at one moment; replaced whole, never changed.

    ``errors`` maps an alias URI to the last failure to resolve or load it (the model before it keeps serving);
    an entry goes away once that alias loads again.
    """

    champion: LiveModel
    challenger: LiveModel | None
    refreshed_at: datetime
    errors: Mapping[str, str] = field(default_factory=dict)

    def model_for(self, arm: Arm) -> LiveModel:
        """Return the model of ``arm``; the champion when no challenger is loaded."""
        if arm == "challenger" and self.challenger is not None:
            return self.challenger
        return self.champion


@dataclass(frozen=True)
class Assignment:
    """Which model acts on one request, and which (if any) is scored beside it without acting."""

    arm: Arm
    acting: LiveModel
    shadow: LiveModel | None

    def log_fields(self, shadow_probabilities: Sequence[float] | np.ndarray | None = None) -> dict[str, Any]:
        """Return the fields the decision log adds beside the DECISIONS columns.

        These are ``arm``, and with a shadow ``shadow_policy_version`` and ``shadow_probabilities`` (over
        :data:`~features.schemas.ACTIONS`); the DECISIONS columns' ``policy_version`` is ``acting.version``.

        Examples
        --------
        >>> from policies.bandits.baselines import FixedAction
        >>> one = LiveModel(PolicyModel(FixedAction("coupon")), "offer-policy/v1", "models:/offer-policy/1")
        >>> two = LiveModel(PolicyModel(FixedAction("coupon")), "offer-policy/v2", "models:/offer-policy/2")
        >>> Assignment("champion", one, two).log_fields([0.0, 1.0, 0.0, 0.0])
        {'arm': 'champion', 'shadow_policy_version': 'offer-policy/v2', 'shadow_probabilities': [0.0, 1.0, 0.0, 0.0]}
        """
        fields: dict[str, Any] = {"arm": self.arm}
        if self.shadow is None:
            if shadow_probabilities is not None:
                raise ValueError("shadow_probabilities given for an assignment without a shadow model")
            return fields
        if shadow_probabilities is None:
            raise ValueError(f"the assignment has a shadow model ({self.shadow.version}): give its probabilities")
        probs = [float(p) for p in np.asarray(shadow_probabilities, dtype=float).ravel()]
        if len(probs) != len(ACTIONS):
            raise ValueError(f"shadow_probabilities has {len(probs)} entries, expected one per action {ACTIONS}")
        return fields | {"shadow_policy_version": self.shadow.version, "shadow_probabilities": probs}


class LiveModels:
    """The champion (and optional challenger) following their registry aliases.

    Parameters
    ----------
    champion_uri
        ``models:/NAME@ALIAS`` (or any model URI, then never reloaded). It must load at construction.
    challenger_uri
        As ``champion_uri``; ``None``, or an alias that points nowhere, means no challenger. A challenger that
        fails to load at construction is left out (its error in :attr:`LiveSnapshot.errors`) until a refresh
        loads it.
    split
        The traffic split and shadow setting.
    resolver, loader
        Pin a URI to a version, and load a pinned URI (the registry's and MLflow's by default).

    Raises
    ------
    LookupError
        When ``champion_uri`` names an alias that points nowhere.
    """

    def __init__(
        self,
        champion_uri: str,
        challenger_uri: str | None = None,
        split: TrafficSplit | None = None,
        *,
        resolver: Callable[[str], ResolvedModel] = resolve,
        loader: Callable[[str], PolicyModel] = load_policy_model,
    ) -> None:
        self.champion_uri = champion_uri
        self.challenger_uri = challenger_uri
        self.split = split or TrafficSplit()
        self.resolver = resolver
        self.loader = loader
        self._loaded: OrderedDict[str, LiveModel] = OrderedDict()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        champion = self._load(resolver(champion_uri))
        challenger, error = (None, None) if challenger_uri is None else self._follow(challenger_uri, None, True)
        errors = {} if error is None or challenger_uri is None else {challenger_uri: error}
        self._snapshot = LiveSnapshot(champion, challenger, datetime.now(UTC), errors)

    @classmethod
    def from_config(cls, config: OfferlabConfig, split: TrafficSplit | None = None) -> LiveModels:
        """Follow ``config``'s champion alias, and its challenger alias when ``split`` sends it traffic or shadows it.

        Otherwise no challenger is loaded.
        """
        split = split or TrafficSplit()
        challenger_uri = None
        if split.challenger_share > 0 or split.shadow:
            challenger_uri = f"models:/{config.registered_model}@{config.challenger_alias}"
        return cls(config.champion_uri, challenger_uri, split)

    def current(self) -> LiveSnapshot:
        """Return the models serving now (read it once per request and use that snapshot throughout)."""
        return self._snapshot

    def route(self, decision_key: str) -> Arm:
        """Return the arm that acts for ``decision_key`` (always ``champion`` without a challenger)."""
        if self._snapshot.challenger is None:
            return "champion"
        return self.split.arm_of(decision_key)

    def choose(self, decision_key: str) -> Assignment:
        """Pick the acting model for ``decision_key`` and, in shadow mode with a challenger, the other one to score."""
        snapshot = self._snapshot
        arm: Arm = "champion" if snapshot.challenger is None else self.split.arm_of(decision_key)
        acting = snapshot.model_for(arm)
        shadow = None
        if self.split.shadow and snapshot.challenger is not None:
            shadow = snapshot.champion if arm == "challenger" else snapshot.challenger
        return Assignment(arm, acting, shadow)

    def refresh(self) -> bool:
        """Re-resolve the aliases and swap in any version that changed; ``True`` when the serving models changed.

        A failure to resolve or load keeps the serving model for that alias and is recorded in the snapshot's
        ``errors`` (and logged); it never raises. A challenger alias that no longer exists removes the challenger.
        """
        with self._refresh_lock:
            before = self._snapshot
            champion, champion_error = self._follow(self.champion_uri, before.champion)
            assert champion is not None  # the serving champion is kept on any failure
            challenger, challenger_error = None, None
            if self.challenger_uri is not None:
                challenger, challenger_error = self._follow(self.challenger_uri, before.challenger, may_vanish=True)
            errors = {
                uri: error
                for uri, error in ((self.champion_uri, champion_error), (self.challenger_uri, challenger_error))
                if uri is not None and error is not None
            }
            changed = (champion, challenger) != (before.champion, before.challenger)
            if changed:
                logger.info(
                    "now serving champion %s, challenger %s",
                    champion.version,
                    challenger.version if challenger else None,
                )
            self._snapshot = LiveSnapshot(champion, challenger, datetime.now(UTC), errors)
            return changed

    def start(self, interval_s: float = 10.0) -> None:
        """Refresh every ``interval_s`` seconds on a daemon thread until :meth:`stop`."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if self._poller is not None and self._poller.is_alive():
            raise RuntimeError("the alias poller is already running")
        self._stop.clear()
        self._poller = threading.Thread(target=self._poll, args=(interval_s,), name="alias-poller", daemon=True)
        self._poller.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the poller (if running) and wait up to ``timeout_s`` for a refresh in progress."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout_s)
            self._poller = None

    def __enter__(self) -> LiveModels:
        """Return these live models, to be stopped at the end of the ``with`` block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the poller, as :meth:`stop` does."""
        self.stop()

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # refresh records its failures; anything else must not end the poller
                logger.exception("refreshing the live models failed")

    def _follow(
        self, uri: str, serving: LiveModel | None, may_vanish: bool = False
    ) -> tuple[LiveModel | None, str | None]:
        """Return the model to serve next for ``uri`` and the error met on the way (``serving`` is kept on an error).

        With ``may_vanish``, an alias that points nowhere gives ``(None, None)``.
        """
        try:
            resolved = self.resolver(uri)
        except LookupError as error:
            if may_vanish:
                return None, None
            return self._kept(uri, serving, error)
        except Exception as error:  # an unreachable registry keeps what serves
            return self._kept(uri, serving, error)
        try:
            return self._load(resolved, serving), None
        except Exception as error:  # any failure to load keeps what serves
            return self._kept(resolved.uri, serving, error)

    @staticmethod
    def _kept(uri: str, serving: LiveModel | None, error: Exception) -> tuple[LiveModel | None, str]:
        logger.warning("keeping %s: %s failed: %s", serving.version if serving else None, uri, error)
        return serving, f"{type(error).__name__}: {error}"

    def _load(self, resolved: ResolvedModel, serving: LiveModel | None = None) -> LiveModel:
        """Return the model of ``resolved``: ``serving`` itself when unchanged, a kept one, or freshly loaded."""
        if serving is not None and serving.uri == resolved.uri:
            return serving
        kept = self._loaded.get(resolved.uri)
        if kept is None:
            kept = LiveModel(self.loader(resolved.uri), resolved.label, resolved.uri)
        self._loaded[resolved.uri] = kept
        self._loaded.move_to_end(resolved.uri)
        while len(self._loaded) > KEPT_VERSIONS:
            self._loaded.popitem(last=False)
        return kept
