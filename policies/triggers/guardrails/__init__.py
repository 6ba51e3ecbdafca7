"""Guardrails around every trigger moment: one module, the same in the simulator, in training and in serving.

:class:`Guardrails` turns the moments a trigger engine fires into the moments a policy is asked about
(:meth:`Guardrails.apply`), and checks each message again when it is delivered (:meth:`Guardrails.deliverable`).

Notes
-----
:meth:`Guardrails.apply` checks a batch in this order; a moment stops at the first guardrail it fails, with a
short code (``suppressed_by``) and a sentence (``why``):

1. ``duplicate``: its ``moment_id`` was handled (kept or suppressed) by an earlier call, or an identical id
   comes earlier in this batch (rows are first put in a canonical order: ``moment_id``, ``ts``, ``send_at``,
   ``user_id``, ``trigger``, ``item_id``, ``reason``, so the input row order never matters).
2. ``unknown_user``: the user is not among the users given (or added with :meth:`Guardrails.add_users`).
3. Quiet hours (never a suppression): a ``send_at`` whose local wall-clock time (the user's IANA zone) lies in
   ``[start, end)`` moves to the next local ``end`` hour. This comes first among the time checks because every
   later check is made *at the send time*: opt-out, consent and unsubscribes as of the deferred send, the local
   day of the day cap, cooldowns, collisions. On a fall-back day the earlier of the two wall times is taken;
   an ``end`` hour the clock skips maps to the first instant after the gap.
4. ``opted_out``: ``opted_out_at`` at or before the send time.
5. ``no_consent``: no channel in ``settings.channels`` that the user consents to and had not unsubscribed
   from (:meth:`Guardrails.observe`) before the send time.
6. The stateful checks, one user at a time, the user's candidates taken in priority order (the trigger's place
   in ``settings.priority``, then ``ts``, then ``moment_id``), each against the sends already kept for the
   user (by earlier calls, and by this call so far):

   a. ``priority``: a kept send less than ``collision_hours`` away wins (within a batch, the higher priority
      one, as it was taken first; a send kept by an earlier call stays, it may already be out);
   b. ``cooldown_trigger`` / ``cooldown_item``: a kept send of the same trigger (of the same item) less than
      the cooldown away;
   c. frequency caps: the first open channel (in ``settings.channels`` order) with room under its cap per
      local calendar day and per rolling 7 days takes the moment; if none has room, ``cap_day`` or
      ``cap_week`` (the code of the first open channel; ``why`` lists every channel).

   Priority order is what makes "the higher priority wins" a greedy choice; caps and cooldowns are checked
   symmetrically in time (a kept send *after* the candidate counts too, and a weekly cap is checked in every
   7-day window that would hold the new send), so no kept schedule breaks a cap or cooldown whatever the
   order in which moments arrive. When moments arrive in send-time order this is the same as counting
   earlier sends only. A moment that lost on priority is not revived when its winner is then stopped by a
   cooldown or a cap; only kept sends block others, so a winner stopped by a cap blocks nothing.
7. ``holdout``: a moment of a holdout user that passed everything is suppressed with its channel filled in,
   and counts in the state like a send (caps, cooldowns, collisions), so that holdout and treated users see
   the same moment rates.

Speed: everything is vectorised. Steps 1 to 5 are polars expressions (one time-zone conversion per zone). Step 6
is the loop's greedy choice made in rounds over all users at once (:mod:`~policies.triggers.guardrails.greedy`):
each round judges every candidate still open against the recent sends and the candidates kept so far, as
(candidate, send) pairs of numpy arrays (:mod:`~policies.triggers.guardrails.judge`); a user's first open
candidate is then settled, and any other refused stays refused (a refusal only hardens as the history grows).
A few rounds settle a batch; the sentences are built per code with polars, each written once for both paths
(:mod:`~policies.triggers.guardrails.wording`). A property test holds the rounds to the loop
(:mod:`~policies.triggers.guardrails.sequential`), which :meth:`Guardrails.apply_one` runs.

One moment (the endpoint): :meth:`Guardrails.apply_one` makes the same checks in the same order in plain Python
over the state indexed by user (:mod:`~policies.triggers.guardrails.one`), with the same functions for quiet
hours, sentences and the stateful checks, and returns a :class:`Verdict`; what it adds to the state reaches the
frames at the next :meth:`Guardrails.apply`. A property test feeds the same moments one at a time to both.

The state: the moment ids seen, the sends kept or held out, the unsubscribes observed. Sends are kept for
the life of the object; only those within the horizon of a batch (7 days, the cooldowns and
``collision_hours`` before its earliest send, and everything after) are read.

Ties that the canonical order cannot break (rows equal in every MOMENTS column but different in extra
columns) may come out in either order.

Examples
--------
>>> from policies.triggers.guardrails import Guardrails, GuardrailResult
>>> sorted(name for name in dir(Guardrails) if not name.startswith("_"))
['add_users', 'apply', 'apply_one', 'deliverable', 'is_holdout', 'observe']
"""

from policies.triggers.guardrails.core import GuardrailResult, Guardrails
from policies.triggers.guardrails.one import Verdict

__all__ = ["GuardrailResult", "Guardrails", "Verdict"]
