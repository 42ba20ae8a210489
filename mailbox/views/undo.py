"""Notices after an action on messages, and their "Undo".

The answer of an action that takes messages out of the folder (archive, delete to Trash, junk,
move) says what happened ("3 messages archived.") and carries what its undo needs: the moves,
as mailbox.actions.MoveLog.as_moves gives them. "Undo" posts them back here; the action checks
every id against the user and the folder the move put it in, so a forged or stale request
changes nothing that a move of the user's own could not.
"""

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from mailbox import actions
from mailbox.forms import MAX_ID, MAX_IDS
from mailbox.models import Folder
from mailbox.templatetags.mail import folder_label

MAX_MOVES = 100  # (origin, target) groups in one undo: a request names at most MAX_IDS messages


def action_notice(action, count, log, target_id=None, *, user):
    """The notice of an action that moved ``count`` messages, with its undo when ``log`` (a
    MoveLog) recorded the moves: {"notice": text, "undo": moves or absent}. Empty for actions
    that leave messages where they are."""
    if action not in ("archive", "junk", "delete", "move") or not count:
        return {}
    text = _notice_text(action, count, log, target_id, user)
    if not log or len(log) > MAX_IDS:  # gone for good, or more than an undo may name
        return {"notice": text}
    return {"notice": text, "undo": log.as_moves()}


def _notice_text(action, count, log, target_id, user):
    moved = len(log)
    if action == "delete":
        forgone, parts = count - moved, []
        if moved:
            parts.append(
                ngettext(
                    "%(count)d message moved to Trash.", "%(count)d messages moved to Trash.", moved
                )
                % {"count": moved}
            )
        if forgone:
            parts.append(
                ngettext(
                    "%(count)d message deleted for good.",
                    "%(count)d messages deleted for good.",
                    forgone,
                )
                % {"count": forgone}
            )
        return " ".join(parts)
    if action == "archive":
        return ngettext("%(count)d message archived.", "%(count)d messages archived.", count) % {
            "count": count
        }
    if action == "junk":
        return ngettext(
            "%(count)d message marked as junk.", "%(count)d messages marked as junk.", count
        ) % {"count": count}
    target = Folder.objects.filter(pk=target_id, account__user=user).first()
    name = folder_label(target) if target else ""
    return ngettext("Moved to %(folder)s.", "%(count)d messages moved to %(folder)s.", count) % {
        "count": count,
        "folder": name,
    }


@login_required
@require_POST
def undo_moves(request):
    """Put back what an action moved: POST ``moves``, the JSON its answer gave. JSON:
    {"ok": true, "count": put back, "skipped": n, "notice": text, "restored": moves}
    (``restored``: where the messages are now, for the page to show them in place), or
    {"ok": false, "error": "..."} with status 400."""
    try:
        moves = parse_moves(request.POST.get("moves", ""))
    except ValidationError as error:
        return JsonResponse({"ok": False, "error": " ".join(error.messages)}, status=400)
    log = actions.MoveLog()
    back, skipped = actions.do_undo_moves(request.user, moves, log=log)
    return JsonResponse(
        {
            "ok": True,
            "count": back,
            "skipped": skipped,
            "notice": _undo_text(back, skipped),
            "restored": log.as_moves(),
        }
    )


def _undo_text(back, skipped):
    if not back:
        return _("Nothing to undo: those messages were moved again or are gone.")
    text = ngettext("%(count)d message put back.", "%(count)d messages put back.", back)
    text %= {"count": back}
    if skipped:
        text += " " + ngettext(
            "%(count)d was moved again or is gone, and stays as it is.",
            "%(count)d were moved again or are gone, and stay as they are.",
            skipped,
        ) % {"count": skipped}
    return text


def parse_moves(text):
    """``[{"from": id, "to": id, "ids": [id, ...]}, ...]`` from JSON, ids positive 64-bit
    integers, at most MAX_MOVES groups and MAX_IDS ids in all; ValidationError otherwise."""
    try:
        moves = json.loads(text)
    except ValueError:
        moves = None
    if not isinstance(moves, list) or not moves or len(moves) > MAX_MOVES:
        raise ValidationError(_("There is nothing to undo."))
    if not all(_is_move(move) for move in moves):
        raise ValidationError(_("There is nothing to undo."))
    if sum(len(move["ids"]) for move in moves) > MAX_IDS:
        raise ValidationError(_("Choose at most %(max)d messages at once.") % {"max": MAX_IDS})
    return [{"from": m["from"], "to": m["to"], "ids": m["ids"]} for m in moves]


def _is_id(value):
    return type(value) is int and 0 < value <= MAX_ID


def _is_move(move):
    return (
        isinstance(move, dict)
        and _is_id(move.get("from"))
        and _is_id(move.get("to"))
        and isinstance(move.get("ids"), list)
        and bool(move["ids"])
        and all(_is_id(i) for i in move["ids"])
    )
