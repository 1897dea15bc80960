"""How a meeting is signed (registered with the signatures app in MeetingsConfig.ready).

Anyone who may see it may sign it, nothing locks on signing; the signed content includes its
participants and its decisions (the minutes signed are what was decided).
"""

from __future__ import annotations

from typing import Any

from backend.meetings.models import Meeting, MeetingDecision, MeetingParticipant
from backend.signatures.content import content_rows
from backend.signatures.signable import Signable


def _children(meeting: Meeting) -> dict[str, Any]:
    return {
        "participants": content_rows(
            MeetingParticipant.all_objects.filter(meeting=meeting), record_type="meeting_participant", with_photos=False
        ),
        "decisions": content_rows(
            MeetingDecision.all_objects.filter(meeting=meeting), record_type="meeting_decision", with_photos=False
        ),
    }


MEETING_SIGNABLE = Signable(children=_children)
