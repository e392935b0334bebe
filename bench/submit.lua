-- wrk script: POST submit-threat with a random point near a Polish city, a random
-- category, and a distinct client address (an IPv6 /64) per request (the service must trust
-- X-Forwarded-For: KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For), so the daily
-- limit does not apply. Counts the answers per status for the no-loss check.
local cities = {
  {21.012, 52.230}, {19.945, 50.065}, {17.038, 51.108}, {16.925, 52.406},
  {18.646, 54.352}, {19.457, 51.759}, {14.552, 53.428}, {22.568, 51.246},
}
local categories = {
  "vandalism", "illegal_dumping", "illegal_parking", "speeding", "public_drinking",
  "stray_dogs", "poor_road_infrastructure", "destruction_of_greenery",
}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  ok, rejected, failed, n = 0, 0, 0, 0
  math.randomseed(os.time() * 1000 + id)
end

function request()
  n = n + 1
  local c = cities[math.random(#cities)]
  local body = string.format(
    '{"inputs":{"lon":%.5f,"lat":%.5f,"category":"%s","description":"wrk %d-%d"}}',
    c[1] + (math.random() - 0.5) * 0.1, c[2] + (math.random() - 0.5) * 0.06,
    categories[math.random(#categories)], id, n)
  local headers = {
    ["Content-Type"] = "application/json",
    -- a random IPv6 /64 (what the daily limit keys on) out of 2^48 unique local
    -- prefixes: random IPv4 addresses (2^24) met the addresses of earlier runs of
    -- the day, and those answers were the daily limit's 429s
    ["X-Forwarded-For"] = string.format("fd%02x:%x:%x:%x::1", math.random(0, 255),
                                        math.random(0, 65535), math.random(0, 65535),
                                        math.random(0, 65535)),
  }
  return wrk.format("POST", "/processes/submit-threat/execution", headers, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 then rejected = rejected + 1
  else failed = failed + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_rejected, total_failed = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_rejected = total_rejected + thread:get("rejected")
    total_failed = total_failed + thread:get("failed")
  end
  io.write(string.format("accepted=%d rejected=%d failed=%d\n",
                         total_ok, total_rejected, total_failed))
end
