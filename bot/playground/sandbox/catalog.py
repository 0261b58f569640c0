"""The sandbox panel's built-in catalog, shaped like a real panel's `services` reply,
and loading of a real panel's catalog from a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Names keep the raw `<`, `>`, `&` and sometimes the `&amp;` entity, as real panels send
# them, so that the bot's escaping is exercised by the sandbox too.


def _service(
    service: int,
    name: str,
    type_: str,
    category: str,
    rate: str,
    minimum: str,
    maximum: str,
    *,
    dripfeed: bool = False,
    refill: bool = False,
    cancel: bool = False,
    desc: str | None = None,
) -> dict[str, Any]:
    # Key order as the seed shows it; `desc` only where a panel gives one.
    item: dict[str, Any] = {
        "service": service,
        "name": name,
        "type": type_,
        "category": category,
        "rate": rate,
        "min": minimum,
        "max": maximum,
        "dripfeed": dripfeed,
        "refill": refill,
        "cancel": cancel,
    }
    if desc is not None:
        item["desc"] = desc
    return item


IG = "Instagram Followers ⭐"
IG_LIKES = "Instagram Likes & Views"
IG_COMMENTS = "Instagram Comments 💬"
IG_MENTIONS = "Instagram Mentions"
IG_AUTO = "Instagram Auto Likes / Views [Subscriptions]"
TT = "TikTok 🎵"
YT = "YouTube ▶️"
TG = "Telegram ✈️"
FB = "Facebook"
TW = "Twitter / X"
SP = "Spotify 🎧"
TWITCH = "Twitch"
WEB = "Website Traffic 🌐"
SEO = "SEO &amp; Backlinks"
DISCORD = "Discord"
THREADS = "Threads"

BUILTIN_SERVICES: tuple[dict[str, Any], ...] = (
    # --- Instagram -------------------------------------------------------------------
    _service(1011, "Instagram Followers [Real Mixed] [Max 50K] ⚡ Start 0-1h", "Default", IG, "0.90", "50", "50000",
             dripfeed=True, refill=True, cancel=True,
             desc="Real mixed accounts. Refill 30 days.\nStart: 0-1 hour\nSpeed: 5K/day"),
    _service(1012, "Instagram Followers [HQ] [Refill 365D] 💎", "Default", IG, "2.45", "100", "100000",
             refill=True, cancel=True),
    _service(1013, "Instagram Followers [Bots] <Cheapest> [No Refill]", "Default", IG, "0.32", "10", "20000",
             cancel=True),
    _service(1014, "Instagram Followers 🇺🇸 USA [Female] [Max 10K]", "Default", IG, "6.80", "20", "10000",
             dripfeed=True, refill=True),
    _service(1021, "Instagram Likes [Real] [Max 100K] <Instant> & Fast 🔥", "Default", IG_LIKES, "0.12", "20", "100000",
             dripfeed=True, refill=True, cancel=True),
    _service(1022, "Instagram Likes + Impressions &amp; Reach [Power]", "Default", IG_LIKES, "0.2150", "50", "50000",
             dripfeed=True),
    _service(1023, "Instagram Reel Views [Max 10M] 🚀", "Default", IG_LIKES, "0.0045", "100", "10000000",
             dripfeed=True, cancel=True),
    _service(1024, "Instagram Story Views [All Stories]", "Default", IG_LIKES, "0.055", "100", "100000"),
    _service(1025, "Instagram Saves [Max 1M]", "Default", IG_LIKES, "0.08", "10", "1000000", refill=True),
    _service(1031, "Instagram Custom Comments [Real] 💬", "Custom Comments", IG_COMMENTS, "12.00", "5", "500",
             cancel=True, desc="One comment per line. The quantity is the number of lines."),
    _service(1032, "Instagram Custom Comments [Arab] 🇸🇦", "Custom Comments", IG_COMMENTS, "18.50", "10", "1000"),
    _service(1033, "Instagram Comments Package [10 Positive Comments]", "Custom Comments Package", IG_COMMENTS,
             "1.90", "1", "1", desc="10 comments from your list, delivered within 24 hours."),
    _service(1034, "Instagram Comment Likes [Max 5K] ❤️", "Comment Likes", IG_COMMENTS, "3.20", "20", "5000",
             refill=True),
    _service(1035, "Instagram Comment Replies [Custom]", "Comment Replies", IG_COMMENTS, "15.00", "5", "200"),
    _service(1041, "Instagram Mentions [Custom Usernames]", "Mentions", IG_MENTIONS, "4.00", "100", "50000"),
    _service(1042, "Instagram Mentions + Hashtags", "Mentions with Hashtags", IG_MENTIONS, "5.50", "100", "20000"),
    _service(1043, "Instagram Mentions [Custom List]", "Mentions Custom List", IG_MENTIONS, "6.00", "10", "10000"),
    _service(1044, "Instagram Mentions [Hashtag Scraping] #", "Mentions Hashtag", IG_MENTIONS, "3.60", "1000", "100000"),
    _service(1045, "Instagram Mentions [Followers of a User]", "Mentions User Followers", IG_MENTIONS, "3.80", "1000",
             "100000"),
    _service(1046, "Instagram Mentions [Likers of a Post]", "Mentions Media Likers", IG_MENTIONS, "3.90", "1000", "50000"),
    _service(1051, "Instagram Auto Likes [Future Posts] ♻️", "Subscriptions", IG_AUTO, "0.15", "50", "10000",
             desc="Likes on new posts for the period you choose.\nUse min/max to vary the amount per post."),
    _service(1052, "Instagram Auto Views [Reels + Videos]", "Subscriptions", IG_AUTO, "0.01", "100", "100000"),
    _service(1061, "Instagram Verified Badge Consultation Package ✅", "Package", "Instagram Packages", "49.00", "1", "1"),
    # --- TikTok --------------------------------------------------------------------------
    _service(2101, "TikTok Followers [Real] [Refill 30D] 🎵", "Default", TT, "1.75", "100", "100000",
             dripfeed=True, refill=True, cancel=True),
    _service(2102, "TikTok Likes [Max 500K] <Super Fast>", "Default", TT, "0.25", "50", "500000",
             dripfeed=True, cancel=True),
    _service(2103, "TikTok Views [Max 100M] ⚡ Instant", "Default", TT, "0.0012", "100", "100000000", dripfeed=True),
    _service(2104, "TikTok Shares & Saves", "Default", TT, "0.38", "100", "1000000"),
    _service(2105, "TikTok Custom Comments 🇬🇧", "Custom Comments", TT, "9.00", "10", "1000"),
    _service(2106, "TikTok Live Stream Views [30 Minutes]", "Default", TT, "2.90", "50", "20000", cancel=True),
    _service(2107, "TikTok Comment Likes", "Comment Likes", TT, "1.50", "50", "20000"),
    _service(2108, "TikTok Auto Views [Future Videos]", "Subscriptions", TT, "0.02", "500", "200000"),
    # --- YouTube -------------------------------------------------------------------------
    _service(3201, "YouTube Views [Non Drop] [Lifetime Guarantee] ▶️", "Default", YT, "1.10", "500", "1000000",
             dripfeed=True, refill=True, cancel=True,
             desc="Retention 1-3 minutes. Lifetime refill.\nDo not change the video to private."),
    _service(3202, "YouTube Likes &amp; Dislikes [Real]", "Default", YT, "2.20", "20", "50000", refill=True),
    _service(3203, "YouTube Subscribers [Max 20K] <Slow & Steady>", "Default", YT, "14.00", "50", "20000",
             refill=True, cancel=True),
    _service(3204, "YouTube Custom Comments [Real Accounts]", "Custom Comments", YT, "24.00", "5", "300"),
    _service(3205, "YouTube Comment Likes [UP Votes]", "Comment Likes", YT, "2.75", "10", "10000", refill=True),
    _service(3206, "YouTube Shorts Views 🩳", "Default", YT, "0.65", "100", "10000000", dripfeed=True),
    _service(3207, "YouTube Monetization Package [4000h Watch Time]", "Package", YT, "239.99", "1", "1"),
    _service(3208, "YouTube Live Stream Viewers [60 Min]", "Default", YT, "3.40", "100", "10000", cancel=True),
    # --- Telegram ------------------------------------------------------------------------
    _service(4301, "Telegram Channel Members [Real] [No Drop] ✈️", "Default", TG, "1.45", "100", "50000",
             dripfeed=True, refill=True, cancel=True),
    _service(4302, "Telegram Post Views [Last 1 Post]", "Default", TG, "0.018", "100", "1000000", dripfeed=True),
    _service(4303, "Telegram Post Reactions 👍❤️🔥 [Positive Mix]", "Default", TG, "0.09", "10", "100000"),
    _service(4304, "Telegram Poll Votes [Any Option]", "Poll", TG, "0.75", "100", "100000",
             desc="Send the answer number: 1 for the first option, 2 for the second..."),
    _service(4305, "Telegram Group Members [Invites from Groups]", "Invites from Groups", TG, "2.10", "100", "20000",
             desc="Members invited from the groups you list, one group per line."),
    _service(4306, "Telegram Auto Views [Future Posts] 👁", "Subscriptions", TG, "0.012", "100", "500000"),
    _service(4307, "Telegram Premium Members [7 Days] 💎", "Default", TG, "16.00", "10", "5000", refill=True),
    _service(4308, "Telegram Premium Subscription [3 Months] Package", "Package", TG, "13.99", "1", "1"),
    # --- Facebook ------------------------------------------------------------------------
    _service(5401, "Facebook Page Likes + Followers [Refill 30D]", "Default", FB, "2.80", "100", "100000",
             refill=True, cancel=True),
    _service(5402, "Facebook Post Likes [Reactions: 👍]", "Default", FB, "0.95", "50", "50000", dripfeed=True),
    _service(5403, "Facebook Video Views [3s] <Monetizable>", "Default", FB, "0.40", "500", "10000000"),
    _service(5404, "Facebook Custom Comments", "Custom Comments", FB, "11.00", "10", "500"),
    _service(5405, "Facebook Group Members", "Default", FB, "3.50", "100", "20000", refill=True),
    # --- Twitter / X -------------------------------------------------------------------------
    _service(6501, "Twitter Followers [HQ] [Refill 30D] 🐦", "Default", TW, "3.90", "100", "50000",
             refill=True, cancel=True),
    _service(6502, "X Likes [Real] & Retweets", "Default", TW, "1.20", "20", "20000", dripfeed=True),
    _service(6503, "Twitter Poll Votes [Max 1M]", "Poll", TW, "0.58", "100", "1000000"),
    _service(6504, "X Impressions [Max 10M]", "Default", TW, "0.03", "1000", "10000000"),
    _service(6505, "Twitter Mentions [Custom Usernames]", "Mentions", TW, "6.00", "50", "10000"),
    # --- Spotify --------------------------------------------------------------------------
    _service(7601, "Spotify Plays [USA] 🇺🇸 [Royalties Eligible]", "Default", SP, "0.85", "1000", "10000000",
             dripfeed=True, refill=True),
    _service(7602, "Spotify Followers [Artist &amp; Playlist]", "Default", SP, "0.60", "100", "1000000",
             refill=True, cancel=True),
    _service(7603, "Spotify Monthly Listeners", "Default", SP, "1.95", "500", "500000"),
    _service(7604, "Spotify Playlist Plays [Invites from Playlists]", "Invites from Groups", SP, "1.10", "1000",
             "1000000"),
    # --- Twitch ---------------------------------------------------------------------------
    _service(8701, "Twitch Followers [Max 100K]", "Default", TWITCH, "0.70", "100", "100000", cancel=True),
    _service(8702, "Twitch Live Viewers [1 Hour] 🎮", "Default", TWITCH, "5.25", "10", "2000", cancel=True),
    _service(8703, "Twitch Chat Mentions [Custom List]", "Mentions Custom List", TWITCH, "9.90", "5", "1000"),
    # --- Website traffic and SEO -----------------------------------------------------------
    _service(9801, "Website Traffic [Worldwide] [Google Referrer] 🌐", "Web Traffic", WEB, "0.35", "1000",
             "10000000", dripfeed=True,
             desc="Choose the country, device and traffic type.\nBounce rate < 60%"),
    _service(9802, "Website Traffic 🇩🇪 Germany [Mobile]", "Web Traffic", WEB, "0.85", "500", "1000000"),
    _service(9803, "Website Traffic [Social Referrers] >1 min visits", "Default", WEB, "0.55", "1000", "1000000",
             dripfeed=True),
    _service(9811, "Google Keyword Search Traffic [SEO]", "SEO", SEO, "1.30", "500", "100000",
             desc="Visitors search your keywords on Google and click your site. One keyword per line."),
    _service(9812, "Backlinks Package [50 DA 50+ Links] &lt;Manual&gt;", "Package", SEO, "29.00", "1", "1"),
    # --- Discord and Threads ------------------------------------------------------------------
    _service(9901, "Discord Server Members [Online]", "Default", DISCORD, "4.80", "50", "10000", refill=True),
    _service(9921, "Threads Followers [Real]", "Default", THREADS, "1.60", "50", "50000", cancel=True),
    _service(9922, "Threads Custom Comments Package [5 Comments]", "Custom Comments Package", THREADS, "0.99", "1",
             "1"),
)


def builtin_catalog() -> list[dict[str, Any]]:
    """A fresh copy of the built-in catalog, safe to modify."""
    return [dict(item) for item in BUILTIN_SERVICES]


def load_catalog(source: str | Path) -> list[dict[str, Any]]:
    """A real panel's catalog from a JSON file: a plain array, or one of the wrappers
    seen in captures (`{"services": [...]}`, `{"data": [...]}`)."""
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    if isinstance(data, dict):
        for wrapper in ("services", "data"):
            if isinstance(data.get(wrapper), list):
                data = data[wrapper]
                break
    if not isinstance(data, list):
        raise ValueError(f"{source}: not a services list")
    return [item for item in data if isinstance(item, dict)]
