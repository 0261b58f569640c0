"""A panel's service catalog: tolerant parsing of `action=services`, platform and
category grouping, fast word search, and a per-panel TTL cache with single-flight."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import unicodedata
from bisect import bisect_left
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from heapq import nsmallest
from typing import Any, cast

from bot.panel.errors import PanelRefusal, PanelUnavailable, classify
from bot.panel.models import Service
from bot.panel.values import clean_text, to_bool, to_decimal, to_int

__all__ = [
    "OTHER",
    "Catalog",
    "CatalogCache",
    "fold",
    "parse_services",
    "platform_of",
    "words",
]

log = logging.getLogger(__name__)

OTHER = "Other"

# --- parsing ---------------------------------------------------------------------------

# Wrapper keys seen around the list: `{"status":"success","data":[...]}` (SmartPanel),
# `{"services": [...]}` (bots that saved the reply), `{"timestamp":…, "data": [...]}`.
_WRAPPER_KEYS = ("data", "services")

_SPACES = re.compile(r"\s+")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# One cleaning function for the fast path and `Service.from_api` alike.
_clean = clean_text


def _count(raw: object) -> int:
    """`min` / `max`: an int or digit string fast, anything else as `from_api` reads it."""
    if type(raw) is int:
        return raw
    if type(raw) is str and raw.isascii() and raw.isdigit():
        return int(raw)
    return to_int(raw) or 0


def _flag(raw: object) -> bool:
    return raw if type(raw) is bool else to_bool(raw)


class _Parser:
    """`Service.from_api` with a fast path for the shapes real panels send (ints,
    digit strings, plain decimal strings, booleans). Anything else is handed to
    `Service.from_api` itself, so odd items get exactly its behaviour."""

    __slots__ = ("_texts", "_rates")

    def __init__(self) -> None:
        # Categories, types and rates repeat thousands of times: cleaning each once
        # also makes the services share one string / Decimal object (memory).
        self._texts: dict[str, str] = {}
        self._rates: dict[object, Decimal] = {}

    def _shared(self, raw: str) -> str:
        text = self._texts.get(raw)
        if text is None:
            text = self._texts[raw] = _clean(raw)
        return text

    def _rate(self, raw: object) -> Decimal:
        if type(raw) is str or type(raw) is int:  # not bool: True is no price
            rate = self._rates.get(raw)
            if rate is None:
                plain = isinstance(raw, int) or _PLAIN_NUMBER.fullmatch(raw) is not None
                rate = Decimal(raw) if plain else to_decimal(raw)
                rate = self._rates[raw] = rate or Decimal(0)
            return rate
        return to_decimal(raw) or Decimal(0)

    def service(self, item: dict[str, Any]) -> Service | None:
        raw_id = item["service"] if "service" in item else item.get("id")
        if type(raw_id) is int:
            service_id: int = raw_id
        elif type(raw_id) is str and raw_id.isascii() and raw_id.isdigit():
            service_id = int(raw_id)
        else:
            return Service.from_api(item)
        name = item.get("name")
        kind = item.get("type")
        category = item.get("category")
        if type(name) is not str or type(kind) is not str or type(category) is not str:
            return Service.from_api(item)
        description = item["desc"] if "desc" in item else item.get("description")
        if description is not None:
            description = (_clean(description) if type(description) is str else clean_text(description)) or None
        return Service(
            service_id,
            _clean(name) or str(service_id),
            self._shared(kind) or "Default",
            self._shared(category),
            self._rate(item.get("rate")),
            _count(item.get("min")),
            _count(item.get("max")),
            _flag(item.get("refill")),
            _flag(item.get("cancel")),
            _flag(item.get("dripfeed")),
            description,
        )


def _items(payload: object) -> Iterable[Any]:
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, Mapping):
        raise PanelUnavailable(f"services: unexpected reply of type {type(payload).__name__}")
    for key in _WRAPPER_KEYS:
        if key in payload:
            inner = payload[key]
            if isinstance(inner, str | None):  # {"data": "Empty Data"}
                return []
            return _items(inner)
    if "error" in payload:
        raise PanelRefusal(classify(payload["error"]))
    if "service" in payload and "name" in payload:  # one bare service object
        return [payload]
    # A dict keyed by id: the key is the id when the item does not carry one.
    items = []
    for key, value in payload.items():
        if isinstance(value, Mapping) and "service" not in value and "id" not in value:
            value = {**value, "service": key}
        items.append(value)
    if items and not any(isinstance(item, Mapping) for item in items):
        # Not a catalog at all (a status object, a misrouted reply): an empty
        # catalog would silently replace a good cached one.
        raise PanelUnavailable("services: unexpected reply without service objects")
    return items


def parse_services(payload: object) -> list[Service]:
    """The services in a decoded `action=services` reply, in the panel's order.

    Accepts a list, a `data`/`services` wrapper (`"Empty Data"` -> `[]`) or a dict keyed
    by id; skips items that are not objects or have no usable (positive) id; keeps the
    last of duplicate ids at the first one's position. An `{"error": …}` reply raises
    `PanelRefusal`; any other shape raises `PanelUnavailable`."""
    parser = _Parser()
    by_id: dict[int, Service] = {}
    for item in _items(payload):
        if not isinstance(item, dict):
            continue
        try:
            service = parser.service(item)
        except Exception:  # one broken item must not cost the whole catalog
            log.debug("skipping an unparseable service item", exc_info=True)
            continue
        if service is not None and service.id > 0:
            by_id[service.id] = service
    return list(by_id.values())


# --- text folding ------------------------------------------------------------------------

# Apostrophes vanish rather than split: Uzbek `ko'rishlar`, `ko‘rishlar`, `koʻrishlar`
# and the usual typed `korishlar` all become one word.
_APOSTROPHES = re.compile("['`´‘’‛ʻʼʽ′＇]")
_MARKS = re.compile(r"[\u0300-\u036f]")  # Latin-style diacritics only: other scripts'
# combining signs are letters of the word, not accents.
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Text as search compares it: apostrophes dropped, NFKC (mathematical and
    full-width letters become plain), case-folded, Latin diacritics removed."""
    text = _APOSTROPHES.sub("", text)
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    # Recompose what is left, so Hangul syllables and kana with voicing marks stay whole.
    return unicodedata.normalize("NFC", _MARKS.sub("", text))


def words(text: str) -> list[str]:
    """The folded words (runs of letters and digits) of `text`, in order."""
    return _WORD.findall(fold(text))


def _distinct_words(text: str, chunks: dict[str, list[str]]) -> dict[str, None]:
    """`dict.fromkeys(words(text))`, folding each space-separated chunk once per
    catalog: names repeat the same few hundred chunks, and folding is the cost."""
    found: dict[str, None] = {}
    for chunk in text.split():
        chunk_words = chunks.get(chunk)
        if chunk_words is None:
            chunk_words = chunks[chunk] = _WORD.findall(fold(chunk))
        for word in chunk_words:
            found[word] = None
    return found


# --- platforms ---------------------------------------------------------------------------

# (label, word prefixes, whole words, word pairs). A prefix also matches inflected forms
# (Uzbek `Telegramga`, `Instagramdagi`); short or ambiguous names match whole words only.
_PLATFORMS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    ("Instagram", ("instagram", "инстаграм"), ("ig", "insta", "инста"), ()),
    ("TikTok", ("tiktok", "тикток"), ("tt",), (("tik", "tok"), ("тик", "ток"))),
    ("YouTube", ("youtube", "ютуб"), ("yt",), (("you", "tube"),)),
    ("Telegram", ("telegram", "телеграм", "телега"), ("tg",), ()),
    ("Facebook", ("facebook", "фейсбук"), ("fb",), ()),
    ("Twitter", ("twitter", "tweet", "твиттер"), (), ()),
    ("Spotify", ("spotify",), (), ()),
    ("Twitch", ("twitch",), (), ()),
    ("Discord", ("discord",), (), ()),
    ("Threads", ("threads",), (), ()),
    ("LinkedIn", ("linkedin",), (), (("linked", "in"),)),
    ("Snapchat", ("snapchat",), (), ()),
    ("Pinterest", ("pinterest",), (), ()),
    ("SoundCloud", ("soundcloud",), (), (("sound", "cloud"),)),
    ("Audiomack", ("audiomack",), (), ()),
    ("Boomplay", ("boomplay",), (), ()),
    ("Kick", (), ("kick",), ()),
    ("Reddit", ("reddit",), (), ()),
    ("Quora", ("quora",), (), ()),
    ("VK", ("vkontakte", "вконтакте"), ("vk", "вк"), ()),
    ("WhatsApp", ("whatsapp",), (), ()),
    ("Google", ("google",), (), ()),
    ("Apple Music", (), (), (("apple", "music"),)),
    ("Deezer", ("deezer",), (), ()),
    ("Shazam", ("shazam",), (), ()),
    ("Tumblr", ("tumblr",), (), ()),
    ("Likee", ("likee",), (), ()),
    ("Kwai", ("kwai",), (), ()),
    ("Rumble", ("rumble",), (), ()),
    ("Dailymotion", ("dailymotion",), (), ()),
    ("Vimeo", ("vimeo",), (), ()),
    ("Trovo", ("trovo",), (), ()),
    ("Clubhouse", ("clubhouse",), (), ()),
    ("Website", ("website", "traffic", "backlink", "сайт"), ("web", "seo", "веб"), ()),
)
_PREFIXES: dict[str, str] = {prefix: label for label, prefixes, _, _ in _PLATFORMS for prefix in prefixes}
_PREFIX_LENGTHS: tuple[int, ...] = tuple(sorted({len(prefix) for prefix in _PREFIXES}))
_WHOLE: dict[str, str] = {word: label for label, _, whole, _ in _PLATFORMS for word in whole}
_PAIRS: dict[tuple[str, str], str] = {pair: label for label, _, _, pairs in _PLATFORMS for pair in pairs}
# "X" is a letter before it is a platform ("x2", "Likes X 10"): only when nothing else matches.
_WEAK: dict[str, str] = {"x": "Twitter"}


def _known_platform(tokens: list[str]) -> str | None:
    weak = None
    for index, token in enumerate(tokens):
        label = _WHOLE.get(token)
        if label is None and index + 1 < len(tokens):
            label = _PAIRS.get((token, tokens[index + 1]))
        if label is None:
            for length in _PREFIX_LENGTHS:
                if length > len(token):
                    break
                label = _PREFIXES.get(token[:length])
                if label is not None:
                    break
        if label is not None:
            return label
        if weak is None:
            weak = _WEAK.get(token)
    return weak


def _first_word_label(category: str) -> str | None:
    match = _WORD.search(unicodedata.normalize("NFKC", category))
    if match is None:
        return None
    word = match.group()
    # Deliberate inner capitals stay (CapCut, CoinMarketCap); NEW, new and New agree.
    if word.isupper() or word.islower() or word.istitle():
        return word.title()
    return word


def platform_of(category: str, tokens: list[str] | None = None) -> str:
    """The platform a category belongs to: a known platform named in it, else its
    first word, else `Other`. `tokens` is `words(category)` when already at hand."""
    known = _known_platform(words(category) if tokens is None else tokens)
    if known is not None:
        return known
    return _first_word_label(category) or OTHER


# --- the catalog -------------------------------------------------------------------------

_EMPTY: tuple[int, ...] = ()
_MAX_TERMS = 24  # bounds the work a pasted essay can cause; real queries have 1-4 words


class Catalog:
    """One panel's services, immutable once built: lookup by id, categories and
    platforms in the panel's order, and prefix word search over names and categories."""

    __slots__ = (
        "_services",
        "_by_id",
        "_categories",
        "_by_category",
        "_platforms",
        "_platform_categories",
        "_vocab",
        "_name_postings",
        "_category_postings",
        "_category_positions",
    )

    _services: tuple[Service, ...]
    _by_id: dict[int, Service]
    _categories: tuple[str, ...]
    _by_category: dict[str, tuple[Service, ...]]
    _platforms: tuple[str, ...]
    _platform_categories: dict[str, tuple[str, ...]]
    # Search index: a sorted vocabulary (for bisect prefix ranges) and, per word, the
    # positions of services whose name has it and the ids of categories that have it.
    _vocab: list[str]
    _name_postings: list[tuple[int, ...]]
    _category_postings: list[tuple[int, ...]]
    _category_positions: tuple[tuple[int, ...], ...]

    def __init__(self, services: Iterable[Service]) -> None:
        by_id: dict[int, Service] = {}
        for service in services:
            by_id[service.id] = service  # last wins, at the first one's position
        ordered = tuple(by_id.values())
        set_ = object.__setattr__
        set_(self, "_services", ordered)
        set_(self, "_by_id", by_id)

        # Categories: first appearance order, separate runs merged.
        category_index: dict[str, int] = {}
        positions: list[list[int]] = []
        members: list[list[Service]] = []
        for position, service in enumerate(ordered):
            index = category_index.get(service.category)
            if index is None:
                index = category_index[service.category] = len(positions)
                positions.append([])
                members.append([])
            positions[index].append(position)
            members[index].append(service)
        categories = tuple(category_index)
        set_(self, "_categories", categories)
        set_(self, "_by_category", {c: tuple(m) for c, m in zip(categories, members)})
        set_(self, "_category_positions", tuple(tuple(p) for p in positions))

        # Platforms: by service count, ties by first appearance, Other last.
        counts: dict[str, int] = {}
        grouped: dict[str, list[str]] = {}
        labels: dict[str, str] = {}  # "Coinmarketcap" joins "CoinMarketCap" seen first
        category_words = [words(category) for category in categories]
        for category, tokens, group in zip(categories, category_words, positions):
            label = platform_of(category, tokens)
            label = labels.setdefault(label.casefold(), label)
            counts[label] = counts.get(label, 0) + len(group)
            grouped.setdefault(label, []).append(category)
        first_seen = {label: rank for rank, label in enumerate(grouped)}
        platforms = sorted(grouped, key=lambda label: (label == OTHER, -counts[label], first_seen[label]))
        set_(self, "_platforms", tuple(platforms))
        set_(self, "_platform_categories", {label: tuple(grouped[label]) for label in platforms})

        # Inverted index.
        name_lists: defaultdict[str, list[int]] = defaultdict(list)
        folded_names: dict[str, dict[str, None]] = {}  # duplicate names are common
        chunks: dict[str, list[str]] = {}
        for position, service in enumerate(ordered):
            name_words = folded_names.get(service.name)
            if name_words is None:
                name_words = folded_names[service.name] = _distinct_words(service.name, chunks)
            for token in name_words:
                name_lists[token].append(position)
        category_lists: dict[str, list[int]] = {}
        for index, tokens in enumerate(category_words):
            for token in dict.fromkeys(tokens):
                category_lists.setdefault(token, []).append(index)
        vocab = sorted(name_lists.keys() | category_lists.keys())
        set_(self, "_vocab", vocab)
        set_(self, "_name_postings", [tuple(name_lists.get(t, _EMPTY)) for t in vocab])
        set_(self, "_category_postings", [tuple(category_lists.get(t, _EMPTY)) for t in vocab])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Catalog is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Catalog is immutable")

    def __len__(self) -> int:
        return len(self._services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services)

    def __contains__(self, service_id: object) -> bool:
        return service_id in self._by_id

    def __repr__(self) -> str:
        return f"<Catalog {len(self._services)} services, {len(self._categories)} categories>"

    @property
    def services(self) -> tuple[Service, ...]:
        return self._services

    def get(self, service_id: int) -> Service | None:
        return self._by_id.get(service_id)

    @property
    def categories(self) -> list[str]:
        return list(self._categories)

    def in_category(self, category: str) -> list[Service]:
        return list(self._by_category.get(category, ()))

    @property
    def platforms(self) -> list[str]:
        return list(self._platforms)

    def categories_of(self, platform: str) -> list[str]:
        found = self._platform_categories.get(platform)
        if found is None:  # a label typed differently ("youtube")
            key = platform.casefold()
            found = next((v for k, v in self._platform_categories.items() if k.casefold() == key), ())
        return list(found)

    # --- search ---

    def _matches(self, word: str) -> tuple[set[int], set[int]]:
        """Positions whose name has a word starting with `word`, and positions whose
        name or category has one."""
        vocab = self._vocab
        low = bisect_left(vocab, word)
        high = bisect_left(vocab, word + "\U0010ffff", low)
        by_name: set[int] = set()
        by_name.update(*self._name_postings[low:high])
        category_ids: set[int] = set()
        category_ids.update(*self._category_postings[low:high])
        if not category_ids:
            return by_name, by_name
        either = set(by_name)
        category_positions = self._category_positions
        either.update(*(category_positions[c] for c in category_ids))
        return by_name, either

    def search(self, query: str, limit: int = 50) -> list[Service]:
        """Services whose name or category has, for every query word, a word starting
        with it (case-, accent- and Unicode-form-insensitive). Name matches come first,
        then matches helped by the category; panel order within each. A number also
        finds the service with that id, first."""
        if limit <= 0:
            return []
        terms = list(dict.fromkeys(words(query)))[:_MAX_TERMS]
        if not terms:
            return []
        result: list[Service] = []
        exact: Service | None = None
        if len(terms) == 1 and terms[0].isascii() and terms[0].isdigit():
            exact = self._by_id.get(int(terms[0]))
            if exact is not None:
                result.append(exact)
        # Longer words match fewer services: start with them, stop once nothing is left.
        terms.sort(key=len, reverse=True)
        by_name, either = self._matches(terms[0])
        for term in terms[1:]:
            if not either:
                break
            name_set, either_set = self._matches(term)
            by_name = by_name & name_set
            either = either & either_set
        services = self._services
        skip = exact
        wanted = limit - len(result)
        for position in nsmallest(wanted + 1, by_name):
            service = services[position]
            if service is not skip:
                result.append(service)
        if len(result) < limit:
            rest = either - by_name if by_name else either
            for position in nsmallest(limit - len(result) + 1, rest):
                service = services[position]
                if service is not skip:
                    result.append(service)
        return result[:limit]


# --- cache ---------------------------------------------------------------------------

# Defaults: how many keys' entries (a few hundred bytes each) and how many distinct
# parsed catalogs (about 3 MB each for 7,000 services) one process holds at most.
MAX_PANELS = 5_000
MAX_CATALOGS = 8


@dataclass(slots=True)
class _Entry:
    catalog: Catalog
    fetched_at: float
    expires: float


class CatalogCache:
    """Catalogs per panel account, fetched at most once per `ttl` seconds (panels allow
    as few as 10 `services` calls an hour). Concurrent callers share one fetch. A failed
    refresh serves the stale catalog and is retried after `retry_after` seconds.

    Memory is bounded: accounts whose panel sent the same bytes share one parsed
    `Catalog` (`from_reply`); at most `max_panels` accounts and `max_catalogs` distinct
    catalogs are held, the least recently used leaving first (an account whose catalog
    left loads it again on its next need)."""

    def __init__(
        self,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        retry_after: float = 60.0,
        on_load: Callable[[Catalog], None] | None = None,
        max_panels: int = MAX_PANELS,
        max_catalogs: int = MAX_CATALOGS,
    ) -> None:
        self._ttl = ttl
        self._on_load = on_load  # called with each newly parsed catalog
        self._clock = clock
        self._retry_after = retry_after
        self._max_panels = max(1, max_panels)
        self._max_catalogs = max(1, max_catalogs)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._locks: dict[str, asyncio.Lock] = {}
        self._finished: dict[str, int] = {}  # fetches completed, per panel
        self._errors: dict[str, Exception] = {}  # the last failure, while there is no catalog
        self._used: OrderedDict[str, None] = OrderedDict()  # every panel id tracked, by last use
        # Distinct catalogs by content (the reply's digest, or a token for a catalog
        # handed in already parsed), least recently used first.
        self._held: OrderedDict[object, Catalog] = OrderedDict()
        self._content_of: dict[int, object] = {}  # id(catalog) -> its key in _held
        self._users: dict[int, int] = {}  # id(catalog) -> entries holding it
        self._parsing: dict[bytes, asyncio.Future[Catalog]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def catalogs_held(self) -> int:
        """Distinct parsed catalogs held now."""
        return len(self._held)

    def tracked(self) -> int:
        """Panel ids with any state held (entry, lock, last failure)."""
        return len(self._used)

    def held(self) -> list[Catalog]:
        """The distinct catalogs held now (for memory figures)."""
        return list(self._held.values())

    # --- bookkeeping ---

    def _touch(self, panel_id: str) -> None:
        self._used[panel_id] = None
        self._used.move_to_end(panel_id)
        while len(self._used) > self._max_panels:
            oldest = next(iter(self._used))
            lock = self._locks.get(oldest)
            if lock is not None and lock.locked():
                self._used.move_to_end(oldest)  # a fetch is running for it: not now
                if next(iter(self._used)) == oldest:
                    break
                continue
            self._forget(oldest)

    def _forget(self, panel_id: str) -> None:
        self._used.pop(panel_id, None)
        self._drop(panel_id)
        self._locks.pop(panel_id, None)
        self._finished.pop(panel_id, None)
        self._errors.pop(panel_id, None)

    def _put(self, panel_id: str, entry: _Entry) -> None:
        key = id(entry.catalog)
        self._users[key] = self._users.get(key, 0) + 1  # first: a refresh may bring the same one
        self._drop(panel_id)
        self._entries[panel_id] = entry

    def _drop(self, panel_id: str) -> None:
        """Remove the panel's entry; a catalog no entry holds any more is let go."""
        entry = self._entries.pop(panel_id, None)
        if entry is None:
            return
        key = id(entry.catalog)
        left = self._users.get(key, 0) - 1
        if left > 0:
            self._users[key] = left
            return
        self._users.pop(key, None)
        content = self._content_of.pop(key, None)
        if content is not None:
            self._held.pop(content, None)

    def _serve(self, panel_id: str, entry: _Entry) -> Catalog:
        self._entries.move_to_end(panel_id)
        self._touch(panel_id)
        content = self._content_of.get(id(entry.catalog))
        if content is not None and content in self._held:
            self._held.move_to_end(content)
        return entry.catalog

    def _adopt(self, catalog: Catalog, content: object) -> Catalog:
        """Hold a newly parsed catalog under its content key, dropping the least
        recently used distinct catalog (and the accounts that were using it) when over
        the bound."""
        self._held[content] = catalog
        self._content_of[id(catalog)] = content
        while len(self._held) > self._max_catalogs:
            _, old = next(iter(self._held.items()))
            users = [p for p, e in self._entries.items() if e.catalog is old]
            for panel_id in users:
                self._drop(panel_id)
            if not users:  # held by no entry (a reply parsed but not yet stored)
                self._held.popitem(last=False)
                self._content_of.pop(id(old), None)
        if self._on_load is not None:
            self._on_load(catalog)
        return catalog

    def _fresh(self, panel_id: str) -> Catalog | None:
        entry = self._entries.get(panel_id)
        if entry is not None and self._clock() < entry.expires:
            return self._serve(panel_id, entry)
        return None

    # --- loading ---

    async def from_reply(self, send: Callable[[Callable[[bytes], Any]], Awaitable[Any]]) -> Catalog:
        """A catalog from a panel's raw `services` reply. `send(decode)` asks the panel
        and returns what `decode(reply bytes)` returns (the client's refusal and error
        handling stay its own). A reply with the same bytes as a catalog held already
        is that catalog, neither decoded nor parsed again; a new one is decoded here and
        parsed in a worker thread, so that a big catalog does not hold the event loop
        for the whole parse (the loop still gets the interpreter every few ms)."""
        digest = b""

        def decode(content: bytes) -> Any:
            nonlocal digest
            digest = hashlib.sha256(content).digest()
            known = self._held.get(digest)
            if known is not None:
                return known
            if len(content) > _DECODE_ON_LOOP:
                return _Undecoded(content)
            return json.loads(content)  # small: a refusal is seen by the client as usual

        payload = await send(decode)
        if isinstance(payload, Catalog):
            return payload
        if isinstance(payload, _Undecoded):
            payload = await asyncio.to_thread(payload.decode)
        if not digest:  # a sender that decoded by itself
            return await asyncio.to_thread(_build, payload)
        known = self._held.get(digest)
        if known is not None:
            return known
        running = self._parsing.get(digest)
        if running is not None:  # the same reply for another key, being parsed now
            return await asyncio.shield(running)
        future: asyncio.Future[Catalog] = asyncio.get_running_loop().create_future()
        self._parsing[digest] = future
        try:
            catalog = await asyncio.to_thread(_build, payload)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters, if any, get it too
            raise
        finally:
            self._parsing.pop(digest, None)
        self._adopt(catalog, digest)
        future.set_result(catalog)
        return catalog

    async def get(self, panel_id: str, fetch: Callable[[], Awaitable[list[Service] | Catalog]]) -> Catalog:
        """The panel's catalog; `panel_id` must not be or contain the API key (it is
        logged). Raises what `fetch` raises when there is no catalog to fall back on."""
        catalog = self._fresh(panel_id)
        if catalog is not None:
            return catalog
        self._touch(panel_id)
        lock = self._locks.setdefault(panel_id, asyncio.Lock())
        seen = self._finished.get(panel_id, 0)
        async with lock:
            stale = self._entries.get(panel_id)
            if self._finished.get(panel_id, 0) != seen:
                # A fetch ran while we waited: share its outcome rather than queue
                # one more call to a panel that is down (each may take a timeout).
                if stale is not None:
                    return self._serve(panel_id, stale)
                if panel_id in self._errors:
                    raise self._errors[panel_id]
            catalog = self._fresh(panel_id)
            if catalog is not None:
                return catalog
            try:
                services = await fetch()
            except Exception as exc:
                self._finished[panel_id] = self._finished.get(panel_id, 0) + 1
                self._touch(panel_id)
                if stale is None:
                    self._errors[panel_id] = exc
                    raise
                now = self._clock()
                # The exception text may quote a request; its class is enough here.
                log.warning(
                    "catalog refresh failed for panel %s (%s); serving the one from %.0f s ago",
                    panel_id,
                    type(exc).__name__,
                    now - stale.fetched_at,
                )
                stale.expires = now + min(self._retry_after, self._ttl)
                return self._serve(panel_id, stale)
            self._finished[panel_id] = self._finished.get(panel_id, 0) + 1
            if isinstance(services, Catalog):
                catalog = services
                if id(catalog) not in self._content_of:
                    self._adopt(catalog, object())
            else:
                catalog = self._adopt(Catalog(services), object())
            now = self._clock()
            entry = _Entry(catalog, now, now + self._ttl)
            self._put(panel_id, entry)
            self._errors.pop(panel_id, None)
            return self._serve(panel_id, entry)

    def invalidate(self, panel_id: str) -> None:
        """Forget the panel's catalog: the next `get` fetches."""
        self._drop(panel_id)
        self._errors.pop(panel_id, None)

    def peek(self, panel_id: str) -> Catalog | None:
        """The cached catalog, however old, without fetching."""
        entry = self._entries.get(panel_id)
        return entry.catalog if entry is not None else None


def _build(payload: object) -> Catalog:
    return Catalog(parse_services(payload))


# Replies up to this size are decoded on the event loop (a few ms at most); bigger ones
# in a worker thread, item by item, so the thread lets the loop in between items.
_DECODE_ON_LOOP = 64 * 1024
_DECODER = json.JSONDecoder()
_BLANK = re.compile(r"[ \t\n\r]*")
# Never None: the pattern matches the empty string too.
_match_blank = cast("Callable[[str, int], re.Match[str]]", _BLANK.match)


class _Undecoded:
    """A big reply's bytes, to be decoded off the event loop."""

    __slots__ = ("content",)

    def __init__(self, content: bytes) -> None:
        self.content = content

    def decode(self) -> Any:
        """`json.loads`, but a top-level list is decoded one item at a time: one
        `json.loads` of 2 MB holds the interpreter (and so the event loop) ~20 ms in
        one C call, a loop over items gives it up every few ms."""
        try:
            text = self.content.decode("utf-8-sig")
            index = _match_blank(text, 0).end()
            if not text.startswith("[", index):
                return json.loads(text)
            items: list[Any] = []
            index = _match_blank(text, index + 1).end()
            if text.startswith("]", index):
                end = index + 1
            else:
                raw_decode, blank = _DECODER.raw_decode, _match_blank
                while True:
                    item, index = raw_decode(text, index)
                    items.append(item)
                    index = blank(text, index).end()
                    if text.startswith(",", index):
                        index = blank(text, index + 1).end()
                        continue
                    if text.startswith("]", index):
                        end = index + 1
                        break
                    raise ValueError(f"expected ',' or ']' at {index}")
            if text[end:].strip():
                raise ValueError("extra data after the list")
            return items
        except ValueError:  # UnicodeDecodeError included
            raise PanelUnavailable("services: the reply is not valid JSON") from None
