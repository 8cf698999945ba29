-- wrk script for bench/run: one API scenario per wrk run, chosen by environment variables.
--   BENCH_SCENARIO  create | get | list | stats | toggle | update | hello | pg_floor | mcp_get | mcp_list
--                   (hello, pg_floor: the fixture component; pg_floor posts BENCH_BODY to ?op=pg)
--                   (mcp_*: the same read as a tool call on POST /mcp, protocol 2026-07-28)
--   BENCH_PATH      path prefix, e.g. /api/bench-u (the user's routes)
--   BENCH_TOKEN     bearer token (empty: no Authorization header)
--   BENCH_TOKENS    file with one bearer token per line: each request takes the next one (the
--                   threads take turns, so no token is sent twice until the file is used up)
--   BENCH_IDS       file with one task id per line (get, toggle, update rotate over them)
--   BENCH_OUT       file the summary JSON is written to (done())
-- Each thread draws ids at random (seeded per thread), so concurrent toggles and updates
-- rarely hit the same row.
local scenario = os.getenv("BENCH_SCENARIO")
local prefix = os.getenv("BENCH_PATH") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local tokens_file = os.getenv("BENCH_TOKENS")
local ids_file = os.getenv("BENCH_IDS")
local out_file = os.getenv("BENCH_OUT")

local ids = {}
local tokens = {}
local counter = 0
local headers = { ["Content-Type"] = "application/json" }
if token ~= "" then headers["Authorization"] = "Bearer " .. token end

local threads = {}
local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
  table.insert(threads, thread)
end

local nthreads = 1

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  if ids_file and ids_file ~= "" then
    for line in io.lines(ids_file) do
      if line ~= "" then table.insert(ids, line) end
    end
  end
  if tokens_file and tokens_file ~= "" then
    for line in io.lines(tokens_file) do
      if line ~= "" then table.insert(tokens, line) end
    end
    nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  end
end

-- Thread t (1-based) of n sends tokens t, t + n, t + 2n, ...
local function next_token()
  local i = ((counter - 1) * nthreads + (tid or 1) - 1) % #tokens + 1
  return tokens[i]
end

local function pick()
  return ids[math.random(#ids)]
end

-- A 2026-07-28 tools/call: the _meta envelope in the body and the mirrored headers.
local function mcp_call(tool, arguments)
  local h = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2026-07-28",
    ["Mcp-Method"] = "tools/call",
    ["Mcp-Name"] = tool,
  }
  if token ~= "" then h["Authorization"] = "Bearer " .. token end
  local body = string.format(
    '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":%s,' ..
    '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}',
    counter, tool, arguments)
  return wrk.format("POST", "/mcp", h, body)
end

function request()
  counter = counter + 1
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. next_token() end
  if scenario == "create" then
    local body = string.format(
      '{"title":"Bench created %d-%d","priority":"medium","category":"work","tags":["bench"],"dueDate":"2030-01-01T00:00:00Z"}',
      tid or 0, counter)
    return wrk.format("POST", prefix .. "/tasks", headers, body)
  elseif scenario == "get" then
    return wrk.format("GET", prefix .. "/tasks/" .. pick(), headers)
  elseif scenario == "list" then
    return wrk.format("GET", prefix .. "/tasks", headers)
  elseif scenario == "stats" then
    return wrk.format("GET", prefix .. "/stats", headers)
  elseif scenario == "toggle" then
    return wrk.format("PATCH", prefix .. "/tasks/" .. pick() .. "/complete", headers)
  elseif scenario == "update" then
    local body = string.format('{"title":"Bench updated %d-%d-%d"}', tid or 0, counter, math.random(1000000))
    return wrk.format("PUT", prefix .. "/tasks/" .. pick(), headers, body)
  elseif scenario == "mcp_get" then
    return mcp_call("get_task", '{"task_id":"' .. pick() .. '"}')
  elseif scenario == "mcp_list" then
    return mcp_call("list_tasks", "{}")
  elseif scenario == "hello" then
    return wrk.format("GET", prefix .. "/?op=hello")
  elseif scenario == "pg_floor" then
    return wrk.format("POST", prefix .. "/?op=pg", headers, os.getenv("BENCH_BODY"))
  end
  error("unknown BENCH_SCENARIO " .. tostring(scenario))
end

function done(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open(out_file, "w"))
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,"lat_mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  f:close()
end
