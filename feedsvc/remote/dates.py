"""Dates as feeds write them, read as timezone-aware UTC moments (pure).

RSS writes RFC 822 (nearly always in one spelling, read here directly at a
tenth of ``email.utils``' cost); Atom and Dublin Core write RFC 3339 or
W3CDTF.  A missing or unreadable date is ``None``: it is never invented.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

# RFC 822 as nearly every RSS feed writes it; anything else goes to email.utils.
_RFC822 = re.compile(r"(?:[A-Z][a-z]{2}, )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                     r"Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_MONTHS = {name: n for n, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _rfc822(text: str) -> datetime | None:
    """``parsedate_to_datetime`` for the common spelling, a tenth of its cost
    (None: not that spelling; ValueError: not a real moment)."""
    m = _RFC822.fullmatch(text)
    if m is None:
        return None
    day, month, year, hour, minute, second, sign, zh, zm = m.groups()
    offset = timedelta(hours=int(zh), minutes=int(zm))
    zone = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                    tzinfo=zone)


def parse_date(value: str | None) -> datetime | None:
    """RFC 822 (RSS) or RFC 3339/W3CDTF (Atom, Dublin Core) → aware UTC; None
    when absent or unreadable.  A date without a zone is read as UTC."""
    if not value or not value.strip():
        return None
    text = value.strip()
    moment: datetime | None = None
    if text[:1].isdigit() and "-" in text[:8]:
        iso = text.replace("Z", "+00:00").replace("z", "+00:00")
        if len(iso) == 7:  # W3CDTF "YYYY-MM"
            iso += "-01"
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError:
            moment = None
    if moment is None:
        try:
            moment = _rfc822(text) or parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


__all__ = ["parse_date"]
