-- wrk script for bench/soak.py's first phase: the soak's request mix as fast as
-- wrk can send it, to measure the maximum the soak then runs at half of.
--
--   wrk -t2 -c8 -d20s --latency -s bench/soak.lua URL -- MIXFILE CONDITIONAL RUNID
--
-- MIXFILE (written by bench/soak.py) has one line per request:
--   weight <TAB> kind <TAB> path <TAB> etag-or-dash
-- kind "submit" is a POST of submit-threat with a random point near a Polish city and
-- its own X-Forwarded-For address (a random IPv6 /64, so the daily limit of one
-- report per reporter does not stop the load: the stack must trust the header,
-- KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For). Other kinds are GETs; a share
-- CONDITIONAL of them carries If-None-Match with the ETag soak.py saw (304 is a success).
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
  ok, not_modified, limited, failed, submitted, n = 0, 0, 0, 0, 0, 0
  conditional = tonumber(args[2]) or 0
  run = args[3] or "0"
  entries, total = {}, 0
  for line in io.lines(args[1]) do
    local weight, kind, path, etag = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if weight then
      total = total + tonumber(weight)
      table.insert(entries, {upto = total, kind = kind, path = path, etag = etag})
    end
  end
  math.randomseed(os.time() * 1000 + id)
end

local function submission()
  n = n + 1
  local c = cities[math.random(#cities)]
  local body = string.format(
    '{"inputs":{"lon":%.5f,"lat":%.5f,"category":"%s","description":"soakmax %s %d-%d"}}',
    c[1] + (math.random() - 0.5) * 0.1, c[2] + (math.random() - 0.5) * 0.06,
    categories[math.random(#categories)], run, id, n)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = string.format("fd%02x:%04x:%04x:%04x::1", math.random(0, 255),
                                        math.random(0, 65535), math.random(0, 65535),
                                        math.random(0, 65535)),
  }
  return wrk.format("POST", "/processes/submit-threat/execution", headers, body)
end

function request()
  local pick = math.random() * total
  local entry = entries[#entries]
  for _, e in ipairs(entries) do
    if pick < e.upto then entry = e; break end
  end
  if entry.kind == "submit" then return submission() end
  local headers = {}
  if entry.etag ~= "-" and math.random() < conditional then
    headers["If-None-Match"] = entry.etag
  end
  return wrk.format("GET", entry.path, headers)
end

function response(status, headers, body)
  if status == 304 then not_modified = not_modified + 1
  elseif status >= 200 and status < 300 then
    ok = ok + 1
    if body and body:find('"reference"', 1, true) and body:find('"status_url"', 1, true) then
      submitted = submitted + 1
    end
  elseif status == 429 then limited = limited + 1
  else failed = failed + 1 end
end

function done(summary, latency, requests)
  local sums = {ok = 0, not_modified = 0, limited = 0, failed = 0, submitted = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(sums) do sums[name] = sums[name] + thread:get(name) end
  end
  io.write(string.format(
    "soak-counts ok=%d not_modified=%d limited=%d failed=%d submitted=%d errors=%d\n",
    sums.ok, sums.not_modified, sums.limited, sums.failed, sums.submitted,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  -- seconds (wrk counts microseconds)
  io.write(string.format("soak-latency p50=%.6f p99=%.6f\n",
                         latency:percentile(50) / 1e6, latency:percentile(99) / 1e6))
end
