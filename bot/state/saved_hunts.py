"""Saved, shared hunts and ad-hoc queries, in Redis so every process sees a save at once.

Each save is a new version (who, when, the whole hunt), written with its audit entry in one Lua
step that also refuses a save made against a version that is no longer the current one (two
people editing the same hunt) or a new hunt whose name is taken. Deleting removes the hunt and
its history from look-ups; the audit keeps every version's query.

An ad-hoc query is kept as the hunt it ran as for as long as its results are, so Re-run and
Save as hunt work from the results message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from bot.errors import HuntBotError
from bot.hunts.model import Hunt
from bot.state import keys
from bot.state.audit import AUDIT_LUA, AuditLog, from_ms, to_ms

# Audit events (AuditEntry.event is text): `hunt` names it, `note` the version, `detail` the query.
HUNT_SAVED = "hunt_saved"
HUNT_DELETED = "hunt_deleted"
ADHOC_RAN = "adhoc_ran"
HUNTS_IMPORTED_BY = "import"  # the author of hunts `hunt-bot hunts import` saved

SAVE = (
    AUDIT_LUA
    + """
-- KEYS: hunt hash, versions list, names set, audit stream
-- ARGV: name, hunt JSON, user, at ms, expected version (0: a new hunt), audit base JSON
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local expected = tonumber(ARGV[5])
if current ~= expected then
  return {-1, current, redis.call('HGET', KEYS[1], 'saved_by') or ''}
end
local version = current + 1
local author = redis.call('HGET', KEYS[1], 'author')
if not author then author = ARGV[3] end
redis.call('HSET', KEYS[1], 'hunt', ARGV[2], 'version', version, 'author', author,
  'saved_by', ARGV[3], 'saved_at', ARGV[4])
redis.call('RPUSH', KEYS[2], cjson.encode({version = version, by = ARGV[3],
  at = tonumber(ARGV[4]), hunt = ARGV[2]}))
redis.call('SADD', KEYS[3], ARGV[1])
audit(KEYS[4], ARGV[6], {note = 'version ' .. version})
return {version, current, author}
"""
)

DELETE = (
    AUDIT_LUA
    + """
-- KEYS: hunt hash, versions list, names set, audit stream
-- ARGV: name, expected version, audit base JSON
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current == 0 or current ~= tonumber(ARGV[2]) then return current end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
audit(KEYS[4], ARGV[3], {note = 'version ' .. current})
return -1
"""
)


class SaveConflict(HuntBotError):
    """The name is taken, or someone saved a newer version first."""


@dataclass(frozen=True)
class SavedHunt:
    hunt: Hunt
    version: int
    author: str  # who saved the first version ("import" for `hunt-bot hunts import`)
    saved_by: str  # who saved this version
    saved_at: datetime


@dataclass(frozen=True)
class Version:
    version: int
    by: str
    at: datetime
    hunt: Hunt


class SavedHunts:
    def __init__(self, redis: aioredis.Redis, audit: AuditLog | None = None) -> None:
        """`redis` answers str (decode_responses=True)."""
        self._redis = redis
        self._audit = audit or AuditLog(redis)
        self._save = redis.register_script(SAVE)
        self._delete = redis.register_script(DELETE)

    async def get(self, name: str) -> SavedHunt | None:
        found = await self._redis.hgetall(keys.saved_hunt(name))  # type: ignore[misc]
        if not found or "hunt" not in found:
            return None
        return SavedHunt(
            hunt=Hunt.model_validate_json(found["hunt"]),
            version=int(found["version"]),
            author=str(found.get("author", "")),
            saved_by=str(found.get("saved_by", "")),
            saved_at=from_ms(int(found.get("saved_at") or 0)),
        )

    async def names(self) -> list[str]:
        names = await self._redis.smembers(keys.saved_hunts())  # type: ignore[misc]
        return sorted(str(name) for name in names)

    async def all(self) -> list[SavedHunt]:
        found = []
        for name in await self.names():
            saved = await self.get(name)
            if saved is not None:
                found.append(saved)
        return found

    async def save(
        self, hunt: Hunt, user_id: str, *, expected_version: int, channel: str | None = None
    ) -> SavedHunt:
        """Save `hunt` as a new version; `expected_version` is the version edited (0: new).
        SaveConflict when the name is taken or a newer version was saved meanwhile."""
        at = datetime.now(UTC)
        base = {
            "event": HUNT_SAVED,
            "at": str(to_ms(at)),
            "user_id": user_id,
            "hunt": hunt.name,
            "title": hunt.title,
            "detail": hunt.query,
            "channel": channel or "",
        }
        version, current, author = await self._save(
            keys=[
                keys.saved_hunt(hunt.name),
                keys.saved_hunt_versions(hunt.name),
                keys.saved_hunts(),
                keys.audit_stream(),
            ],
            args=[
                hunt.name,
                hunt.model_dump_json(),
                user_id,
                to_ms(at),
                expected_version,
                json.dumps(base),
            ],
        )
        if int(version) < 0:
            if expected_version == 0:
                raise SaveConflict(
                    f"There is already a saved hunt called `{hunt.name}`.",
                    hint=f"Choose another name, or edit it with /hunt save {hunt.name}.",
                )
            raise SaveConflict(
                f"`{hunt.name}` was saved again meanwhile (version {current}).",
                hint=f"Open it again with /hunt save {hunt.name} and make your change there.",
            )
        return SavedHunt(hunt, int(version), str(author), user_id, at)

    async def delete(
        self, name: str, user_id: str, *, version: int, channel: str | None = None
    ) -> bool:
        """Delete the hunt if its current version is still `version`; False otherwise."""
        base = {
            "event": HUNT_DELETED,
            "at": str(to_ms(datetime.now(UTC))),
            "user_id": user_id,
            "hunt": name,
            "channel": channel or "",
        }
        answer = await self._delete(
            keys=[
                keys.saved_hunt(name),
                keys.saved_hunt_versions(name),
                keys.saved_hunts(),
                keys.audit_stream(),
            ],
            args=[name, version, json.dumps(base)],
        )
        return int(answer) == -1

    async def versions(self, name: str) -> list[Version]:
        raw = await self._redis.lrange(keys.saved_hunt_versions(name), 0, -1)  # type: ignore[misc]
        found = []
        for item in raw:
            data = json.loads(item)
            found.append(
                Version(
                    version=int(data["version"]),
                    by=str(data["by"]),
                    at=from_ms(int(data["at"])),
                    hunt=Hunt.model_validate_json(data["hunt"]),
                )
            )
        return found

    # -- ad-hoc queries ------------------------------------------------------------------------

    async def keep_adhoc(
        self, hunt: Hunt, user_id: str, ttl: timedelta, *, channel: str | None = None
    ) -> None:
        """Keep an ad-hoc query's hunt for `ttl`, and audit who ran which query."""
        await self._redis.set(keys.adhoc_hunt(hunt.name), hunt.model_dump_json(), ex=ttl)
        await self._audit.record(
            ADHOC_RAN, user_id=user_id, hunt=hunt.name, detail=hunt.query, channel=channel
        )

    async def adhoc(self, name: str) -> Hunt | None:
        raw = await self._redis.get(keys.adhoc_hunt(name))
        return None if raw is None else Hunt.model_validate_json(raw)
