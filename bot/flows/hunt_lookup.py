"""Which hunt a name means, asked at the time of asking: a built-in or hunt file from this
process's catalog, else a saved hunt or an ad-hoc query from Redis, so a hunt saved in one
process runs by name in every other at once. `/hunt list` merges them the same way."""

from __future__ import annotations

from bot.errors import UnknownHunt
from bot.hunts import Hunt
from bot.hunts.adhoc import is_adhoc
from bot.hunts.catalog import SAVED, Listing, Search, suggest
from bot.services import Services
from bot.slack.blocks import Message, render_catalog
from bot.state.saved_hunts import SavedHunts


def saved_hunts(services: Services) -> SavedHunts:
    """The saved-hunts store on the process's Redis (cheap: a few script handles)."""
    return SavedHunts(services.redis.client, services.approvals.audit)


async def find_hunt(services: Services, name: str) -> Hunt:
    """The hunt called `name`, or UnknownHunt with the closest names."""
    found = services.catalog.find(name)
    if found is not None:
        return found
    key = name.strip().lower()
    store = saved_hunts(services)
    if is_adhoc(key):
        adhoc = await store.adhoc(key)
        if adhoc is not None:
            return adhoc
        raise UnknownHunt(
            "That ad-hoc query is no longer kept (it is kept as long as its results).",
            hint="Run it again with /hunt kql.",
        )
    saved = await store.get(key)
    if saved is not None:
        return saved.hunt
    names = [*services.catalog.entries, *await store.names()]
    raise UnknownHunt(f"There is no hunt called `{name}`.", hint=suggest(name, names))


async def listings(services: Services) -> list[Listing]:
    """Built-in, file and saved hunts; a saved hunt a file now shadows is left out."""
    found = services.catalog.listings()
    for saved in await saved_hunts(services).all():
        if services.catalog.find(saved.hunt.name) is None:
            found.append(Listing(saved.hunt, SAVED, saved.version, saved.saved_by))
    return sorted(found, key=lambda listing: listing.hunt.name)


async def list_hunts(services: Services, text: str) -> Message:
    """`/hunt list [words] [table=T] [tactic=T]`."""
    search = Search.parse(text)
    shown = [listing for listing in await listings(services) if search.matches(listing.hunt)]
    return render_catalog(shown, search.describe() if search else "")
