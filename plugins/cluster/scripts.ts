/**
 * The cluster's Lua scripts: each is one atomic step on Redis, so what every relay sees
 * (msg_id order, the member lists, who holds an agent) never tears between two commands.
 */

/**
 * A channel MSG: the next msg_id of the channel (the history store's last-seq field, so
 * resume reads the same counter), the message kept in the channel's history log (the
 * Redis store's member format `<seq>|<at>|<JSON>`), bounded in count, and published to the
 * channel's topic. Redis runs one script at a time: publish order is msg_id order.
 * KEYS: last-seq hash, history log. ARGV: channel, body (the MSG without msg_id), topic, now, keep.
 */
export const PUBLISH_MSG = `
local id = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local text = '{"msg_id":' .. id .. ',' .. string.sub(ARGV[2], 2)
redis.call('ZADD', KEYS[2], id, id .. '|' .. ARGV[4] .. '|' .. cjson.encode(text))
local keep = tonumber(ARGV[5])
if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -keep - 1) end
redis.call('PUBLISH', ARGV[3], 'M' .. id .. ' ' .. text)
return id`;

/**
 * Presence: the channel's member hash (agent -> relay) and this relay's set of channels
 * are updated, then the frame is published. A leave removes an agent only if this relay
 * holds it there (a newer session elsewhere keeps its place).
 * KEYS: member hash, the relay's channel set. ARGV: relay id, 'j' or 'l', topic, message, channel, agents...
 */
export const PRESENCE = `
for i = 6, #ARGV do
  if ARGV[2] == 'j' then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
  elseif redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
if ARGV[2] == 'j' then redis.call('SADD', KEYS[2], ARGV[5]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

/**
 * Text for an agent: published to the inbox of the relay that holds it. Returns how many
 * relays took it (0: no relay holds the agent, or that relay is gone).
 * KEYS: agent locations. ARGV: agent id, inbox prefix, message.
 */
export const FORWARD = `
local relay = redis.call('HGET', KEYS[1], ARGV[1])
if not relay then return 0 end
return redis.call('PUBLISH', ARGV[2] .. relay, ARGV[3])`;

/** Forget where an agent is, if this relay still holds it. KEYS: locations. ARGV: agent id, relay id. */
export const RELEASE = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`;
