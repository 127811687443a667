"""Fix-time SLOs: the policy, waivers and the pure evaluation the scan and the gate share."""

from verify.slo.evaluate import (
    STATUSES,
    Evaluation,
    SloFinding,
    SloResult,
    Status,
    WaiverIndex,
    WaiverKey,
    check_waiver_spans,
    evaluate,
    waiver_key,
    waiver_matches,
    waiver_refusal,
)
from verify.slo.policy import (
    LEVELS,
    Level,
    Policy,
    SloPolicyError,
    Waiver,
    parse_policy,
    parse_waivers,
    with_waivers,
)

__all__ = [
    "LEVELS",
    "STATUSES",
    "Evaluation",
    "Level",
    "Policy",
    "SloFinding",
    "SloPolicyError",
    "SloResult",
    "Status",
    "Waiver",
    "WaiverIndex",
    "WaiverKey",
    "check_waiver_spans",
    "evaluate",
    "parse_policy",
    "parse_waivers",
    "waiver_key",
    "waiver_matches",
    "waiver_refusal",
    "with_waivers",
]
