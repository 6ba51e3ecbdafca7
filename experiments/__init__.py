"""The lab: off-policy evaluation, tuning, tracking, the promotion gate and the offerlab CLI."""
