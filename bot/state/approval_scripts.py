"""The Lua scripts behind bot/state/approvals.py: each approval state change is one of these.

Redis runs a script without interleaving any other command, so each is atomic across every
process. Each script states its KEYS, ARGV and the invariant it keeps. Scripts that change state
append their audit entry (bot/state/audit.py) in the same step.
"""

from __future__ import annotations

from bot.actions.model import OutcomeStatus
from bot.state.audit import AUDIT_LUA

# Outcomes nothing may overwrite: what happened to that target is settled for good.
FINAL_OUTCOMES = frozenset(
    {
        OutcomeStatus.SUCCEEDED,
        OutcomeStatus.FAILED,
        OutcomeStatus.TIMED_OUT,
        OutcomeStatus.CANCELLED,
        OutcomeStatus.SKIPPED,
    }
)


# Shared helpers. `base` is a JSON object of audit fields known to the caller (at, approval_id,
# action, user_id, user_name, ...); the script adds what happened.
PRELUDE = (
    AUDIT_LUA
    + """
local function move(key, stream, base, now, to, reason)
  local from = redis.call('HGET', key, 'state')
  redis.call('HSET', key, 'state', to, 'updated_at', now)
  if reason ~= '' then redis.call('HSET', key, 'reason', reason) end
  audit(stream, base, {event = 'state_changed', state = to, previous_state = from,
                       reason = reason})
end
local function expire_if_due(key, zset, stream, base, now, id)
  if redis.call('HGET', key, 'state') == 'pending'
     and tonumber(now) >= tonumber(redis.call('HGET', key, 'expires_at')) then
    move(key, stream, base, now, 'expired', 'nobody decided before it expired')
    redis.call('ZREM', zset, id)
    return true
  end
  return false
end
"""
)

# KEYS: approval, expiring, thread index, audit. ARGV: id, fields JSON, created ms, expires ms,
# audit base. Stores a new pending approval. Invariant: an id is created once (never overwritten).
CREATE = (
    PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = cjson.decode(ARGV[2])
local flat = {}
for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = tostring(v) end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'pending', 'approvals', 0, 'claims', 0,
           'created_at', ARGV[3], 'expires_at', ARGV[4], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
audit(KEYS[4], ARGV[5], {event = 'requested', state = 'pending'})
return 1
"""
)

# KEYS: approval, votes, expiring, audit, to run. ARGV: id, user, 'approve'|'reject', now,
# audit base, user name, the rejecter's reason ('' for none). Invariants: only a pending,
# unexpired approval takes votes; the requester and a second vote by anyone are never counted;
# the one vote that brings the count to the quorum moves it to approved and is the only one
# answered 'reached_quorum'; a reject ends it, with its reason.
VOTE = (
    PRELUDE
    + """
local id, user, choice, now, base = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found', 0, ''} end
local count = tonumber(redis.call('HGET', KEYS[1], 'approvals'))
local function refuse(code, reason, detail)
  audit(KEYS[4], base, {event = 'refused', vote = choice, reason = reason})
  return {code, count, detail}
end
if expire_if_due(KEYS[1], KEYS[3], KEYS[4], base, now, id) then
  return refuse('expired', 'the approval has expired', 'expired')
end
if state ~= 'pending' then return refuse('closed', 'the approval is ' .. state, state) end
if user == redis.call('HGET', KEYS[1], 'requester') then
  return refuse('self', 'the requester cannot vote', '')
end
local previous = redis.call('HGET', KEYS[2], user)
if previous then return refuse('already_voted', 'already voted', previous) end
redis.call('HSET', KEYS[2], user, cjson.encode({vote = choice, at = now, name = ARGV[6]}))
if choice == 'reject' then
  local why = ARGV[7] or ''
  audit(KEYS[4], base, {event = 'voted', vote = choice, approvals = count, reason = why})
  redis.call('HSET', KEYS[1], 'decided_by', user)
  move(KEYS[1], KEYS[4], base, now, 'rejected', why ~= '' and why or 'rejected by an approver')
  redis.call('ZREM', KEYS[3], id)
  return {'rejected', count, ''}
end
count = redis.call('HINCRBY', KEYS[1], 'approvals', 1)
audit(KEYS[4], base, {event = 'voted', vote = choice, approvals = count})
if count >= tonumber(redis.call('HGET', KEYS[1], 'quorum')) then
  move(KEYS[1], KEYS[4], base, now, 'approved', '')
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[5], now, id)
  return {'reached_quorum', count, ''}
end
return {'counted', count, ''}
"""
)

# KEYS: approval, audit, to run. ARGV: worker, now, lease ms, digest ok '1'|'0', audit base.
# Invariants: approved -> executing happens once; an executing approval changes hands only after
# its lease has run out, and then to exactly one claimant; a spec that fails its digest check
# never reaches executing (it fails instead). Each claim's number is its fencing token (`fence`):
# INTENT refuses any worker whose token is no longer the current one.
CLAIM = (
    PRELUDE
    + """
local worker, now, base = ARGV[1], tonumber(ARGV[2]), ARGV[5]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found', ''} end
local holder = redis.call('HGET', KEYS[1], 'executor') or ''
local lapsed = state == 'executing'
  and now >= tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
if state ~= 'approved' and not lapsed then
  if state == 'executing' then return {'busy', holder} end
  return {'closed', state}
end
if ARGV[4] ~= '1' then
  move(KEYS[1], KEYS[2], base, now, 'failed', 'the stored spec no longer matches its digest')
  redis.call('ZREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
  return {'tampered', ''}
end
local lease_until = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'executor', worker, 'lease_until', lease_until)
local fence = redis.call('HINCRBY', KEYS[1], 'claims', 1)
redis.call('HSET', KEYS[1], 'fence', fence)
redis.call('ZADD', KEYS[3], lease_until, redis.call('HGET', KEYS[1], 'id'))
if state == 'approved' then
  move(KEYS[1], KEYS[2], base, now, 'executing', '')
  return {'claimed', '', fence}
end
redis.call('HSET', KEYS[1], 'resumed_at', now)
audit(KEYS[2], base, {event = 'state_changed', state = 'executing', previous_state = state,
                      reason = 'taken over from ' .. holder .. ' after its lease ran out'})
return {'taken_over', holder, fence}
"""
)

# KEYS: approval, to run. ARGV: worker, now, lease ms. Extends the lease of the worker holding
# it, while it still holds it (a lease that ran out is not revived: it may be taken over).
RENEW = """
if redis.call('HGET', KEYS[1], 'state') ~= 'executing'
   or redis.call('HGET', KEYS[1], 'executor') ~= ARGV[1]
   or tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') then
  return 0
end
local lease_until = tonumber(ARGV[2]) + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'lease_until', lease_until)
redis.call('ZADD', KEYS[2], lease_until, redis.call('HGET', KEYS[1], 'id'))
return 1
"""

# KEYS: approval, intents, outcomes, to run. ARGV: worker, fence, now, lease ms, intent JSON,
# then the target keys about to be sent to Microsoft in one call ('!key' for one this claim has
# just reconciled and found never sent).
# Invariants: only the current lease holder (executor and fencing token both current, lease not
# run out) writes intents, and writing them renews its lease; a target is marked to send ('send')
# only if it has neither an intent nor a settled outcome: one with an intent is answered
# 'reconcile' (it may have reached Microsoft), one with an outcome 'settled'. So no target is
# ever sent twice by two claims, and a worker that lost its lease sends nothing.
INTENT = """
if redis.call('HGET', KEYS[1], 'state') ~= 'executing'
   or redis.call('HGET', KEYS[1], 'executor') ~= ARGV[1]
   or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return {'fenced'}
end
local now = tonumber(ARGV[3])
if now >= tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') then return {'lapsed'} end
local lease_until = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'lease_until', lease_until)
redis.call('ZADD', KEYS[4], lease_until, redis.call('HGET', KEYS[1], 'id'))
local answers = {'ok'}
for i = 6, #ARGV do
  local key = ARGV[i]
  -- '!key': this claim reconciled the target and Microsoft holds nothing of ours: send it.
  local reconciled = string.sub(key, 1, 1) == '!'
  if reconciled then key = string.sub(key, 2) end
  local outcome = redis.call('HGET', KEYS[3], key)
  if outcome and cjson.decode(outcome).status ~= 'pending' then
    answers[#answers + 1] = 'settled'
  elseif not reconciled and redis.call('HEXISTS', KEYS[2], key) == 1 then
    answers[#answers + 1] = 'reconcile'
  else
    redis.call('HSET', KEYS[2], key, ARGV[5])
    answers[#answers + 1] = 'send'
  end
end
return answers
"""

# KEYS: approval, outcomes, intents, audit, to run. ARGV: id, user, now, audit base.
# Retry these: a finished approval whose targets include UNKNOWN outcomes goes back to approved
# with only those targets open again (their outcome and intent cleared), once per approval.
# Invariants: only done or failed approvals are retried, only once, and only the unknown targets
# are sent again; every other outcome stays as it was.
RETRY_UNKNOWN = (
    PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found', ''} end
if state ~= 'done' and state ~= 'failed' then return {'closed', state} end
local retried = redis.call('HGET', KEYS[1], 'retried_by')
if retried then return {'retried', retried} end
local all = redis.call('HGETALL', KEYS[2])
local unknown = {}
for i = 1, #all, 2 do
  if cjson.decode(all[i + 1]).status == 'unknown' then unknown[#unknown + 1] = all[i] end
end
if #unknown == 0 then return {'none', ''} end
for _, key in ipairs(unknown) do
  redis.call('HDEL', KEYS[2], key)
  redis.call('HDEL', KEYS[3], key)
end
redis.call('HSET', KEYS[1], 'retried_by', ARGV[2], 'retried_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'reason', 'finished_at')
move(KEYS[1], KEYS[4], ARGV[4], ARGV[3], 'approved',
     'retry of ' .. #unknown .. ' unknown target(s) by ' .. ARGV[2])
redis.call('HDEL', KEYS[1], 'reason')
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
return {'retrying', tostring(#unknown)}
"""
)

# KEYS: approval, audit, to run. ARGV: 'done'|'failed', worker ('' = any), now, reason, audit
# base. Invariant: only executing approvals finish, once, and (given a worker) only by the lease
# holder.
FINISH = (
    PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'executing' then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'executor') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'finished_at', ARGV[3])
redis.call('ZREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
move(KEYS[1], KEYS[2], ARGV[5], ARGV[3], ARGV[1], ARGV[4])
return 1
"""
)

# KEYS: approval, outcomes, audit. ARGV: target key, outcome JSON, status, detail, audit base.
# Invariants: outcomes are recorded only once execution has started; a final outcome is never
# overwritten, so a resumed or late worker cannot undo what is known.
RECORD = (
    PRELUDE
    + "local FINAL = {"
    + ", ".join(f"{status.value} = true" for status in sorted(FINAL_OUTCOMES))
    + "}"
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'executing' and state ~= 'done' and state ~= 'failed' then return 'closed' end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  if existing == ARGV[2] then return 'unchanged' end
  if FINAL[cjson.decode(existing).status] then return 'final' end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
audit(KEYS[3], ARGV[5], {event = 'outcome', target = ARGV[1], status = ARGV[3],
                         detail = ARGV[4]})
return 'stored'
"""
)

# KEYS: approval, expiring, audit, to run. ARGV: id, user, now, reason, audit base, '1' when
# only a pending approval may be cancelled (a request withdrawn from its card or thread).
# Invariant: only pending or approved approvals are cancelled, in one step; an approval a worker
# has claimed is past cancelling.
CANCEL = (
    PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found', ''} end
if expire_if_due(KEYS[1], KEYS[2], KEYS[3], ARGV[5], ARGV[3], ARGV[1]) then state = 'expired' end
if state ~= 'pending' and (state ~= 'approved' or ARGV[6] == '1') then
  audit(KEYS[3], ARGV[5], {event = 'refused', reason = 'cancel: the approval is ' .. state})
  return {'closed', state}
end
redis.call('HSET', KEYS[1], 'decided_by', ARGV[2])
move(KEYS[1], KEYS[3], ARGV[5], ARGV[3], 'cancelled', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return {'cancelled', state}
"""
)

# KEYS: approval, expiring, audit. ARGV: id, now, audit base. Expires one approval if due and
# drops ids that are no longer pending from the sweep.
EXPIRE = (
    PRELUDE
    + """
if expire_if_due(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[2], ARGV[1]) then return 1 end
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 0
"""
)

# KEYS: approval, audit. ARGV: now ms, the share of the expiry after which to remind (0-1),
# audit base. Invariant: an approval is reminded of at most once, only while pending, only once
# that share of its time has passed and before it expires: answered 1 to exactly one caller,
# however many workers' housekeeping asks at once.
REMIND = (
    PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'reminded_at') == 1 then return 0 end
local now = tonumber(ARGV[1])
local created = tonumber(redis.call('HGET', KEYS[1], 'created_at'))
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at'))
if now >= expires or now < created + (expires - created) * tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'reminded_at', now)
audit(KEYS[2], ARGV[3], {event = 'reminded', state = 'pending'})
return 1
"""
)

# KEYS: approval. ARGV: the undo request it is expected to name now ('' for none), the new one.
# Compare and set, so two presses of an Undo button ask for one undo: the second sees the first.
UNDO_MARK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', ''} end
local current = redis.call('HGET', KEYS[1], 'undo_id') or ''
if current ~= ARGV[1] then return {'asked', current} end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'undo_id')
else redis.call('HSET', KEYS[1], 'undo_id', ARGV[2]) end
return {'ok', ''}
"""
