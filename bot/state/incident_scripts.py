"""The Lua scripts behind bot/state/incidents.py: each incident change is one of these.

Redis runs a script without interleaving any other command, so each is atomic across every
process. Each script states its KEYS, ARGV and the invariant it keeps, and appends its audit
entry (bot/state/audit.py) in the same step. `base` is a JSON object of audit fields known to
the caller (at, team, channel, thread_ts, user_id); the script adds what happened. Times are
epoch ms, kept as strings in the records.
"""

from __future__ import annotations

from bot.state.audit import AUDIT_LUA

# KEYS: incident, owners, open index, audit. ARGV: title, owner, now, thread ts, audit base.
# Invariant: an incident is created once, by whoever comes first; later callers change nothing.
OPEN = (
    AUDIT_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local title, owner, now = ARGV[1], ARGV[2], ARGV[3]
redis.call('HSET', KEYS[1], 'title', title, 'owner', owner, 'state', 'open', 'opened_by', owner,
           'opened_at', now, 'updated_at', now)
redis.call('RPUSH', KEYS[2], cjson.encode({kind = 'opened', to_user = owner, by = owner, at = now}))
redis.call('ZADD', KEYS[3], now, ARGV[4])
audit(KEYS[4], ARGV[5], {event = 'incident_opened', title = title, to_user = owner})
return 1
"""
)

# KEYS: incident, owners, audit. ARGV: kind, event, by, to, note, now, audit base.
# Invariants: only an open incident changes owner; never to the current owner, nor handed off
# by someone to themselves; each history entry's from_user is the owner the previous one left.
CHANGE_OWNER = (
    AUDIT_LUA
    + """
local kind, event, by, to, note, now, base = unpack(ARGV)
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found', ''} end
local owner = redis.call('HGET', KEYS[1], 'owner')
local function refuse(code, reason)
  audit(KEYS[3], base, {event = 'refused', reason = reason, from_user = owner, to_user = to,
                        note = note})
  return {code, owner}
end
if state ~= 'open' then return refuse('closed', kind .. ': the incident is closed') end
if kind == 'handoff' and to == by then return refuse('to_self', 'handoff: to oneself') end
if to == owner then return refuse('already_owner', kind .. ': already the owner') end
redis.call('HSET', KEYS[1], 'owner', to, 'updated_at', now)
redis.call('RPUSH', KEYS[2], cjson.encode({kind = kind, from_user = owner, to_user = to, by = by,
                                           at = now, note = note}))
audit(KEYS[3], base, {event = event, from_user = owner, to_user = to, note = note})
return {'changed', owner}
"""
)

# KEYS: incident, open index, audit. ARGV: 'closed'|'open', event, by, reason, now, thread ts,
# audit base, idle before (epoch ms, or ''). Invariants: closes only an open incident and reopens
# only a closed one; the channel's open index always agrees with the state; given `idle before`,
# an incident changed after it (a hunt, a note, an owner change) is left as it is ('active').
SET_STATE = (
    AUDIT_LUA
    + """
local to, event, by, reason, now, thread_ts, base, idle_before = unpack(ARGV)
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'not_found' end
if state == to then
  audit(KEYS[3], base, {event = 'refused', reason = event .. ': the incident is already ' .. to})
  return 'already_' .. to
end
if idle_before and idle_before ~= '' then
  local updated = tonumber(redis.call('HGET', KEYS[1], 'updated_at') or '0')
  if updated > tonumber(idle_before) then return 'active' end
end
redis.call('HSET', KEYS[1], 'state', to, 'updated_at', now)
if to == 'closed' then
  redis.call('HSET', KEYS[1], 'closed_by', by, 'closed_at', now, 'close_reason', reason)
  redis.call('ZREM', KEYS[2], thread_ts)
else
  redis.call('HSET', KEYS[1], 'reopened_by', by, 'reopened_at', now)
  redis.call('HDEL', KEYS[1], 'closed_by', 'closed_at', 'close_reason')
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'opened_at'), thread_ts)
end
audit(KEYS[3], base, {event = event, state = to, previous_state = state, reason = reason})
return 'changed'
"""
)

# KEYS: incident, list, audit. ARGV: record JSON, now, audit base (with its event).
# Invariant: hunts and notes are recorded only on an incident that exists (open or closed).
APPEND = (
    AUDIT_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
audit(KEYS[3], ARGV[3], {})
return 1
"""
)
