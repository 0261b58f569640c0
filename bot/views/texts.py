"""Words for data: field prompts, validation problems, refusals and statuses, marked
for extraction here and translated where they are shown."""

from __future__ import annotations

from datetime import date
from html import escape

from babel.dates import format_date

from bot.i18n import I18n, _
from bot.panel.errors import PanelRefusal, PanelWebPage, Refusal, RefusalKind
from bot.panel.fields import FieldInvalid, FieldKind, FieldSpec, field_label, parse_date, split_lines
from bot.panel.models import Service

# What each field is, shown under its API name in the prompt.
FIELD_HINTS: dict[str, str] = {
    "link": _("The link to the page, profile or post (starting with https://)."),
    "quantity": _("How many: a whole number from {minimum} to {maximum}."),
    "runs": _("Drip-feed: how many times to deliver the quantity (at least 2). Skip to deliver at once."),
    "interval": _("Drip-feed: minutes between deliveries."),
    "username": _("The username, without the link."),
    "min": _("The least per new post: from {minimum} to {maximum}."),
    "max": _("The most per new post: from {minimum} to {maximum}, not less than the minimum."),
    "posts": _("How many new posts to serve. Skip for no limit; 0 serves no new posts (then only the existing posts you include)."),
    "old_posts": _("How many existing posts to serve too. Skip for none."),
    "delay": _("Minutes to wait after a new post before delivering."),
    "expiry": _("The date the subscription ends: pick one below, or write it as day/month/year (for example {example}). Skip for none."),
    "answer_number": _("The number of the poll answer to vote for (1 is the first)."),
    "comments": _("The comments, one per line."),
    "usernames": _("The usernames, one per line."),
    "hashtags": _("The hashtags, one per line."),
    "hashtag": _("The hashtag."),
    "media": _("The link to the media whose likers to mention."),
    "groups": _("The groups, one per line."),
    "keywords": _("The keywords, one per line."),
    "country": _("The country the visitors should come from (for example US)."),
    "device": _("The visitors' device."),
    "type_of_traffic": _("Where the visits should come from."),
    "google_keyword": _("The Google keyword the visitors search for."),
    "referring_url": _("The referring page's link."),
}

LINES_RANGE = _("Send from {minimum} to {maximum} lines; each line counts as one.")

CHOICE_LABELS: dict[str, dict[str, str]] = {
    "device": {
        "1": _("Desktop"),
        "2": _("Android"),
        "3": _("iOS"),
        "4": _("Mixed mobile"),
        "5": _("Mixed mobile and desktop"),
    },
    "type_of_traffic": {
        "1": _("Google keyword"),
        "2": _("Custom referrer"),
        "3": _("Blank referrer"),
    },
}

PROBLEMS: dict[str, str] = {
    "required": _("This field cannot be empty."),
    "link_spaces": _("A link has no spaces. Send just the link, for example https://instagram.com/name."),
    "link_invalid": _("That does not look like a link. Send it as https://site.com/page."),
    "link_scheme": _("The link must start with http:// or https://."),
    "too_long": _("That is too long: at most {maximum} characters."),
    "not_integer": _("Send a whole number, digits only, for example 1000."),
    "out_of_range": _("The number must be from {minimum} to {maximum}."),
    "too_small": _("The number must be at least {minimum}."),
    "too_large": _("The number must be at most {maximum}."),
    "line_count": _("You sent {count} lines; this service takes from {minimum} to {maximum}."),
    "date_format": _("Write the date as day/month/year, for example {example}."),
    "date_invalid": _("There is no such date. Write it as day/month/year, for example {example}."),
    "date_past": _("The date must be in the future."),
    "choice": _("Choose one of the buttons."),
    "min_above_max": _("The maximum must not be less than the minimum ({minimum})."),
}

REFUSALS: dict[RefusalKind, str] = {
    RefusalKind.INVALID_KEY: _("The panel does not accept this API key. Link a valid key with /connect."),
    RefusalKind.NOT_ENOUGH_FUNDS: _("There is not enough money on your panel balance for this order. Top up on the panel, then press Confirm again."),
    RefusalKind.QUANTITY: _("The panel refused the quantity."),
    RefusalKind.DUPLICATE_ORDER: _("You already have an active order for this link. Wait until it completes, or use another link."),
    RefusalKind.INCORRECT_SERVICE: _("The panel no longer offers this service."),
    RefusalKind.INCORRECT_ORDER: _("The panel does not know this order for your account."),
    RefusalKind.INCORRECT_REFILL: _("The panel does not know this refill."),
    RefusalKind.REFILL_DISABLED: _("Refill is disabled for this service."),
    RefusalKind.REFILL_NOT_COMPLETED: _("The previous refill of this order is not completed yet."),
    RefusalKind.BAD_LINK: _("The panel refused the link. Check it and edit the order."),
    RefusalKind.DRIPFEED_UNSUPPORTED: _("This service does not support drip-feed. Edit the order and skip runs."),
    RefusalKind.INCORRECT_REQUEST: _("The panel refused the request as incomplete."),
    RefusalKind.UNSUPPORTED_ACTION: _("The panel does not offer this through its API."),
    RefusalKind.MISSING_FIELD: _("The panel wants a field this order does not have."),
    RefusalKind.INVALID_FIELD: _("The panel does not accept one of the values of this order."),
    RefusalKind.OTHER: _("The panel refused the order."),
}

STATUSES: dict[str, str] = {
    "Pending": _("Pending"),
    "In progress": _("In progress"),
    "Processing": _("Processing"),
    "Active": _("Active"),
    "Completed": _("Completed"),
    "Partial": _("Partial"),
    "Canceled": _("Canceled"),
    "Refunded": _("Refunded"),
    "Fail": _("Fail"),
    "Error": _("Error"),
    "Rejected": _("Rejected"),
}

def date_example(today: date | None = None) -> str:
    """A date to show as an example of the format: always in the future (a fixed year
    would soon be one the form refuses)."""
    return f"31/12/{(today or date.today()).year + 1}"


def field_hint(t: I18n, spec: FieldSpec, service: Service) -> str:
    if spec.lines_are_quantity:
        return t._(FIELD_HINTS.get(spec.name, "")) + " " + t._(
            LINES_RANGE, minimum=t.number(service.min), maximum=t.number(service.max)
        )
    hint = FIELD_HINTS.get(spec.name)
    if hint is None:
        return ""
    return t._(hint, minimum=t.number(service.min), maximum=t.number(service.max), example=date_example())


def choice_label(t: I18n, spec: FieldSpec, value: str) -> str:
    if spec.name == "delay":
        return t._("No delay") if value == "0" else t._("{minutes} min", minutes=value)
    if spec.name == "interval":
        return t._("{minutes} min", minutes=value)
    label = CHOICE_LABELS.get(spec.name, {}).get(value)
    return t._(label) if label else value


def problem(t: I18n, invalid: FieldInvalid) -> str:
    params = {k: (t.number(v) if isinstance(v, int) else v) for k, v in invalid.params.items()}
    params.setdefault("example", date_example())
    return t._(PROBLEMS.get(invalid.code, PROBLEMS["required"]), **params)


def label(t: I18n, spec: FieldSpec) -> str:
    """What a person reads for a field: its label in their language, never its API name."""
    return t._(spec.label) if spec.label else spec.name


def field_name(t: I18n, name: str) -> str:
    """A field named by the panel (a refusal): the table's label where it has the field,
    else the panel's own word (a field of that panel only)."""
    known = field_label(name)
    return t._(known) if known else escape(name, quote=False)


def day(t: I18n, value: str) -> str:
    """A date field's value (`dd/mm/yyyy`, as `add` sends it) as the user's locale writes
    a date."""
    when = parse_date(value)
    return format_date(when, format="medium", locale=t.locale) if when else value


def days_from_now(t: I18n, value: str, today: date) -> str:
    """A date quick pick's button: "In 7 days"."""
    when = parse_date(value)
    if when is None:
        return value
    days = (when - today).days
    return t.ngettext("In {n} day", "In {n} days", days)


def refusal(t: I18n, refused: Refusal) -> str:
    if refused.field and refused.kind is RefusalKind.INVALID_FIELD:
        return t._("The panel does not accept the value of «{field}». Change it and confirm again.",
                   field=field_name(t, refused.field))
    if refused.field and refused.kind is RefusalKind.MISSING_FIELD:
        return t._("The panel wants «{field}» for this order. Add it and confirm again.", field=field_name(t, refused.field))
    text = t._(REFUSALS.get(refused.kind, REFUSALS[RefusalKind.OTHER]))
    if refused.kind is RefusalKind.QUANTITY:
        if refused.minimum is not None:
            text = t._("The panel needs a quantity of at least {minimum}.", minimum=t.number(refused.minimum))
        elif refused.maximum is not None:
            text = t._("The panel takes a quantity of at most {maximum}.", maximum=t.number(refused.maximum))
        elif refused.step:
            text = t._("The panel needs the quantity in steps (for example a multiple of 100).")
    return text


def status_name(t: I18n, status: str | None) -> str:
    if not status:
        return t._("Unknown")
    return t._(STATUSES[status]) if status in STATUSES else status


def field_line(t: I18n, spec: FieldSpec, value: str, *, preview: int) -> str:
    """One entered field as a person reads it, "Label: value" (HTML): a list as its count
    and first `preview` lines, a choice by its name, a number and a date in the locale."""
    if spec.kind is FieldKind.LINES:
        items = split_lines(value)
        shown = t.ngettext("{n} line", "{n} lines", len(items))
        shown += "".join("\n  " + escape(_clip(item, 100), quote=False) for item in items[:preview])
        if len(items) > preview:
            shown += "\n  " + t._("… and {count} more", count=t.number(len(items) - preview))
    elif spec.kind is FieldKind.CHOICE:
        shown = escape(choice_label(t, spec, value), quote=False)
    elif spec.kind is FieldKind.INTEGER and value.isascii() and value.isdigit():
        shown = t.number(int(value))
    elif spec.kind is FieldKind.DATE:
        shown = escape(day(t, value), quote=False)
    else:
        shown = escape(_clip(value, 300), quote=False)
    return t._("{field}: {value}", field=escape(label(t, spec), quote=False), value=shown)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def panel_down(t: I18n, error: BaseException | None = None) -> str:
    """What to tell a user when the panel gave no usable answer: wait a minute, or,
    when its address answered a web page (`PanelWebPage`), that PANEL_URL needs a look:
    waiting will not help."""
    if isinstance(error, PanelWebPage):
        return t._("⚠️ The panel answered a web page, not its API: the bot's PANEL_URL setting needs checking "
                   "(tell whoever runs this bot). Nothing was changed.")
    return t._("⏳ The panel is not answering right now. Nothing was changed; please try again in a minute.")


def panel_problem(t: I18n, error: BaseException) -> str:
    """The one answer to "the panel gave no usable answer": its refusal in words, or that
    it is not answering (a web page where its API should be: PANEL_URL needs a look)."""
    if isinstance(error, PanelRefusal):
        return refusal(t, error.refusal)
    return panel_down(t, error)
